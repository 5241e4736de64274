using DistTrain.Engine.Kernels;
using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Parsing;
using DistTrain.Data;
using DistTrain.Engine.Spec;

namespace DistTrain.Cli;

/// <summary>
/// Parses and runs a command so that every failure the user can cause ends as one line on stderr and a non-zero
/// exit code, never a stack trace: 2 for bad arguments, 1 for input that cannot be used (files, specs, data).
/// </summary>
public static class CliRunner
{
    /// <summary>How long a command may take to wind down after SIGINT or SIGTERM before the process exits regardless.</summary>
    public static readonly TimeSpan ShutdownGrace = TimeSpan.FromSeconds(8);

    /// <summary>Environment variable that sets the engine's vector width (scalar, 128, 256 or 512), e.g. to measure a narrower one.</summary>
    public const string SimdVariable = "DISTTRAIN_SIMD";

    public static int Invoke(RootCommand root, string[] args)
    {
        ShowHelpWhereASubcommandIsMissing(root);
        if (Environment.GetEnvironmentVariable(SimdVariable) is { Length: > 0 } simd)
        {
            // Every process of a job reads it, workers started by `local` too, so one setting covers a whole run.
            try { Simd.Use(Simd.Parse(simd)); }
            catch (Exception e) when (e is ArgumentException or PlatformNotSupportedException)
            {
                Console.Error.WriteLine($"disttrain: {SimdVariable}: {e.Message}");
                return 2;
            }
        }
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            Console.Error.WriteLine($"disttrain: {string.Join("; ", parse.Errors.Select(e => e.Message))} (see '{CommandLine(parse.CommandResult)} --help')");
            return 2;
        }
        try
        {
            // SIGINT and SIGTERM cancel the command's token; a command that has not ended ShutdownGrace later is left
            // behind (exit 130 or 143), so `kill -TERM` always ends the process.
            // A synchronous command cannot see the token, so a signal ends it at once (its children go with it; see LocalCluster).
            var stop = ProcessSignals.Listen(parse.Action is System.CommandLine.Invocation.AsynchronousCommandLineAction ? ShutdownGrace : TimeSpan.Zero);
            return parse.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null }, stop)
                .GetAwaiter().GetResult();
        }
        catch (Exception e) when (ProcessSignals.Received is not null || e is OperationCanceledException)
        {
            // After SIGTERM, whatever the command was doing ends the same way: a peer's broken ring link, a cancelled call.
            Console.Error.WriteLine($"disttrain: stopped: {ProcessSignals.Reason}");
            return ProcessSignals.ExitCode;
        }
        catch (Exception e) when (e is SpecException or DataException or InvalidDataException or ArgumentException or IOException or UnauthorizedAccessException
            or InvalidOperationException or Collectives.CollectiveException)
        {
            Console.Error.WriteLine($"disttrain: {e.Message}");
            return 1;
        }
        catch (Grpc.Core.RpcException e)
        {
            Console.Error.WriteLine($"disttrain: {e.Status.StatusCode}: {e.Status.Detail}");
            return 1;
        }
        catch (Exception e) when (Environment.GetEnvironmentVariable("DISTTRAIN_DEBUG") is null)
        {
            Console.Error.WriteLine($"disttrain: internal error: {e.Message} (set DISTTRAIN_DEBUG=1 for the stack trace)");
            return 1;
        }
    }

    /// <summary>The full command a parse ended in, e.g. "disttrain data fetch", as the user would type it for --help.</summary>
    public static string CommandLine(CommandResult result)
    {
        var names = new List<string>();
        for (SymbolResult? r = result; r is CommandResult c; r = c.Parent)
            names.Add(c.Parent is null ? "disttrain" : c.Command.Name);
        names.Reverse();
        return string.Join(' ', names);
    }

    // A group such as `disttrain` or `disttrain bench` does nothing by itself: given no subcommand it shows its help
    // (exit 0), as git and dotnet do, instead of an error that a subcommand is required.
    private static void ShowHelpWhereASubcommandIsMissing(Command command)
    {
        if (command.Subcommands.Count > 0 && command.Action is null) command.SetAction(p => new HelpAction().Invoke(p));
        foreach (var sub in command.Subcommands) ShowHelpWhereASubcommandIsMissing(sub);
    }
}
