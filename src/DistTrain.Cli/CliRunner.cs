using System.CommandLine;
using DistTrain.Data;
using DistTrain.Engine.Spec;

namespace DistTrain.Cli;

/// <summary>
/// Parses and runs a command so that every failure the user can cause ends as one line on stderr and a non-zero
/// exit code, never a stack trace: 2 for bad arguments, 1 for input that cannot be used (files, specs, data).
/// </summary>
public static class CliRunner
{
    public static int Invoke(RootCommand root, string[] args)
    {
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            string command = parse.CommandResult.Command == root ? "disttrain" : $"disttrain {parse.CommandResult.Command.Name}";
            Console.Error.WriteLine($"disttrain: {string.Join("; ", parse.Errors.Select(e => e.Message))} (see '{command} --help')");
            return 2;
        }
        try
        {
            return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
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
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("disttrain: interrupted");
            return 130;
        }
        catch (Exception e) when (Environment.GetEnvironmentVariable("DISTTRAIN_DEBUG") is null)
        {
            Console.Error.WriteLine($"disttrain: internal error: {e.Message} (set DISTTRAIN_DEBUG=1 for the stack trace)");
            return 1;
        }
    }
}
