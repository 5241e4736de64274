using System.Collections.Immutable;

namespace DistTrain.State;

/// <summary>
/// One point of a job's per-step curve: what rank 0 reported at one moment, or the weighted mean of several such
/// reports once old points were merged (<see cref="Count"/> of them).
/// </summary>
/// <param name="Seq">Increases by one with every report, so that a viewer asks only for what it has not seen.</param>
/// <param name="SamplesPerSecond">The job's throughput over the steps since the previous report (0: not measured).</param>
/// <param name="StepSeconds">The mean wall time of those steps on rank 0, of which <paramref name="AllreduceSeconds"/> was spent in
/// gradient allreduces (0: not measured).</param>
[GenerateSerializer, Immutable]
public sealed record StepPoint(
    [property: Id(0)] long Seq,
    [property: Id(1)] long TimeUnixMs,
    [property: Id(2)] int Epoch,
    [property: Id(3)] int Step,
    [property: Id(4)] double Loss,
    [property: Id(5)] double SamplesPerSecond,
    [property: Id(6)] double StepSeconds,
    [property: Id(7)] double AllreduceSeconds,
    [property: Id(8)] int Count = 1);

/// <summary>
/// A job's per-step curve, kept by its grain for the live page, bounded to <see cref="MaxPoints"/>: when a report would
/// go past it, the older half is merged pairwise. Repeated merges leave the newest points at full resolution and older
/// ones coarser with their age, as a long run's plot wants, in constant space.
/// </summary>
/// <param name="Merges">How many times points were merged: a viewer holding points from before a merge must take the whole series again.</param>
[GenerateSerializer, Immutable]
public sealed record StepSeries(
    [property: Id(0)] ImmutableList<StepPoint> Points,
    [property: Id(1)] long LastSeq,
    [property: Id(2)] int Merges)
{
    /// <summary>At 4 reports a second, about 8 minutes at full resolution; at most a few hundred KB of JSON.</summary>
    public const int MaxPoints = 2000;

    public static readonly StepSeries Empty = new([], 0, 0);

    /// <summary>The series with one more report, merged down if it went past <paramref name="maxPoints"/>.</summary>
    public StepSeries Add(long timeUnixMs, int epoch, int step, double loss, double samplesPerSecond, double stepSeconds, double allreduceSeconds,
        int maxPoints = MaxPoints)
    {
        long seq = LastSeq + 1;
        var points = Points.Add(new StepPoint(seq, timeUnixMs, epoch, step, loss, samplesPerSecond, stepSeconds, allreduceSeconds));
        if (points.Count <= maxPoints) return new StepSeries(points, seq, Merges);
        return new StepSeries(MergeOlderHalf(points), seq, Merges + 1);
    }

    /// <summary>The points after <paramref name="seq"/>.</summary>
    public IEnumerable<StepPoint> After(long seq) => Points.Reverse().TakeWhile(p => p.Seq > seq).Reverse();

    // [p0 p1 p2 p3 | p4 ...] → [m(p0,p1) m(p2,p3) | p4 ...]: the older half in pairs (an odd one out stays), the newer untouched.
    private static ImmutableList<StepPoint> MergeOlderHalf(ImmutableList<StepPoint> points)
    {
        int half = points.Count / 2;
        var merged = ImmutableList.CreateBuilder<StepPoint>();
        int i = 0;
        for (; i + 1 < half; i += 2) merged.Add(Merge(points[i], points[i + 1]));
        for (; i < points.Count; i++) merged.Add(points[i]);
        return merged.ToImmutable();
    }

    // The weighted mean of two neighbours; a figure one of them lacks is taken from the other alone. A point lacks a
    // throughput or step time it reported as 0 (not measured), and its allreduce time with its step time: 0 s of
    // allreduce in a measured step (one worker) is a figure. The merged point keeps the later one's seq, epoch and step,
    // so that seq stays increasing.
    private static StepPoint Merge(StepPoint a, StepPoint b)
    {
        bool timedA = Measured(a.StepSeconds), timedB = Measured(b.StepSeconds);
        return new StepPoint(b.Seq, (long)Mean(a.TimeUnixMs, a.Count, true, b.TimeUnixMs, b.Count, true), b.Epoch, b.Step,
            Mean(a.Loss, a.Count, double.IsFinite(a.Loss), b.Loss, b.Count, double.IsFinite(b.Loss)),
            Mean(a.SamplesPerSecond, a.Count, Measured(a.SamplesPerSecond), b.SamplesPerSecond, b.Count, Measured(b.SamplesPerSecond)),
            Mean(a.StepSeconds, a.Count, timedA, b.StepSeconds, b.Count, timedB),
            Mean(a.AllreduceSeconds, a.Count, timedA, b.AllreduceSeconds, b.Count, timedB),
            a.Count + b.Count);
    }

    private static bool Measured(double x) => double.IsFinite(x) && x > 0;

    private static double Mean(double x, int nx, bool hasX, double y, int ny, bool hasY) =>
        hasX && hasY ? (x * nx + y * ny) / (nx + ny) : hasX ? x : y;
}
