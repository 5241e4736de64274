using System.Diagnostics;
using DistTrain.Collectives;
using DistTrain.Collectives.Grpc;
using DistTrain.Data;
using DistTrain.Engine.Model;
using DistTrain.Protos;
using DistTrain.Telemetry;
using Grpc.Core;

namespace DistTrain.Worker;

/// <summary>
/// One job on this worker, across the worker sets (generations) the coordinator forms for it. In each, the worker
/// joins the ring at its rank and trains (<see cref="DistributedTrainer"/>), keeping a long poll open for the next
/// generation. When its ring breaks (a peer died, froze or timed out) it drops the ring at once, so that the failure
/// goes round, and tells the coordinator whom the failure points at; when the coordinator forms a new worker set (a
/// member lost by its heartbeats, a worker joining) the poll answers and the worker leaves the old ring. Either way it
/// then trains on in the next generation from where its replicated <see cref="TrainingProgress"/> stands: the
/// interrupted step is done again, and a member that is behind receives the state from the most advanced.
/// </summary>
public sealed class ElasticJob(string workerId, Workers.WorkersClient workers, ProgressReporter reporter, TimeSpan? collectiveTimeout, Action<string> log)
{
    /// <summary>How long one long poll for the next generation may take before it is asked again.</summary>
    private static readonly TimeSpan PollDeadline = TimeSpan.FromSeconds(30);

    /// <summary>Opens this worker's ring for a generation.</summary>
    public required Func<Assignment, GrpcRingTransport> Connect { get; init; }

    /// <summary>The coordinator's checkpoint store: rank 0 uploads to it, and a worker without state starts from it.</summary>
    public required Checkpoints.CheckpointsClient Checkpoints { get; init; }

    /// <summary>Counts the samples this worker trains, for its heartbeats.</summary>
    public SampleRate? Rate { get; init; }

    /// <summary>A user's program's Keras-style callbacks and history (DistTrain.Distributed); null for a job of the CLI's.</summary>
    public FitCallbacks? Callbacks { get; init; }

    /// <summary>The generation of the last worker set this worker acted on (trained in, or learned it is out of).</summary>
    public long Generation { get; private set; }

    public async Task RunAsync(Assignment a, Sequential model, TrainingPlan plan, TrainingProgress progress, Dataset data, CancellationToken cancellationToken)
    {
        long interruptedAt = 0; // when training was last interrupted (Stopwatch ticks), until the next ring commits a step
        bool started = false;
        var uploader = new CheckpointUploader(Checkpoints, workerId, a.JobId, () => a.Generation, log);
        Callbacks?.TrainBegin();
        while (true)
        {
            Generation = a.Generation;
            if (a.Ended)
            {
                log($"{workerId}: {a.JobId} ended at the coordinator (completed, cancelled or failed elsewhere)");
                return;
            }
            if (a.Rank < 0)
            {
                log($"{workerId}: {a.JobId} went on without this worker (generation {a.Generation})");
                return;
            }
            if (a.Waiting)
            {
                log($"{workerId}: {a.JobId} is below its minimum of workers; waiting for workers to join");
                a = await NextAsync(a, a.Spec.WaitForWorkersSeconds, cancellationToken);
                continue;
            }
            if (!started)
            {
                // This worker holds no state of the job yet: it starts from the job's latest checkpoint, if it has one.
                // Members that hold newer state pass it on when the ring forms (ReplicaState).
                started = true;
                var current = a;
                bool loaded = await new CheckpointLoader(Checkpoints, workerId, log).LoadAsync(a, model, progress, plan,
                    ShardPlan.StepsPerEpoch(data.TrainX.Batch, plan.GlobalBatch),
                    () => workers.NextGenerationAsync(new NextGenerationRequest { WorkerId = workerId, JobId = current.JobId, Generation = current.Generation - 1 },
                        new CallOptions(deadline: DateTime.UtcNow + PollDeadline, cancellationToken: cancellationToken).WithWaitForReady()).ResponseAsync,
                    cancellationToken);
                // The checkpoint's finished epochs are reported again once the ring forms (DistributedTrainer).
                if (loaded) log($"{workerId}: {a.JobId} has {progress.History.Count} finished epochs in its checkpoint");
            }
            using var interrupt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            using var stopWatching = new CancellationTokenSource();
            var watch = WatchAsync(a, interrupt, stopWatching.Token);
            var transport = Connect(a);
            bool closed = false;
            var trainer = Trainer(a, model, plan, progress, new RingAllreduce(transport, new RingOptions(Timeout: collectiveTimeout)), uploader,
                () => interruptedAt, () => interruptedAt = 0);
            try
            {
                try
                {
                    await trainer.TrainAsync(data.TrainX, data.TrainY, data.TestX, data.TestY, interrupt.Token);
                }
                catch (Exception e) when (!cancellationToken.IsCancellationRequested
                    && (e is CollectiveException || e is OperationCanceledException && interrupt.IsCancellationRequested))
                {
                    if (interruptedAt == 0) interruptedAt = Stopwatch.GetTimestamp();
                    transport.Abandon(e.Message);
                    closed = true;
                    var broken = e as CollectiveException;
                    log(broken is not null
                        ? $"{workerId}: generation {a.Generation}'s ring broke at epoch {progress.Epoch + 1}, step {progress.Step + 1}: {broken.Message}"
                        : $"{workerId}: {a.JobId}'s worker set changed; leaving generation {a.Generation}'s ring");
                    a = await NextAfterBreakAsync(a, watch, broken, cancellationToken) ?? await NextAsync(a, 0, cancellationToken);
                    continue;
                }
                await transport.DisposeAsync();
                closed = true;
            }
            finally
            {
                // Whatever ended this ring (an error of another kind, a stop), its links and its long poll end with it.
                if (!closed) transport.Abandon("the worker stopped training");
                await stopWatching.CancelAsync();
                try
                {
                    await watch;
                }
                catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
                {
                }
            }
            // The job completes with the last epoch's report, so rank 0 first stores the final model with the coordinator.
            if (a.Rank == 0 && !trainer.Stopped && (progress.Epoch >= plan.Epochs || trainer.EarlyStopped) && progress.LastEpoch is { } last)
            {
                await uploader.FinishAsync(trainer.Snapshot(final: true), cancellationToken);
                // The job's history must hold every epoch this model went through. An epoch whose report the coordinator
                // refused (this worker's ring trained on while the coordinator thought it lost, and it has since been
                // taken back) is told again first: reports go out in order, and the coordinator records each epoch once.
                foreach (var e in progress.History)
                    if (e.Epoch < last.Epoch && !reporter.Delivered(e.Epoch)) reporter.Post(EpochReport(a, e, plan, progress));
                reporter.Post(EpochReport(a, last, plan, progress, finished: true));
            }
            if (!trainer.Stopped) Callbacks?.TrainEnd();
            // The last epoch's report completes the job: it must reach the coordinator before this worker moves on.
            await reporter.FlushAsync();
            if (trainer.Stopped) log($"{workerId}: {a.JobId} ended at the coordinator (cancelled or failed elsewhere); all ranks stopped together");
            return;
        }
    }

