using DistTrain.Protos;

namespace DistTrain.Coordinator;

/// <summary>A dataset the coordinator has prepared for workers: its file, digest and sample shape.</summary>
public sealed record PreparedDataset(string Digest, string Path, int TrainSamples, int TestSamples, int[] SampleShape);

/// <summary>
/// The coordinator's jobs and workers, kept in memory (the job-state issue moves them into Orleans grains). Every
/// change happens under one lock; waiters (assignments, watchers) are released through task completions.
/// <para>
/// Assignment: the oldest pending job starts as soon as at least its worker count of idle workers has registered;
/// they take ranks in registration order, and the worker-set generation increases, so messages from an older set are
/// refused by the ring.
/// </para>
/// </summary>
public sealed class JobRegistry(Func<JobSpec, PreparedDataset> prepare)
{
    private sealed class WorkerEntry(string id, string address, int threads)
    {
        public string Id { get; } = id;
        public string Address { get; } = address;
        public int Threads { get; } = threads;
        public string? JobId { get; set; }
        public TaskCompletionSource<Assignment> Assigned { get; set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public DateTime LastSeen { get; set; } = DateTime.UtcNow;
    }

    private readonly object _lock = new();
    private readonly Dictionary<string, Job> _jobs = [];
    private readonly Dictionary<string, PreparedDataset> _datasets = [];
    private readonly List<WorkerEntry> _workers = [];
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _generation;
    private int _nextJob = 1, _nextWorker = 1;

    /// <summary>Validates and queues a job; it starts when enough workers are idle.</summary>
    public Job Submit(JobSpec spec)
    {
        if (spec.Workers < 1) throw new ArgumentException($"a job needs at least one worker, got {spec.Workers}");
        if (spec.Epochs < 1) throw new ArgumentException($"epochs must be at least 1, got {spec.Epochs}");
        if (spec.GlobalBatchSize < spec.Workers || spec.GlobalBatchSize % spec.Workers != 0)
            throw new ArgumentException($"a global batch of {spec.GlobalBatchSize} cannot be split evenly across {spec.Workers} workers; use a multiple of {spec.Workers}");
        var data = prepare(spec);
        ShardPlan.Validate(data.TrainSamples, spec.GlobalBatchSize, spec.Workers);
        JobModel.Build(spec, data.SampleShape); // the model must build for this data before anyone waits for it
        lock (_lock)
        {
            var job = new Job
            {
                Id = $"job-{_nextJob++}", Spec = spec, Status = JobStatus.Pending,
                StepsPerEpoch = ShardPlan.StepsPerEpoch(data.TrainSamples, spec.GlobalBatchSize),
                TrainSamples = data.TrainSamples, TestSamples = data.TestSamples,
            };
            _jobs[job.Id] = job;
            _datasets[job.Id] = data;
            AssignLocked();
            SignalLocked();
            return job.Clone();
        }
    }

    /// <summary>Adds a worker; returns its id.</summary>
    public string Register(string advertisedAddress, int threads)
    {
        if (!Uri.TryCreate(advertisedAddress, UriKind.Absolute, out _))
            throw new ArgumentException($"advertised address '{advertisedAddress}' is not an absolute URL such as http://10.0.0.5:7000");
        lock (_lock)
        {
            var w = new WorkerEntry($"worker-{_nextWorker++}", advertisedAddress, threads);
            _workers.Add(w);
            AssignLocked();
            return w.Id;
        }
    }

    /// <summary>Waits until the worker has a job, then returns its assignment.</summary>
    public Task<Assignment> WaitForAssignmentAsync(string workerId, CancellationToken cancellationToken)
    {
        lock (_lock) return Worker(workerId).Assigned.Task.WaitAsync(cancellationToken);
    }

    /// <summary>Records that a worker is alive; false when its job has ended and it should stop.</summary>
    public bool Heartbeat(string workerId)
    {
        lock (_lock)
        {
            var w = Worker(workerId);
            w.LastSeen = DateTime.UtcNow;
            return w.JobId is null || !IsTerminal(_jobs[w.JobId].Status);
        }
    }

