using DistTrain.State;

namespace DistTrain.Coordinator.Tests;

/// <summary>The job's per-step curve stays bounded, keeps its newest points whole, and merges old ones by weight.</summary>
public class StepSeriesTests
{
    private static StepSeries Fill(int reports, int max)
    {
        var s = StepSeries.Empty;
        for (int i = 1; i <= reports; i++) s = s.Add(i * 1000, 1, i, loss: i, samplesPerSecond: 100, stepSeconds: 0.1, allreduceSeconds: 0.02, maxPoints: max);
        return s;
    }

    [Fact]
    public void A_long_run_stays_within_the_bound_with_its_newest_points_whole_and_every_report_counted()
    {
        var s = Fill(10_000, 100);
        Assert.InRange(s.Points.Count, 50, 100);
        Assert.Equal(10_000, s.LastSeq);
        Assert.Equal(10_000, s.Points.Sum(p => p.Count)); // nothing lost, nothing counted twice
        Assert.True(s.Merges > 50);
        Assert.Equal(10_000, s.Points[^1].Seq);
        Assert.Equal(1, s.Points[^1].Count); // the newest at full resolution
        Assert.True(s.Points[0].Count > s.Points[^10].Count, "older points are coarser");
        Assert.True(s.Points.Zip(s.Points.Skip(1)).All(p => p.First.Seq < p.Second.Seq && p.First.TimeUnixMs < p.Second.TimeUnixMs));
    }

    [Fact]
    public void Merged_points_are_weighted_means_and_a_missing_figure_is_not_a_zero()
    {
        var s = StepSeries.Empty
            .Add(1000, 1, 1, loss: 1, samplesPerSecond: 0, stepSeconds: 0, allreduceSeconds: 0, maxPoints: 3)
            .Add(2000, 1, 2, loss: 3, samplesPerSecond: 200, stepSeconds: 0.2, allreduceSeconds: 0.1, maxPoints: 3)
            .Add(3000, 1, 3, loss: 5, samplesPerSecond: 400, stepSeconds: 0.4, allreduceSeconds: 0.1, maxPoints: 3)
            .Add(4000, 1, 4, loss: 7, samplesPerSecond: 600, stepSeconds: 0.6, allreduceSeconds: 0.1, maxPoints: 3);
        // Four points over a bound of three: the older half (the first two) merged into one.
        Assert.Equal(3, s.Points.Count);
        Assert.Equal(1, s.Merges);
        var merged = s.Points[0];
        Assert.Equal((2L, 2, 2, 1500L), (merged.Seq, merged.Step, merged.Count, merged.TimeUnixMs));
        Assert.Equal(2, merged.Loss, 12);
        Assert.Equal(200, merged.SamplesPerSecond, 12); // the first report had no throughput: not averaged in as 0
        Assert.Equal(0.2, merged.StepSeconds, 12);
        Assert.Equal([3L, 4L], s.After(2).Select(p => p.Seq));
        Assert.Empty(s.After(4));
    }
}