    private DistributedTrainer Trainer(Assignment a, Sequential model, TrainingPlan plan, TrainingProgress progress, RingAllreduce ring,
        CheckpointUploader uploader, Func<long> interruptedAt, Action recovered)
    {
        var clock = Stopwatch.StartNew();
        var lastReport = TimeSpan.FromSeconds(-1);
        var sinceReport = new StepTimes();
        var tags = DistTrainMetrics.JobRank(a.JobId, a.Rank);
        return new DistributedTrainer(model, ring, plan, progress)
        {
            OnStep = step =>
            {
                DistTrainMetrics.Samples.Add(step.Samples, tags);
                DistTrainMetrics.StepDuration.Record(step.Seconds, tags);
                DistTrainMetrics.AllreduceDuration.Record(step.AllreduceSeconds, tags);
                DistTrainMetrics.AllreduceBytes.Add(step.AllreduceBytesSent, tags);
                Rate?.Add(step.Samples);
                Callbacks?.Step(step);
                sinceReport.Add(step);
                if (interruptedAt() is > 0 and var since)
                {
                    // The first step this worker set committed: the pause is over, and rank 0 says how long it took.
                    if (a.Rank == 0)
                        reporter.Post(new ProgressReport
                        {
                            WorkerId = workerId, JobId = a.JobId, Rank = 0, Epoch = step.Epoch, Step = step.Step, Loss = step.Loss,
                            RecoveredGeneration = a.Generation, RecoverySeconds = Stopwatch.GetElapsedTime(since).TotalSeconds,
                        });
                    recovered();
                }
                // Rank 0 speaks for the job; a few reports a second are plenty for a progress bar.
                if (a.Rank != 0 || clock.Elapsed - lastReport < TimeSpan.FromMilliseconds(250)) return;
                lastReport = clock.Elapsed;
                var (stepSeconds, allreduceSeconds, steps) = sinceReport.Take();
                reporter.Post(new ProgressReport
                {
                    WorkerId = workerId, JobId = a.JobId, Rank = 0, Epoch = step.Epoch, Step = step.Step, Loss = step.Loss, SkippedSteps = progress.SkippedSteps,
                    // Every rank trains its slice of the same global batches in lockstep: the job's throughput is the
                    // global batch over rank 0's step time.
                    StepSeconds = stepSeconds, AllreduceSeconds = allreduceSeconds,
                    SamplesPerSecond = stepSeconds > 0 ? plan.GlobalBatch / stepSeconds : 0,
                });
            },
            OnSkipped = (epoch, step, total) =>
                log($"{workerId}: skipped step {step} of epoch {epoch}: the reduced gradient holds NaN or Inf ({total} skipped so far)"),
            // Rank 0 reports each epoch as it ends (the job's history, the accuracy gauges); the last one, which finishes
            // the job, waits until the final model is stored (RunAsync).
            OnEpoch = e =>
            {
                if (a.Rank == 0 && e.Epoch < plan.Epochs) reporter.Post(EpochReport(a, e, plan, progress));
                Callbacks?.Epoch(e);
            },
            StopAfterEpoch = Callbacks is null ? null : () => model.StopTraining,
            // Every replica holds the same weights, so rank 0's copy is the job's checkpoint.
            OnCheckpoint = uploader.Offer,
            Recycled = uploader.Recycled,
            // Every rank asks (so every rank joins the stop vote); only rank 0's answer counts.
            StopRequested = () => reporter.StopAsked,
        };
    }