    /// <summary>Applies a worker's progress report; false when the job has ended and the worker should stop.</summary>
    public bool Report(ProgressReport report)
    {
        lock (_lock)
        {
            var w = Worker(report.WorkerId);
            w.LastSeen = DateTime.UtcNow;
            if (!_jobs.TryGetValue(report.JobId, out var job)) throw new KeyNotFoundException($"no job {report.JobId}");
            if (IsTerminal(job.Status)) return false;
            if (report.Error.Length > 0)
            {
                Finish(job, JobStatus.Failed, $"rank {report.Rank}: {report.Error}");
                return false;
            }
            if (report.Rank == 0)
            {
                job.Epoch = report.Epoch;
                job.Step = report.Step;
                job.Loss = report.Loss;
                job.Accuracy = report.Accuracy;
                job.SamplesPerSecond = report.SamplesPerSecond;
                if (report.EpochDone)
                    job.History.Add(new EpochSummary
                    {
                        Epoch = report.Epoch, Loss = report.Loss, Accuracy = report.Accuracy, TestLoss = report.TestLoss,
                        TestAccuracy = report.TestAccuracy, SamplesPerSecond = report.SamplesPerSecond, Seconds = report.EpochSeconds,
                    });
                if (report.Finished) Finish(job, JobStatus.Completed, "");
            }
            SignalLocked();
            return true;
        }
    }

    public Job Cancel(string jobId)
    {
        lock (_lock)
        {
            var job = JobLocked(jobId);
            if (IsTerminal(job.Status))
                throw new InvalidOperationException($"{jobId} has already ended ({job.Status}); only pending or running jobs can be cancelled");
            Finish(job, JobStatus.Cancelled, "cancelled by request");
            return job.Clone();
        }
    }

    public Job Get(string jobId)
    {
        lock (_lock) return JobLocked(jobId).Clone();
    }

    public IReadOnlyList<Job> List()
    {
        lock (_lock) return _jobs.Values.Reverse().Select(j => j.Clone()).ToList();
    }

    /// <summary>The prepared dataset file with this digest, if the coordinator holds one.</summary>
    public PreparedDataset? Dataset(string digest)
    {
        lock (_lock) return _datasets.Values.FirstOrDefault(d => d.Digest == digest);
    }

    /// <summary>Completes when anything changes after this call.</summary>
    public Task ChangedAsync(CancellationToken cancellationToken)
    {
        lock (_lock) return _changed.Task.WaitAsync(cancellationToken);
    }

    public static bool IsTerminal(JobStatus s) => s is JobStatus.Completed or JobStatus.Failed or JobStatus.Cancelled;

    private void Finish(Job job, JobStatus status, string error)
    {
        job.Status = status;
        job.Error = error;
        foreach (var w in _workers.Where(w => w.JobId == job.Id))
        {
            // Free the worker for the next job with a fresh assignment slot.
            w.JobId = null;
            w.Assigned = new TaskCompletionSource<Assignment>(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        SignalLocked();
    }

    private void AssignLocked()
    {
        var job = _jobs.Values.FirstOrDefault(j => j.Status == JobStatus.Pending);
        if (job is null) return;
        var idle = _workers.Where(w => w.JobId is null).Take(job.Spec.Workers).ToList();
        if (idle.Count < job.Spec.Workers) return;
        long generation = ++_generation;
        job.Status = JobStatus.Running;
        job.Workers.Clear();
        job.Workers.AddRange(idle.Select(w => w.Address));
        var data = _datasets[job.Id];
        for (int rank = 0; rank < idle.Count; rank++)
        {
            idle[rank].JobId = job.Id;
            var a = new Assignment
            {
                JobId = job.Id, Spec = job.Spec, Rank = rank, WorldSize = idle.Count, DatasetDigest = data.Digest, Generation = generation,
            };
            a.Peers.AddRange(job.Workers);
            idle[rank].Assigned.TrySetResult(a);
        }
    }

    private void SignalLocked()
    {
        var old = _changed;
        _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        old.TrySetResult();
    }

    private WorkerEntry Worker(string id) =>
        _workers.FirstOrDefault(w => w.Id == id) ?? throw new KeyNotFoundException($"no worker {id}; register first");

    private Job JobLocked(string id) => _jobs.TryGetValue(id, out var j) ? j : throw new KeyNotFoundException($"no job {id}");
}
