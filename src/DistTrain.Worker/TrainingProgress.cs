using DistTrain.Engine.Model;

namespace DistTrain.Worker;

/// <summary>
/// Where a job's training stands, identical on every replica: the epoch and the steps of it committed, the epoch's
/// running sums over all ranks (loss, samples, correct, judged), the samples found missing or repeated, and the last
/// finished epoch's results. Every figure comes out of a collective that hands every rank the same bits, so replicas
/// agree without comparing; a replica that joined, or fell one step behind when a failure struck mid-collective,
/// receives it with the parameters (<see cref="ReplicaState"/>).
/// </summary>
public sealed class TrainingProgress
{
    /// <summary>The epoch in progress, from 0; the plan's epoch count once training is over.</summary>
    public int Epoch { get; set; }

    /// <summary>Steps (global batches) of <see cref="Epoch"/> committed: applied on every replica.</summary>
    public int Step { get; set; }

    public double LossSum { get; set; }
    public double Samples { get; set; }
    public double Correct { get; set; }
    public double Judged { get; set; }

    /// <summary>This epoch's samples that no rank trained on, and those trained on twice, counted from what the ranks reported per step.</summary>
    public double LostSamples { get; set; }
    public double DuplicatedSamples { get; set; }

    /// <summary>Steps of the whole job skipped because their reduced gradient held NaN or Inf (the same count on every replica).</summary>
    public long SkippedSteps { get; set; }

    /// <summary>When the epoch started, Unix ms (a rank that joins mid-epoch times it from the same start).</summary>
    public double EpochStartUnixMs { get; set; }

    /// <summary>The finished epochs, oldest first: a checkpoint's history, whichever replica writes it.</summary>
    public List<EpochResult> History { get; } = [];

    /// <summary>The last finished epoch, so that whichever rank 0 a re-formed ring has can report it again if it was lost.</summary>
    public EpochResult? LastEpoch => History.Count > 0 ? History[^1] : null;

    /// <summary>A total order on positions: evaluation of an epoch (Step = steps) comes after its last step, before the next epoch.</summary>
    public long Position(int stepsPerEpoch) => (long)Epoch * (stepsPerEpoch + 1) + Step;

    /// <summary>Adds one committed step's sums (over all ranks) and checks its samples against the global batch.</summary>
    /// <param name="sums">[samples, loss·samples, correct, judged, sample-index checksum], summed over ranks.</param>
    public void Commit(ReadOnlySpan<float> sums, int globalBatch, int expectedChecksum)
    {
        Samples += sums[0];
        LossSum += sums[1];
        Correct += sums[2];
        Judged += sums[3];
        long counted = (long)sums[0];
        if (counted < globalBatch) LostSamples += globalBatch - counted;
        else if (counted > globalBatch) DuplicatedSamples += counted - globalBatch;
        else if ((long)sums[4] % StepChecksum.Modulus != expectedChecksum)
        {
            // The right number of samples, but not the right ones: one slice was repeated in place of another.
            LostSamples += 1;
            DuplicatedSamples += 1;
        }
        Step++;
    }

    /// <summary>Closes the epoch with its results and starts the next.</summary>
    public void FinishEpoch(EpochResult result, double nowUnixMs)
    {
        History.Add(result);
        Epoch++;
        Step = 0;
        LossSum = Samples = Correct = Judged = LostSamples = DuplicatedSamples = 0;
        EpochStartUnixMs = nowUnixMs;
    }

    private const int Scalars = 12, PerEpoch = 10;

    /// <summary>Doubles in <see cref="WriteTo"/>'s layout for a plan of <paramref name="epochs"/> epochs.</summary>
    public static int Length(int epochs) => Scalars + PerEpoch * epochs;

