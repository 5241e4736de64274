using DistTrain.Collectives;
using DistTrain.Engine;
using DistTrain.Engine.Model;

namespace DistTrain.Worker;

/// <summary>What a rank is asked to train.</summary>
/// <param name="GlobalBatch">Samples per step across all ranks; each rank takes ⌊G/N⌋ or ⌈G/N⌉ (<see cref="ShardPlan"/>).</param>
/// <param name="ConsistencyCheckEvery">Compare parameter hashes every this many steps (0 = never).</param>
/// <param name="CheckpointEvery">Rank 0 offers a checkpoint every this many steps (0 = at every epoch's end but the last,
/// whose model is the final one its caller takes).</param>
/// <param name="MaxSkippedSteps">Steps with a non-finite reduced gradient the job may skip before it fails (null: any number).</param>
public sealed record TrainingPlan(int Epochs, int GlobalBatch, int Seed, long BucketBytes = BucketPlan.DefaultBucketBytes, int ConsistencyCheckEvery = 0,
    int CheckpointEvery = 0, int? MaxSkippedSteps = null);

/// <summary>One training step on this rank: where it was, its local loss and samples, and how long it and its allreduces took.</summary>
public sealed record StepStats(int Epoch, int Step, int StepsPerEpoch, double Loss, int Samples, double Seconds, double AllreduceSeconds,
    long AllreduceBytesSent);

/// <summary>One epoch's results, combined over all ranks (every rank gets the same figures).</summary>
/// <param name="Samples">Training samples the ranks counted as trained on this epoch.</param>
/// <param name="LostSamples">Samples of the epoch's global batches that no rank trained on (always 0 unless something is wrong).</param>
/// <param name="DuplicatedSamples">Samples trained on twice within a step.</param>
public sealed record EpochResult(int Epoch, double Loss, double Accuracy, double TestLoss, double TestAccuracy, double SamplesPerSecond, double Seconds,
    long Samples = 0, long LostSamples = 0, long DuplicatedSamples = 0);

/// <summary>
/// A rank's training run over one ring, from wherever <see cref="TrainingProgress"/> stands to the end: for each
/// epoch, its shard of every global batch (<see cref="ShardPlan"/>) through <see cref="ReplicaTrainer"/>, then the
/// test split evaluated in rank-strided slices, the sums combined by one allreduce.
/// <para>
/// A rank applies a step's update only once it has every reduced gradient and the step's figures (samples, loss,
/// correct, a checksum of the sample indices, and rank 0's stop flag), which are summed by a small allreduce that
/// starts as soon as forward is done and overlaps backward. A ring that breaks before then leaves the rank unchanged:
/// batch-norm state, which forward moves, is put back, and the step is done again on the next ring, whatever its
/// size. A ring that breaks during the last exchange may leave some ranks one step ahead; the next ring's
/// <see cref="ReplicaState.SynchronizeAsync"/> brings the others to them. The global batch and its order depend only on the seed and the epoch, so the run makes
/// the same updates as one that never broke, up to the order of float additions.
/// </para>
/// Every rank must be given the same plan, model spec and data.
/// </summary>
public sealed class DistributedTrainer(Sequential model, RingAllreduce ring, TrainingPlan plan, TrainingProgress? progress = null)
{
    private readonly ReplicaTrainer _replica = new(model, ring, plan.BucketBytes);
    private readonly RingBroadcast _broadcast = new(ring.Transport, ring.Options);
    private readonly Tensor _x = new(0), _y = new(0);
    private readonly float[] _stepSums = new float[6];
    private float[] _stateBefore = [];
    private string? _specJson;
    private int _stepsPerEpoch;
    // Operation numbers for the trainer's own collectives, far from the gradient buckets' counter.
    private long _controlOperation = 1L << 40;

    /// <summary>Where training stands; shared by the trainers of successive rings of one job.</summary>
    public TrainingProgress Progress { get; } = progress ?? new TrainingProgress();

    /// <summary>Called after every step.</summary>
    public Action<StepStats>? OnStep { get; init; }

    /// <summary>
    /// Called on rank 0 with a copy of the whole training state when a checkpoint is due (see
    /// <see cref="TrainingPlan.CheckpointEvery"/>); training goes on while the receiver writes or uploads it.
    /// </summary>
    public Action<CheckpointSnapshot>? OnCheckpoint { get; init; }

    /// <summary>A snapshot the receiver of <see cref="OnCheckpoint"/> is done with, whose arrays the next one may reuse.</summary>
    public Func<CheckpointSnapshot?>? Recycled { get; init; }

    /// <summary>Called on every rank after each epoch, with the figures combined over all ranks.</summary>
    public Action<EpochResult>? OnEpoch { get; init; }

    /// <summary>
    /// Rank 0's word on whether to stop (a cancelled job). Rank 0's answer rides on every step's commit, so all ranks
    /// stop after the same step; a rank that stopped on its own would leave its peers waiting in the ring.
    /// </summary>
    public Func<bool>? StopRequested { get; init; }

