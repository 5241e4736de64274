using DistTrain.Collectives;
using DistTrain.Engine;
using DistTrain.Engine.Model;

namespace DistTrain.Worker;

/// <summary>What a rank is asked to train.</summary>
/// <param name="GlobalBatch">Samples per step across all ranks; each rank takes ⌊G/N⌋ or ⌈G/N⌉ (<see cref="ShardPlan"/>).</param>
/// <param name="ConsistencyCheckEvery">Compare parameter hashes every this many steps (0 = never).</param>
public sealed record TrainingPlan(int Epochs, int GlobalBatch, int Seed, long BucketBytes = BucketPlan.DefaultBucketBytes, int ConsistencyCheckEvery = 0);

/// <summary>One training step on this rank: where it was, its local loss and samples, and how long it and its allreduces took.</summary>
public sealed record StepStats(int Epoch, int Step, int StepsPerEpoch, double Loss, int Samples, double Seconds, double AllreduceSeconds,
    long AllreduceBytesSent);

/// <summary>One epoch's results, combined over all ranks (every rank gets the same figures).</summary>
public sealed record EpochResult(int Epoch, double Loss, double Accuracy, double TestLoss, double TestAccuracy, double SamplesPerSecond, double Seconds);

/// <summary>
/// A rank's whole training run: for each epoch, its shard of every global batch (<see cref="ShardPlan"/>) through
/// <see cref="ReplicaTrainer"/>, then the test split evaluated in rank-strided slices, the sums combined by one
/// allreduce. Optional consistency checks compare parameter hashes across ranks. Every rank must be given the same
/// plan, model spec and data.
/// </summary>
public sealed class DistributedTrainer(Sequential model, RingAllreduce ring, TrainingPlan plan)
{
    private readonly ReplicaTrainer _replica = new(model, ring, plan.BucketBytes);
    private readonly Tensor _x = new(0), _y = new(0);
    // Operation numbers for the trainer's own collectives, far from the gradient buckets' counter.
    private long _controlOperation = 1L << 40;

    /// <summary>Called after every step.</summary>
    public Action<StepStats>? OnStep { get; init; }

    /// <summary>Called on every rank after each epoch, with the figures combined over all ranks.</summary>
    public Action<EpochResult>? OnEpoch { get; init; }

    /// <summary>
    /// Rank 0's word on whether to stop (a cancelled job). Every <see cref="StopCheckEvery"/> steps rank 0's answer goes
    /// to every rank in a one-float allreduce, so all ranks stop after the same step; a rank that stopped on its own
    /// would leave its peers waiting in the ring until their timeout.
    /// </summary>
    public Func<bool>? StopRequested { get; init; }

    public const int StopCheckEvery = 10;

    /// <summary>True when training ended early because rank 0 asked to stop.</summary>
    public bool Stopped { get; private set; }

