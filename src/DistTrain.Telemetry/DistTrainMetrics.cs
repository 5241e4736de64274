using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace DistTrain.Telemetry;

/// <summary>
/// Every DistTrain metric, on one <see cref="Meter"/> named "DistTrain". Prometheus shows the names with dots as
/// underscores, the unit appended, and counters ending in _total (disttrain.samples → disttrain_samples_total).
/// Labels stay low-cardinality: job_id, rank and split, never a step or a sample. The job's label is job_id, not job:
/// Prometheus gives every scraped series a job label of its own (the scrape job's name), and would rename ours to
/// exported_job, so that dashboards grouping by job saw one job where several ran.
/// <list type="bullet">
/// <item>Workers: samples, step duration, allreduce duration, allreduce bytes (labels job_id, rank).</item>
/// <item>Coordinator: loss and accuracy (job_id, split = train|test), epoch, world size (job_id), worker failures (job_id).</item>
/// </list>
/// Units follow UCUM as OpenTelemetry asks: "s", "By", and annotations in braces ("{sample}"), which the Prometheus
/// exporter leaves out of the name.
/// </summary>
public static class DistTrainMetrics
{
    public const string MeterName = "DistTrain";

    private static readonly Meter Meter = new(MeterName, "1.0");

    // Step times on these models run from about a millisecond (an MLP step) to a few seconds (a large LSTM batch).
    private static readonly double[] SecondsBuckets = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10];

    public static readonly Counter<long> Samples = Meter.CreateCounter<long>("disttrain.samples", unit: "{sample}", description: "Training samples processed by a rank");

    public static readonly Histogram<double> StepDuration = Meter.CreateHistogram("disttrain.step.duration", unit: "s",
        description: "Wall time of one training step on a rank (forward, backward, allreduce, optimizer)",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = SecondsBuckets });

    public static readonly Histogram<double> AllreduceDuration = Meter.CreateHistogram("disttrain.allreduce.duration", unit: "s",
        description: "Time a step spent in gradient allreduces (overlapping backward)",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = SecondsBuckets });

    public static readonly Counter<long> AllreduceBytes = Meter.CreateCounter<long>("disttrain.allreduce.bytes", unit: "By",
        description: "Bytes a rank sent in gradient allreduces (2(N-1)/N of each buffer), so bytes/seconds is bus bandwidth");

    public static readonly Gauge<double> Loss = Meter.CreateGauge<double>("disttrain.loss", description: "Latest loss of a job, by split");

    public static readonly Gauge<double> Accuracy = Meter.CreateGauge<double>("disttrain.accuracy", description: "Latest accuracy of a job, by split");

    public static readonly Gauge<int> Epoch = Meter.CreateGauge<int>("disttrain.epoch", description: "The epoch a job is in (from 1)");

    public static readonly Gauge<int> WorldSize = Meter.CreateGauge<int>("disttrain.world_size", description: "Workers training a job");

    public static readonly Counter<long> WorkerFailures = Meter.CreateCounter<long>("disttrain.worker.failures",
        description: "Worker failures that ended a job");

    /// <summary>Exported as disttrain_membership_changes_total.</summary>
    public static readonly Counter<long> SkippedSteps = Meter.CreateCounter<long>("disttrain.skipped_steps",
        description: "Steps a job skipped on every rank because their reduced gradient held NaN or Inf");

    public static readonly Counter<long> MembershipChanges = Meter.CreateCounter<long>("disttrain.membership.changes",
        description: "Changes of a running job's worker set (a member lost, a worker joined) after which it trained on");

    /// <summary>Exported as disttrain_recovery_seconds.</summary>
    public static readonly Histogram<double> Recovery = Meter.CreateHistogram("disttrain.recovery", unit: "s",
        description: "From a membership change's cause (a broken ring, a join) to the first step committed by the new worker set",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 30, 60] });

    public static readonly Histogram<double> CheckpointPause = Meter.CreateHistogram("disttrain.checkpoint.pause", unit: "s",
        description: "Time training stood still for a checkpoint: the copy of rank 0's buffers",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1] });

    public static readonly Histogram<double> CheckpointUpload = Meter.CreateHistogram("disttrain.checkpoint.upload", unit: "s",
        description: "Time to write a checkpoint's file and upload it to the coordinator, in the background of training",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = SecondsBuckets });

    /// <summary>The label that names a job.</summary>
    public const string JobLabel = "job_id";

    public static TagList JobRank(string job, int rank) => new() { { JobLabel, job }, { "rank", rank } };

    public static TagList JobSplit(string job, string split) => new() { { JobLabel, job }, { "split", split } };

    public static TagList Job(string job) => new() { { JobLabel, job } };
}