    /// <summary>True when training ended early because rank 0 asked to stop.</summary>
    public bool Stopped { get; private set; }

    /// <summary>Asked on rank 0 after each epoch but the last: true ends training there, on every rank (a Keras callback's
    /// <see cref="Sequential.StopTraining"/>). Every rank must be given one, or none: it costs a collective per epoch.</summary>
    public Func<bool>? StopAfterEpoch { get; init; }

    /// <summary>True when training ended after an epoch because <see cref="StopAfterEpoch"/> said so: the run is complete.</summary>
    public bool EarlyStopped { get; private set; }

    /// <summary>Whether this ring's start needed a state transfer, and from which rank.</summary>
    public (int Source, bool Transferred) Synchronized { get; private set; }

    /// <summary>Called on every rank when a step is skipped for a non-finite gradient: the epoch and step (from 1), and the job's count so far.</summary>
    public Action<int, int, long>? OnSkipped { get; init; }

    // A step whose reduced gradient holds NaN or Inf: the parameters and the optimizer's state stay as they were, the step
    // still counts (its samples were seen), and past the plan's limit the job fails naming the step.
    private void SkipStep(int epoch, int k)
    {
        long skipped = ++Progress.SkippedSteps;
        OnSkipped?.Invoke(epoch + 1, k + 1, skipped);
        if (plan.MaxSkippedSteps is { } max && skipped > max)
            throw new NonFiniteStepException(
                $"step {k + 1} of epoch {epoch + 1}: the reduced gradient holds NaN or Inf; {skipped} step{(skipped == 1 ? "" : "s")} skipped, more than --max-skipped-steps {max}");
    }

    public async Task<IReadOnlyList<EpochResult>> TrainAsync(Tensor trainX, Tensor trainY, Tensor testX, Tensor testY,
        CancellationToken cancellationToken = default)
    {
        int n = ring.Transport.WorldSize, rank = ring.Transport.Rank;
        ShardPlan.Validate(trainX.Batch, plan.GlobalBatch, n);
        int stepsPerEpoch = _stepsPerEpoch = ShardPlan.StepsPerEpoch(trainX.Batch, plan.GlobalBatch);
        model.UseRandomStream(rank); // each replica its own dropout masks and augmentations (rank 0 keeps the seed's own stream)
        var results = new List<EpochResult>();
        var p = Progress;
        // Before the first step every replica must hold the same state: after a failure or a join, some do not yet;
        // a seed or spec that differs between workers at the start is caught by the consistency check below.
        Synchronized = await ReplicaState.SynchronizeAsync(model, p, stepsPerEpoch, plan.Epochs, ring, _broadcast, _controlOperation, cancellationToken).ConfigureAwait(false);
        _controlOperation += 2;
        // A new ring tells the finished epochs again: rank 0's reports make good one lost with its sender, or refused
        // because the sender had been dropped from the job when it arrived (the coordinator records each epoch once);
        // every rank's callbacks learn an epoch its state transfer brought it (FitCallbacks records each epoch once).
        foreach (var reported in p.History) OnEpoch?.Invoke(reported);
        if (p.EpochStartUnixMs == 0) p.EpochStartUnixMs = NowUnixMs();
        if (plan.ConsistencyCheckEvery > 0) await CheckConsistencyAsync(p.Position(stepsPerEpoch), cancellationToken).ConfigureAwait(false);
        while (p.Epoch < plan.Epochs)
        {
            int epoch = p.Epoch;
            var batches = ShardPlan.ForRank(trainX.Batch, plan.GlobalBatch, n, rank, plan.Seed, epoch);
            var checksums = GlobalChecksums(trainX.Batch, epoch, batches.Length);
            while (p.Step < batches.Length)
            {
                int k = p.Step;
                _x.GatherFrom(trainX, batches[k]);
                _y.GatherFrom(trainY, batches[k]);
                if (FaultInjection.PoisonsStep((long)epoch * stepsPerEpoch + k, rank)) _x.Span[0] = float.NaN;
                long started = System.Diagnostics.Stopwatch.GetTimestamp();
                SaveState();
                // The step's dropout masks and augmentations depend on the step and the rank alone: a step done again on
                // a new ring, or after a resume, draws them again.
                model.SeekRandom((long)epoch * stepsPerEpoch + k);
                float loss;
                try
                {
                    // The step's figures ride on its first collective, which overlaps backward (see ReplicaTrainer).
                    _stepSums[4] = StepChecksum.Of(batches[k]);
                    _stepSums[5] = rank == 0 && StopRequested?.Invoke() == true ? 1 : 0;
                    loss = (float)(await _replica.ReduceAsync(_x, _y, plan.GlobalBatch, _stepSums, cancellationToken).ConfigureAwait(false)).Loss;
                }
                catch
                {
                    RestoreState(); // the step did not commit here: it is done again, from the same state, on the next ring
                    throw;
                }
                // Every replica holds the same reduced gradient and batch-norm statistics, so all of them skip a non-finite
                // step together, or none; a skipped step leaves the statistics as they were before it too.
                if (model.StepIsFinite()) model.ApplyGradients();
                else
                {
                    RestoreState();
                    SkipStep(epoch, k);
                }
                p.Commit(_stepSums, plan.GlobalBatch, checksums[k]);
                var (allreduceSeconds, bytesSent) = _replica.LastStepAllreduce;
                OnStep?.Invoke(new StepStats(epoch + 1, k + 1, batches.Length, loss, batches[k].Length,
                    System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds, allreduceSeconds, bytesSent));
                if (rank == 0 && plan.CheckpointEvery > 0 && ((long)epoch * stepsPerEpoch + k + 1) % plan.CheckpointEvery == 0)
                    OnCheckpoint?.Invoke(Snapshot(final: false));
                if (plan.ConsistencyCheckEvery > 0 && p.Position(stepsPerEpoch) % plan.ConsistencyCheckEvery == 0)
                    await CheckConsistencyAsync(p.Position(stepsPerEpoch), cancellationToken).ConfigureAwait(false);
                if (_stepSums[5] > 0)
                {
                    Stopped = true;
                    return results;
                }
            }
            // The epoch's training time, as one process times it: the test split's evaluation is not part of it.
            double seconds = Math.Max(1e-3, (NowUnixMs() - p.EpochStartUnixMs) / 1000);
            // Combine the test split: [loss·samples, samples, correct, judged], each rank its strided slice.
            var (testLoss, testSamples, testCorrect, testJudged) = EvaluateShard(testX, testY, rank, n);
            var sums = new float[] { (float)testLoss, testSamples, testCorrect, testJudged };
            await ring.AllreduceAsync(sums, _controlOperation++, average: false, cancellationToken).ConfigureAwait(false);
            var result = new EpochResult(epoch + 1, p.LossSum / Math.Max(1, p.Samples), p.Correct / Math.Max(1, p.Judged), sums[0] / Math.Max(1, sums[1]),
                sums[2] / Math.Max(1, sums[3]), p.Samples / seconds, seconds, (long)p.Samples, (long)p.LostSamples, (long)p.DuplicatedSamples);
            p.FinishEpoch(result, NowUnixMs());
            if (rank == 0 && plan.CheckpointEvery == 0 && p.Epoch < plan.Epochs) OnCheckpoint?.Invoke(Snapshot(final: false));
            results.Add(result);
            OnEpoch?.Invoke(result);
            // A callback may end training after an epoch (early stopping). Rank 0's callbacks decide, as rank 0 decides a
            // stop within an epoch, so that every rank leaves the ring after the same epoch.
            if (StopAfterEpoch is not null && p.Epoch < plan.Epochs)
            {
                var stop = new float[] { rank == 0 && StopAfterEpoch() ? 1 : 0 };
                await ring.AllreduceAsync(stop, _controlOperation++, average: false, cancellationToken).ConfigureAwait(false);
                if (stop[0] > 0)
                {
                    EarlyStopped = true;
                    return results;
                }
            }
        }
        return results;
    }

