using System.Runtime.InteropServices;

namespace DistTrain.Cli;

/// <summary>
/// SIGTERM and SIGINT for the whole process, in one place. The first one cancels the token every command runs
/// with, records which signal it was (a stopping worker tells the coordinator why; the exit code says it: 130 for
/// SIGINT, 143 for SIGTERM, as shells report them), and starts a watchdog that ends the process if the command has
/// not wound down within the grace period, so that `kill -TERM` always ends it. Also sends signals to other
/// processes (children of `disttrain local`, and the tests' processes).
/// </summary>
/// <remarks>
/// System.CommandLine's own termination handling is not used: its handler blocks the runtime's signal thread until
/// the command ends, so no other handler could see the signal while the command winds down.
/// </remarks>
public static class ProcessSignals
{
    private static readonly CancellationTokenSource s_stop = new();
    private static PosixSignalRegistration? s_term, s_int;
    private static TimeSpan s_grace;

    /// <summary>"SIGTERM" or "SIGINT" once one has arrived, else null.</summary>
    public static string? Received { get; private set; }

    /// <summary>Starts listening; returns the token that the first signal cancels.</summary>
    public static CancellationToken Listen(TimeSpan grace)
    {
        s_grace = grace;
        s_term ??= PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => OnSignal(c, "SIGTERM"));
        s_int ??= PosixSignalRegistration.Create(PosixSignal.SIGINT, c => OnSignal(c, "SIGINT"));
        return s_stop.Token;
    }

    private static void OnSignal(PosixSignalContext context, string name)
    {
        context.Cancel = true; // the command stops itself, within the grace period
        lock (s_stop)
        {
            if (Received is not null) return;
            Received = name;
        }
        // The watchdog first; then the cancellation, off the runtime's signal thread, since the callbacks it runs (a
        // command unwinding, local stopping its children) may take seconds.
        _ = Task.Delay(s_grace).ContinueWith(_ =>
        {
            Console.Error.WriteLine(s_grace > TimeSpan.Zero ? $"disttrain: still running {s_grace.TotalSeconds:0} s after {name}; exiting"
                : $"disttrain: stopped: {Reason}");
            Environment.Exit(ExitCode);
        }, TaskScheduler.Default);
        _ = Task.Run(s_stop.Cancel);
    }

    /// <summary>The exit code for a run that a signal stopped.</summary>
    public static int ExitCode => Received == "SIGTERM" ? 143 : 130;

    /// <summary>Why this process stopped, for messages: "it received SIGTERM".</summary>
    public static string Reason => Received is { } s ? $"it received {s}" : "it was asked to stop";

    public const int SIGTERM = 15;
    public const int SIGKILL = 9;
    public const int SIGSTOP = 19;
    public const int SIGCONT = 18;

    /// <summary>Sends <paramref name="signal"/> to process <paramref name="pid"/>; false if it is gone.</summary>
    public static bool Send(int pid, int signal) => Kill(pid, signal) == 0;

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}