    private ProgressReport EpochReport(Assignment a, EpochResult e, TrainingPlan plan, TrainingProgress progress, bool finished = false) => new()
    {
        WorkerId = workerId, JobId = a.JobId, Rank = 0, Epoch = e.Epoch, Step = 0, Loss = e.Loss, Accuracy = e.Accuracy,
        SamplesPerSecond = e.SamplesPerSecond, EpochDone = true, TestLoss = e.TestLoss, TestAccuracy = e.TestAccuracy,
        EpochSeconds = e.Seconds, Finished = finished, Samples = e.Samples, LostSamples = e.LostSamples, DuplicatedSamples = e.DuplicatedSamples,
        SkippedSteps = progress.SkippedSteps,
    };

    // The long poll kept open while training: returns the next generation's assignment (and interrupts training) once
    // the coordinator forms one or the job ends; null when stopped first.
    private async Task<Assignment?> WatchAsync(Assignment a, CancellationTokenSource interrupt, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                var next = await workers.NextGenerationAsync(new NextGenerationRequest { WorkerId = workerId, JobId = a.JobId, Generation = a.Generation },
                    new CallOptions(deadline: DateTime.UtcNow + PollDeadline, cancellationToken: stop).WithWaitForReady());
                if (next.Generation == a.Generation && !next.Ended) continue;
                await interrupt.CancelAsync();
                return next;
            }
            catch (Exception e) when (stop.IsCancellationRequested && e is OperationCanceledException or RpcException)
            {
                return null;
            }
            catch (RpcException e)
            {
                // The coordinator is restarting, or the poll outlived its deadline: ask again shortly.
                if (e.StatusCode != StatusCode.DeadlineExceeded) log($"{workerId}: waiting for {a.JobId}'s next worker set: {e.Status.StatusCode} {e.Status.Detail}");
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), stop);
                }
                catch (OperationCanceledException)
                {
                    return null;
                }
            }
        }
        return null;
    }

    // After a ring broke: waits for the coordinator's next worker set, telling it again every few seconds that this
    // member's ring broke (a report lost with a restarting coordinator must not leave the job undecided).
    private async Task<Assignment?> NextAfterBreakAsync(Assignment a, Task<Assignment?> watch, CollectiveException? broken, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + Patience(a);
        while (true)
        {
            if (broken is not null) await ReportBrokenAsync(a, broken);
            if (await Task.WhenAny(watch, Task.Delay(TimeSpan.FromSeconds(5), cancellationToken)) == watch) return await watch;
            cancellationToken.ThrowIfCancellationRequested();
            if (DateTime.UtcNow > deadline)
                throw new CollectiveException($"{a.JobId}: the coordinator formed no new worker set within {Patience(a).TotalSeconds:0} s of generation {a.Generation}'s ring breaking");
        }
    }

    // Asks until the job has a generation after a's (or ends), within the job's wait for workers and a margin.
    private async Task<Assignment> NextAsync(Assignment a, int waitSeconds, CancellationToken cancellationToken)
    {
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var patience = Patience(a) + TimeSpan.FromSeconds(waitSeconds);
        bound.CancelAfter(patience);
        using var never = new CancellationTokenSource();
        try
        {
            return await WatchAsync(a, never, bound.Token) ?? throw new OperationCanceledException();
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new CollectiveException($"{a.JobId}: the coordinator formed no new worker set within {patience.TotalSeconds:0} s of generation {a.Generation}");
        }
    }

    // How long a member waits for the coordinator to decide the next worker set: the gathering of reports, the
    // heartbeat window that finds a silent member lost, a coordinator restart, and the job's own wait for workers.
    private static TimeSpan Patience(Assignment a) =>
        TimeSpan.FromSeconds(90 + (a.Spec.WaitForWorkersSeconds > 0 ? a.Spec.WaitForWorkersSeconds : 60));

    private async Task ReportBrokenAsync(Assignment a, CollectiveException broken)
    {
        try
        {
            await workers.ReportBrokenAsync(new BrokenRingReport
            {
                WorkerId = workerId, JobId = a.JobId, Generation = a.Generation, SuspectRank = broken.SuspectRank, Reason = broken.Message,
            }, new CallOptions(deadline: DateTime.UtcNow + ProgressReporter.CallDeadline).WithWaitForReady());
        }
        catch (RpcException e)
        {
            // Not fatal: the coordinator also finds a dead member by its heartbeats, and the long poll still answers.
            log($"{workerId}: the coordinator did not take the report of the broken ring: {e.Status.StatusCode} {e.Status.Detail}");
        }
    }
}