    /// <summary>Writes the progress, its history and the optimizer's step count as doubles, for a state transfer.</summary>
    public void WriteTo(Span<double> d, long optimizerIterations)
    {
        d.Clear();
        (d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10]) =
            (Epoch, Step, LossSum, Samples, Correct, Judged, LostSamples, DuplicatedSamples, EpochStartUnixMs, optimizerIterations, History.Count);
        d[11] = SkippedSteps;
        for (int i = 0; i < History.Count; i++)
        {
            var e = History[i];
            var h = d.Slice(Scalars + PerEpoch * i, PerEpoch);
            (h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9]) = (e.Epoch, e.Loss, e.Accuracy, e.TestLoss, e.TestAccuracy,
                e.SamplesPerSecond, e.Seconds, e.Samples, e.LostSamples, e.DuplicatedSamples);
        }
    }

    /// <summary>Reads what <see cref="WriteTo"/> wrote; returns the optimizer's step count.</summary>
    public long ReadFrom(ReadOnlySpan<double> d)
    {
        (Epoch, Step, LossSum, Samples, Correct, Judged, LostSamples, DuplicatedSamples, EpochStartUnixMs) =
            ((int)d[0], (int)d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8]);
        SkippedSteps = (long)d[11];
        History.Clear();
        for (int i = 0; i < (int)d[10]; i++)
        {
            var h = d.Slice(Scalars + PerEpoch * i, PerEpoch);
            History.Add(new EpochResult((int)h[0], h[1], h[2], h[3], h[4], h[5], h[6], (long)h[7], (long)h[8], (long)h[9]));
        }
        return (long)d[9];
    }

    /// <summary>The progress as a model file's training state, under <paramref name="plan"/>.</summary>
    public TrainingCheckpoint ToCheckpoint(TrainingPlan plan, int stepsPerEpoch, int worldSize, IReadOnlyList<Engine.RandomState> random) => new()
    {
        Epoch = Epoch, Step = Step, StepsPerEpoch = stepsPerEpoch, GlobalBatch = plan.GlobalBatch, Seed = plan.Seed, Epochs = plan.Epochs,
        WorldSize = worldSize, Random = random, Sampler = TrainingCheckpoint.ShardSampler,
        EpochSums = new Dictionary<string, double>
        {
            ["loss_sum"] = LossSum, ["samples"] = Samples, ["correct"] = Correct, ["judged"] = Judged, ["lost_samples"] = LostSamples,
            ["duplicated_samples"] = DuplicatedSamples, ["epoch_start_unix_ms"] = EpochStartUnixMs, ["skipped_steps"] = SkippedSteps,
        },
        History = [.. History.Select(e => (IReadOnlyDictionary<string, double>)new Dictionary<string, double>
        {
            ["epoch"] = e.Epoch, ["loss"] = e.Loss, ["accuracy"] = e.Accuracy, ["test_loss"] = e.TestLoss, ["test_accuracy"] = e.TestAccuracy,
            ["samples_per_second"] = e.SamplesPerSecond, ["seconds"] = e.Seconds, ["samples"] = e.Samples, ["lost_samples"] = e.LostSamples,
            ["duplicated_samples"] = e.DuplicatedSamples,
        })],
    };

    /// <summary>Takes the position, sums and history of a model file's training state.</summary>
    public void ReadCheckpoint(TrainingCheckpoint c)
    {
        (Epoch, Step) = (c.Epoch, c.Step);
        double Sum(string k) => c.EpochSums.GetValueOrDefault(k);
        (LossSum, Samples, Correct, Judged, LostSamples, DuplicatedSamples) =
            (Sum("loss_sum"), Sum("samples"), Sum("correct"), Sum("judged"), Sum("lost_samples"), Sum("duplicated_samples"));
        SkippedSteps = (long)Sum("skipped_steps");
        // The interrupted epoch's clock restarts now: its time before the interruption is not known to this run.
        EpochStartUnixMs = 0;
        History.Clear();
        foreach (var h in c.History)
        {
            double F(string k) => h.GetValueOrDefault(k);
            History.Add(new EpochResult((int)F("epoch"), F("loss"), F("accuracy"), F("test_loss"), F("test_accuracy"), F("samples_per_second"),
                F("seconds"), (long)F("samples"), (long)F("lost_samples"), (long)F("duplicated_samples")));
        }
    }
}

/// <summary>
/// A cheap fingerprint of which samples a step trained on: the sum of their indices modulo 2¹⁶. Each rank adds its
/// slice's, the ring sums them (exact in float for fewer than 256 ranks), and the total must match the global batch's.
/// </summary>
public static class StepChecksum
{
    public const int Modulus = 1 << 16;

    public static int Of(ReadOnlySpan<int> indices)
    {
        long sum = 0;
        foreach (int i in indices) sum += i;
        return (int)(sum % Modulus);
    }
}
