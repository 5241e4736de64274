using System.Diagnostics;

namespace DistTrain.Worker;

/// <summary>
/// What this worker trained per second between two reads: training steps add their samples (from the training thread),
/// and each heartbeat reads the rate since the one before, for the coordinator's workers page.
/// </summary>
public sealed class SampleRate
{
    private long _samples;
    private long _readSamples;
    private long _readAt = Stopwatch.GetTimestamp();

    public void Add(int samples) => Interlocked.Add(ref _samples, samples);

    /// <summary>Samples per second since the previous read (one reader: the heartbeat loop).</summary>
    public double Read()
    {
        long total = Interlocked.Read(ref _samples);
        double seconds = Stopwatch.GetElapsedTime(_readAt).TotalSeconds;
        double rate = seconds > 0 ? (total - _readSamples) / seconds : 0;
        _readSamples = total;
        _readAt = Stopwatch.GetTimestamp();
        return rate;
    }
}