    /// <summary>A copy of this replica's whole training state as it stands (every replica holds the same).</summary>
    public CheckpointSnapshot Snapshot(bool final)
    {
        _specJson ??= Engine.Spec.ModelSpec.ToJson(model).ToJsonString();
        return CheckpointSnapshot.Take(model, _specJson, Progress.ToCheckpoint(plan, _stepsPerEpoch, ring.Transport.WorldSize, model.RandomStates), final,
            final ? null : Recycled?.Invoke());
    }

    /// <summary>Compares parameter hashes across ranks now; throws naming the ranks that differ.</summary>
    public async Task CheckConsistencyAsync(long step, CancellationToken cancellationToken = default)
    {
        var hashes = await ParameterHash.GatherAsync(ring, ParameterHash.Of(model.Store.Values, model.Store.State),
            _controlOperation++, cancellationToken).ConfigureAwait(false);
        ParameterHash.Verify(hashes, step);
    }

    private static double NowUnixMs() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    // Each global batch's sample-index checksum, from the epoch's permutation that every rank derives alike.
    private int[] GlobalChecksums(int samples, int epoch, int steps)
    {
        var order = ShardPlan.Permutation(samples, plan.Seed, epoch);
        var sums = new int[steps];
        for (int k = 0; k < steps; k++) sums[k] = StepChecksum.Of(order.AsSpan(k * plan.GlobalBatch, plan.GlobalBatch));
        return sums;
    }

    // Forward moves batch-norm statistics in place; a step that does not commit must leave them as they were.
    private void SaveState()
    {
        var state = model.Store.State;
        if (state.Length == 0) return;
        if (_stateBefore.Length != state.Length) _stateBefore = new float[state.Length];
        state.CopyTo(_stateBefore, 0);
    }

    private void RestoreState()
    {
        if (_stateBefore.Length == model.Store.State.Length && _stateBefore.Length > 0) _stateBefore.CopyTo(model.Store.State, 0);
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