    public async Task<IReadOnlyList<EpochResult>> TrainAsync(Tensor trainX, Tensor trainY, Tensor testX, Tensor testY,
        CancellationToken cancellationToken = default)
    {
        int n = ring.Transport.WorldSize, rank = ring.Transport.Rank;
        ShardPlan.Validate(trainX.Batch, plan.GlobalBatch, n);
        model.UseRandomStream(rank); // each replica its own dropout masks and augmentations (rank 0 keeps the seed's own stream)
        var results = new List<EpochResult>();
        long step = 0;
        // Before the first step: every replica must start from the same parameters (a seed or spec that differs
        // between workers is caught here, not at the first periodic check); this also opens the ring's links.
        if (plan.ConsistencyCheckEvery > 0) await CheckConsistencyAsync(step, cancellationToken).ConfigureAwait(false);
        for (int epoch = 0; epoch < plan.Epochs; epoch++)
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var batches = ShardPlan.ForRank(trainX.Batch, plan.GlobalBatch, n, rank, plan.Seed, epoch);
            double lossSum = 0;
            long correct = 0, judged = 0;
            for (int k = 0; k < batches.Length; k++)
            {
                _x.GatherFrom(trainX, batches[k]);
                _y.GatherFrom(trainY, batches[k]);
                long started = System.Diagnostics.Stopwatch.GetTimestamp();
                var (loss, c, j) = await _replica.StepAsync(_x, _y, plan.GlobalBatch, cancellationToken).ConfigureAwait(false);
                lossSum += loss * batches[k].Length;
                correct += c;
                judged += j;
                step++;
                var (allreduceSeconds, bytesSent) = _replica.LastStepAllreduce;
                OnStep?.Invoke(new StepStats(epoch + 1, k + 1, batches.Length, loss, batches[k].Length,
                    System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds, allreduceSeconds, bytesSent));
                if (plan.ConsistencyCheckEvery > 0 && step % plan.ConsistencyCheckEvery == 0)
                    await CheckConsistencyAsync(step, cancellationToken).ConfigureAwait(false);
                if (StopRequested is not null && step % StopCheckEvery == 0 && await AgreeToStopAsync(rank, cancellationToken).ConfigureAwait(false))
                {
                    Stopped = true;
                    return results;
                }
            }
            double seconds = clock.Elapsed.TotalSeconds;
            int localSamples = batches.Sum(b => b.Length);
            // Combine: [loss·samples, samples, correct, judged, test loss·samples, test samples, test correct, test judged].
            var (testLoss, testSamples, testCorrect, testJudged) = EvaluateShard(testX, testY, rank, n);
            var sums = new float[] { (float)lossSum, localSamples, correct, judged, (float)testLoss, testSamples, testCorrect, testJudged };
            await ring.AllreduceAsync(sums, _controlOperation++, average: false, cancellationToken).ConfigureAwait(false);
            results.Add(new EpochResult(epoch + 1, sums[0] / sums[1], sums[2] / Math.Max(1, sums[3]), sums[4] / Math.Max(1, sums[5]),
                sums[6] / Math.Max(1, sums[7]), sums[1] / seconds, seconds));
            OnEpoch?.Invoke(results[^1]);
        }
        return results;
    }

    /// <summary>Compares parameter hashes across ranks now; throws naming the ranks that differ.</summary>
    public async Task CheckConsistencyAsync(long step, CancellationToken cancellationToken = default)
    {
        var hashes = await ParameterHash.GatherAsync(ring, ParameterHash.Of(model.Store.Values, model.Store.State),
            _controlOperation++, cancellationToken).ConfigureAwait(false);
        ParameterHash.Verify(hashes, step);
    }

    // Rank 0's stop flag, summed over the ring: every rank gets the same answer at the same step.
    private async Task<bool> AgreeToStopAsync(int rank, CancellationToken cancellationToken)
    {
        var flag = new[] { rank == 0 && StopRequested!() ? 1f : 0f };
        await ring.AllreduceAsync(flag, _controlOperation++, average: false, cancellationToken).ConfigureAwait(false);
        return flag[0] > 0;
    }

    // Rank r evaluates test samples r, r + N, r + 2N, …; returns (loss·samples, samples, correct, judged).
    private (double Loss, int Samples, long Correct, long Judged) EvaluateShard(Tensor testX, Tensor testY, int rank, int n)
    {
        var mine = Enumerable.Range(0, testX.Batch).Where(i => i % n == rank).ToArray();
        if (mine.Length == 0) return (0, 0, 0, 0);
        _x.GatherFrom(testX, mine);
        _y.GatherFrom(testY, mine);
        var r = model.Evaluate(_x, _y, batchSize: 500);
        // Accuracy comes back as a fraction of this shard; weighting it by the shard's size combines shards exactly.
        return (r.Loss * mine.Length, mine.Length, (long)Math.Round(r.Accuracy * mine.Length), mine.Length);
    }

}
