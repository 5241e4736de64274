namespace DistTrain.Worker;

/// <summary>
/// Faults a test (or a user rehearsing a failure) can ask a worker process for through its environment, so that the
/// real code path runs in a real process. <see cref="NaNVariable"/> = "STEP" or "STEP:RANK" puts a NaN into one input of
/// that global step (counted from 0 over the whole job) on that rank (default 0): its loss and gradient turn NaN, and
/// after the allreduce so does every rank's.
/// </summary>
public static class FaultInjection
{
    public const string NaNVariable = "DISTTRAIN_FAULT_NAN_STEP";

    private static (long Step, int Rank)? _nan;

    /// <summary>Reads the environment; a worker calls it at start-up, so that a malformed value is an error there, by name.</summary>
    public static void Read() => _nan = Parse(Environment.GetEnvironmentVariable(NaNVariable));

    public static bool PoisonsStep(long globalStep, int rank) => _nan is { } f && f.Step == globalStep && f.Rank == rank;

    private static (long, int)? Parse(string? value)
    {
        if (string.IsNullOrWhiteSpace(value)) return null;
        var parts = value.Split(':');
        return long.TryParse(parts[0], out long step) && (parts.Length == 1 || int.TryParse(parts[1], out _))
            ? (step, parts.Length == 1 ? 0 : int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture))
            : throw new ArgumentException($"{NaNVariable} must be STEP or STEP:RANK, got '{value}'");
    }
}
