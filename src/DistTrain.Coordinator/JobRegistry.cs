using System.Collections.Immutable;
using DistTrain.Engine.Model;
using DistTrain.Engine.Spec;
using DistTrain.Protos;
using DistTrain.State;
using DistTrain.Telemetry;
using Google.Protobuf;

namespace DistTrain.Coordinator;

/// <summary>A dataset the coordinator has prepared for workers: its file, digest and sample shape.</summary>
public sealed record PreparedDataset(string Digest, string Path, int TrainSamples, int TestSamples, int[] SampleShape);

/// <summary>
/// The coordinator's jobs and workers. Their durable state lives in grains (<see cref="IJobGrain"/>,
/// <see cref="IWorkerGrain"/>, <see cref="IJobIndexGrain"/>): every change is written through them, and every read of a
/// job comes from them, so a restarted coordinator still knows every job it ran. What only matters while this process
/// lives stays here: which registered workers are connected and waiting, the pending queue, the prepared datasets, and
/// the signal that wakes watchers.
/// <para>
/// Assignment: the oldest pending job starts as soon as at least its worker count of idle workers has registered;
/// they take ranks in registration order, and the worker-set generation increases, so messages from an older set are
/// refused by the ring.
/// </para>
/// </summary>
public sealed class JobRegistry(IGrainFactory grains, Func<JobSpec, PreparedDataset> prepare)
{
    private sealed class WorkerEntry(string id, string address)
    {
        public string Id { get; } = id;
        public string Address { get; } = address;
        public string? JobId { get; set; }
        public TaskCompletionSource<Assignment> Assigned { get; set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private sealed record PendingJob(string Id, JobSpec Spec, PreparedDataset Data);

    // _gate serialises the assignment sequences (they await grains); _sync guards the dataset map and the change
    // signal, which callers read without waiting on those sequences.
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly object _sync = new();
    private readonly List<PendingJob> _pending = [];
    private readonly Dictionary<string, PreparedDataset> _datasets = [];
    private readonly List<WorkerEntry> _workers = [];
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private IJobIndexGrain Index => grains.GetGrain<IJobIndexGrain>("coordinator");
    private IJobGrain JobGrain(string id) => grains.GetGrain<IJobGrain>(id);
    private IWorkerGrain WorkerGrain(string id) => grains.GetGrain<IWorkerGrain>(id);

    /// <summary>
    /// After a restart: a job that was pending or running has lost its workers (they were connected to the old
    /// process), so it fails with a reason that says so; finished jobs keep their records as they are.
    /// </summary>
    public async Task RecoverAsync()
    {
        foreach (string id in await Index.Jobs())
            if (await JobGrain(id).Get() is { IsFinal: false } job)
                await JobGrain(id).Update(new JobFailed($"the coordinator restarted while {id} was {job.Phase.ToString().ToLowerInvariant()}; submit it again"));
    }

    /// <summary>Validates and queues a job; it starts when enough workers are idle.</summary>
    public async Task<Job> SubmitAsync(JobSpec spec)
    {
        if (spec.Workers < 1) throw new ArgumentException($"a job needs at least one worker, got {spec.Workers}");
        if (spec.Epochs < 1) throw new ArgumentException($"epochs must be at least 1, got {spec.Epochs}");
        var data = prepare(spec);
        ShardPlan.Validate(data.TrainSamples, spec.GlobalBatchSize, spec.Workers);
        ModelSpec.ForData(spec.Model, spec.Seed, data.SampleShape, spec.Optimizer); // the model must build for this data before anyone waits for it
        string id = await Index.NewJob();
        var record = await JobGrain(id).Update(new JobSubmitted(JsonFormatter.Default.Format(spec),
            ShardPlan.StepsPerEpoch(data.TrainSamples, spec.GlobalBatchSize), data.TrainSamples, data.TestSamples));
        await Locked(async () =>
        {
            _pending.Add(new PendingJob(id, spec, data));
            lock (_sync) _datasets[id] = data;
            await AssignLockedAsync();
        });
        return ToProto(await JobGrain(id).Get() ?? record);
    }

    /// <summary>Adds a worker; returns its id.</summary>
    public async Task<string> RegisterAsync(string advertisedAddress, int threads)
    {
        if (!Uri.TryCreate(advertisedAddress, UriKind.Absolute, out _))
            throw new ArgumentException($"advertised address '{advertisedAddress}' is not an absolute URL such as http://10.0.0.5:7000");
        string id = await Index.NewWorker();
        await WorkerGrain(id).Update(new WorkerRegistered(advertisedAddress, threads));
        await Locked(async () =>
        {
            _workers.Add(new WorkerEntry(id, advertisedAddress));
            await AssignLockedAsync();
        });
        return id;
    }

    /// <summary>Waits until the worker has a job, then returns its assignment.</summary>
    public async Task<Assignment> WaitForAssignmentAsync(string workerId, CancellationToken cancellationToken)
    {
        Task<Assignment> assigned = null!;
        await Locked(() => { assigned = Worker(workerId).Assigned.Task; return Task.CompletedTask; });
        return await assigned.WaitAsync(cancellationToken);
    }

    /// <summary>Records that a worker is alive; false when its job has ended and it should stop.</summary>
    public async Task<bool> HeartbeatAsync(string workerId)
    {
        string? jobId = null;
        await Locked(() => { jobId = Worker(workerId).JobId; return Task.CompletedTask; });
        await WorkerGrain(workerId).Update(new WorkerHeartbeat());
        return jobId is null || await JobGrain(jobId).Get() is not { IsFinal: true };
    }

    /// <summary>
    /// A worker shuts down: it leaves the table (so it is never assigned again) and its grain is marked Left; a job it
    /// was training fails at once with the reason, naming its rank, and its other workers are freed.
    /// </summary>
    public async Task LeaveAsync(string workerId, string reason)
    {
        string? jobId = null;
        await Locked(() =>
        {
            var w = Worker(workerId);
            jobId = w.JobId;
            _workers.Remove(w);
            w.Assigned.TrySetCanceled();
            return Task.CompletedTask;
        });
        int rank = (await WorkerGrain(workerId).Get())?.Rank ?? -1;
        await WorkerGrain(workerId).Update(new WorkerLeft(reason));
        if (jobId is not null && await JobGrain(jobId).Get() is { IsFinal: false })
        {
            DistTrainMetrics.WorkerFailures.Add(1, DistTrainMetrics.Job(jobId));
            try
            {
                await FinishAsync(jobId, new JobFailed(FailureReason(rank, $"{workerId} left: {reason}")));
            }
            catch (InvalidJobChangeException)
            {
                // The job ended in the meantime (its last report, or another rank's failure): nothing left to fail.
            }
        }
    }

    /// <summary>Applies a worker's progress report; false when the job has ended and the worker should stop.</summary>
    public async Task<bool> ReportAsync(ProgressReport report)
    {
        await Locked(() => { Worker(report.WorkerId); return Task.CompletedTask; });
        var grain = JobGrain(report.JobId);
        var job = await grain.Get() ?? throw new KeyNotFoundException($"no job {report.JobId}");
        if (job.IsFinal) return false;
        try
        {
            if (report.Error.Length > 0)
            {
                DistTrainMetrics.WorkerFailures.Add(1, DistTrainMetrics.Job(report.JobId));
                await FinishAsync(report.JobId, new JobFailed(FailureReason(report.Rank, report.Error)));
                return false;
            }
            if (report.Rank != 0) return true;
            var tags = DistTrainMetrics.JobSplit(report.JobId, "train");
            DistTrainMetrics.Epoch.Record(report.Epoch, DistTrainMetrics.Job(report.JobId));
            DistTrainMetrics.Loss.Record(report.Loss, tags);
            if (report.EpochDone)
            {
                DistTrainMetrics.Accuracy.Record(report.Accuracy, tags);
                DistTrainMetrics.Loss.Record(report.TestLoss, DistTrainMetrics.JobSplit(report.JobId, "test"));
                DistTrainMetrics.Accuracy.Record(report.TestAccuracy, DistTrainMetrics.JobSplit(report.JobId, "test"));
                await grain.Update(new JobEpochEnded(new EpochRecord(report.Epoch, report.Loss, report.Accuracy, report.TestLoss,
                    report.TestAccuracy, report.SamplesPerSecond, report.EpochSeconds)));
                if (report.Checkpoint.Length > 0) await grain.Update(new JobCheckpointed(report.Checkpoint));
                if (report.Finished) await FinishAsync(report.JobId, new JobCompleted());
            }
            else
            {
                await grain.Update(new JobProgressed(report.Epoch, report.Step, report.Loss, report.Accuracy, report.SamplesPerSecond));
            }
            Signal();
            return true;
        }
        catch (InvalidJobChangeException)
        {
            return false; // the job ended (say, cancelled) while this report was on its way
        }
    }

    /// <summary>Cancels a pending or running job; its workers learn it from their next report or heartbeat and stop together.</summary>
    public async Task<Job> CancelAsync(string jobId)
    {
        if (await JobGrain(jobId).Get() is null) throw new KeyNotFoundException($"no job {jobId}");
        try
        {
            return ToProto(await FinishAsync(jobId, new JobCancelled("cancelled by request")));
        }
        catch (InvalidJobChangeException e)
        {
            throw new InvalidOperationException(e.Message + "; only pending or running jobs can be cancelled", e);
        }
    }

    public async Task<Job> GetAsync(string jobId) =>
        ToProto(await JobGrain(jobId).Get() ?? throw new KeyNotFoundException($"no job {jobId}"));

    /// <summary>Every job, newest first.</summary>
    public async Task<IReadOnlyList<Job>> ListAsync()
    {
        var ids = await Index.Jobs();
        var records = await Task.WhenAll(ids.Reverse().Select(id => JobGrain(id).Get()));
        return records.OfType<JobRecord>().Select(ToProto).ToList();
    }

    /// <summary>The prepared dataset file with this digest, if the coordinator holds one.</summary>
    public PreparedDataset? Dataset(string digest)
    {
        lock (_sync) return _datasets.Values.FirstOrDefault(d => d.Digest == digest);
    }

    /// <summary>Completes when anything changes after this call.</summary>
    public Task ChangedAsync(CancellationToken cancellationToken)
    {
        lock (_sync) return _changed.Task.WaitAsync(cancellationToken);
    }

    /// <summary>
    /// A failed rank's error as the job's reason, attributed to that rank once: collective errors already begin
    /// "rank R: " (the worker logs them as they are), so they are not prefixed again.
    /// </summary>
    public static string FailureReason(int rank, string error) =>
        error.StartsWith($"rank {rank}: ", StringComparison.Ordinal) ? error : $"rank {rank}: {error}";

    public static bool IsTerminal(JobStatus s) => s is JobStatus.Completed or JobStatus.Failed or JobStatus.Cancelled;

    // Ends a job in its grain (which refuses an illegal end), then frees its workers for the next job.
    private async Task<JobRecord> FinishAsync(string jobId, JobChange end)
    {
        var record = await JobGrain(jobId).Update(end);
        await Locked(async () =>
        {
            _pending.RemoveAll(p => p.Id == jobId);
            foreach (var w in _workers.Where(w => w.JobId == jobId))
            {
                w.JobId = null;
                w.Assigned = new TaskCompletionSource<Assignment>(TaskCreationOptions.RunContinuationsAsynchronously);
                await WorkerGrain(w.Id).Update(new WorkerReleased());
            }
            await AssignLockedAsync();
        });
        Signal();
        return record;
    }

    private async Task AssignLockedAsync()
    {
        if (_pending.Count == 0) return;
        var job = _pending[0];
        var idle = _workers.Where(w => w.JobId is null).Take(job.Spec.Workers).ToList();
        if (idle.Count < job.Spec.Workers) return;
        _pending.RemoveAt(0);
        long generation = await Index.NewGeneration();
        var addresses = idle.Select(w => w.Address).ToImmutableList();
        await JobGrain(job.Id).Update(new JobStarted(addresses, generation));
        DistTrainMetrics.WorldSize.Record(idle.Count, DistTrainMetrics.Job(job.Id));
        DistTrainMetrics.WorkerFailures.Add(0, DistTrainMetrics.Job(job.Id)); // the series exists from the start, at 0
        for (int rank = 0; rank < idle.Count; rank++)
        {
            idle[rank].JobId = job.Id;
            await WorkerGrain(idle[rank].Id).Update(new WorkerAssigned(job.Id, rank));
            var a = new Assignment
            {
                JobId = job.Id, Spec = job.Spec, Rank = rank, WorldSize = idle.Count, DatasetDigest = job.Data.Digest, Generation = generation,
            };
            a.Peers.AddRange(addresses);
            idle[rank].Assigned.TrySetResult(a);
        }
        Signal();
    }

    private async Task Locked(Func<Task> action)
    {
        await _gate.WaitAsync();
        try
        {
            await action();
        }
        finally
        {
            _gate.Release();
        }
    }

    private void Signal()
    {
        lock (_sync)
        {
            var old = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            old.TrySetResult();
        }
    }

    private WorkerEntry Worker(string id) =>
        _workers.FirstOrDefault(w => w.Id == id) ?? throw new KeyNotFoundException($"no worker {id}; register first");

    /// <summary>The wire form of a job record.</summary>
    public static Job ToProto(JobRecord r)
    {
        var job = new Job
        {
            Id = r.Id, Spec = JsonParser.Default.Parse<JobSpec>(r.Spec), Status = ToProto(r.Phase), Error = r.Error, Epoch = r.Epoch,
            Step = r.Step, StepsPerEpoch = r.StepsPerEpoch, Loss = r.Loss, Accuracy = r.Accuracy, SamplesPerSecond = r.SamplesPerSecond,
            TrainSamples = r.TrainSamples, TestSamples = r.TestSamples, Checkpoint = r.Checkpoint ?? "",
        };
        job.Workers.AddRange(r.Workers);
        job.History.AddRange(r.History.Select(e => new EpochSummary
        {
            Epoch = e.Epoch, Loss = e.Loss, Accuracy = e.Accuracy, TestLoss = e.TestLoss, TestAccuracy = e.TestAccuracy,
            SamplesPerSecond = e.SamplesPerSecond, Seconds = e.Seconds,
        }));
        return job;
    }

    private static JobStatus ToProto(JobPhase phase) => phase switch
    {
        JobPhase.Pending => JobStatus.Pending,
        JobPhase.Running => JobStatus.Running,
        JobPhase.Completed => JobStatus.Completed,
        JobPhase.Failed => JobStatus.Failed,
        _ => JobStatus.Cancelled,
    };
}
