using System.Collections.Immutable;
using DistTrain.Data;
using DistTrain.Engine.Model;
using DistTrain.Engine.Spec;
using DistTrain.Protos;
using DistTrain.State;
using DistTrain.Telemetry;
using Google.Protobuf;
using DistTrain.Protos.Security;

namespace DistTrain.Coordinator;

/// <summary>A dataset the coordinator has prepared for workers: its file, digest and sample shape.</summary>
/// <param name="TrainLabels">What the training split's labels are, when known, to check a job's model against (<see cref="TargetCheck"/>).</param>
public sealed record PreparedDataset(string Digest, string Path, int TrainSamples, int TestSamples, int[] SampleShape, LabelStats? TrainLabels = null);

/// <summary>
/// The coordinator's side of the job and worker APIs: a thin adapter over the grains, where every decision is made and
/// kept. <see cref="IJobGrain"/> holds a job's status and membership, <see cref="IWorkerGrain"/> a worker's phase and
/// liveness, and <see cref="ISchedulerGrain"/> the pending queue and placement. Nothing here outlives a restart or
/// matters to another coordinator of the same cluster, apart from the prepared datasets (found again on disk by digest)
/// and the signal that wakes this process's watchers.
/// </summary>
public sealed class JobRegistry(IGrainFactory grains, Func<JobSpec, PreparedDataset> prepare, Func<string, PreparedDataset?>? findDataset = null,
    Checkpoints.CheckpointKeeper? checkpoints = null)
{
    /// <summary>How long one call into a worker grain waits for an assignment; the caller asks again until it has one.</summary>
    private static readonly TimeSpan AssignmentPoll = TimeSpan.FromSeconds(20);

    /// <summary>How long a job below its minimum waits for workers unless its spec says otherwise.</summary>
    public const int DefaultWaitForWorkersSeconds = 60;

    /// <summary>The most workers a job may ask for.</summary>
    public const int MaxWorkers = 1024;

    // At most 80 characters of what a caller sent, for an error message.
    private static string Clip(string text) => text.Length <= 80 ? text : text[..77] + "...";

    /// <summary>Checkpoints a job keeps unless its spec says otherwise.</summary>
    public const int DefaultKeepCheckpoints = 3;

    private readonly object _sync = new();
    private readonly Dictionary<string, PreparedDataset> _datasets = [];
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private IJobIndexGrain Index => grains.GetGrain<IJobIndexGrain>(JobIndexGrain.Key);
    private ISchedulerGrain Scheduler => grains.GetGrain<ISchedulerGrain>(SchedulerGrain.Key);
    private IJobGrain JobGrain(string id) => grains.GetGrain<IJobGrain>(id);
    private IWorkerGrain WorkerGrain(string id) => grains.GetGrain<IWorkerGrain>(id);

    /// <summary>Validates and queues a job; the scheduler starts it when enough workers are idle.</summary>
    public async Task<Job> SubmitAsync(JobSpec spec)
    {
        if (spec.Workers < 1 || spec.Workers > MaxWorkers) throw new ArgumentException($"a job needs at least one worker and at most {MaxWorkers}, got {spec.Workers}");
        if (spec.Epochs < 1 || spec.Epochs > SpecLimits.MaxEpochs) throw new ArgumentException($"epochs must be between 1 and {SpecLimits.MaxEpochs:N0}, got {spec.Epochs}");
        if (spec.GlobalBatchSize < 0) throw new ArgumentException($"the global batch size must be at least 1, got {spec.GlobalBatchSize}");
        if (spec.ThreadsPerWorker is < 0 or > 1024) throw new ArgumentException($"threads per worker must be between 1 and 1024, got {spec.ThreadsPerWorker}");
        if (spec.Name.Length > 100 || spec.Name.Any(char.IsControl))
            throw new ArgumentException($"a job's name is at most 100 characters, none of them control characters, got '{Clip(spec.Name)}'");
        // The model is a preset's name or the spec's JSON, never a path: a job must not make the coordinator (or its
        // workers) read a file of theirs. `submit --model FILE` sends the file's JSON. A launched job's model is its
        // program's; the spec's copy is only shown.
        string modelText = spec.Model.Trim();
        if (spec.LaunchId.Length == 0 && !modelText.StartsWith('{') && !Presets.TryGet(modelText, out _))
            throw new ArgumentException($"the job's model must be a preset ({string.Join(", ", Presets.Names)}) or a model spec as JSON, got '{Clip(modelText)}'");
        if (spec.MinWorkers < 0 || spec.MinWorkers > spec.Workers)
            throw new ArgumentException($"--min-workers must be between 1 and the job's {spec.Workers} workers, got {spec.MinWorkers}");
        if (spec.WaitForWorkersSeconds < 0) throw new ArgumentException($"--wait-for-workers must be at least 0 s, got {spec.WaitForWorkersSeconds}");
        if (spec.CheckpointEvery < 0) throw new ArgumentException($"--checkpoint-every must be at least 0 steps (0: every epoch), got {spec.CheckpointEvery}");
        if (spec.KeepCheckpoints is < 0 or > 1000) throw new ArgumentException($"--keep-checkpoints must be between 1 and 1000, got {spec.KeepCheckpoints}");
        if (spec.MaxRestarts is < 0 or > 1000) throw new ArgumentException($"--max-restarts must be between 0 and 1000, got {spec.MaxRestarts}");
        if (spec.HasMaxSkippedSteps && spec.MaxSkippedSteps < 0) throw new ArgumentException($"--max-skipped-steps must be at least 0, got {spec.MaxSkippedSteps}");
        if (spec.LaunchId.Length > 0) return await SubmitLaunchedAsync(spec);
        var data = prepare(spec);
        ShardPlan.Validate(data.TrainSamples, spec.GlobalBatchSize, spec.Workers);
        var model = ModelSpec.ForData(spec.Model, spec.Seed, data.SampleShape, spec.Optimizer); // the model must build for this data before anyone waits for it
        if (!data.SampleShape.AsSpan().SequenceEqual(model.InputShape))
            throw new ArgumentException($"the model expects inputs {Engine.Layers.Layer.FormatShape(model.InputShape)}, but {UploadedDataset.DisplayName(spec.Dataset)} samples are {Engine.Layers.Layer.FormatShape(data.SampleShape)}");
        if (data.TrainLabels is { } labels) TargetCheck.Check(model, labels, $"{UploadedDataset.DisplayName(spec.Dataset)}'s training split");
        int stepsPerEpoch = ShardPlan.StepsPerEpoch(data.TrainSamples, spec.GlobalBatchSize);
        var resume = (From: (ImmutableList<CheckpointRecord>?)null, Warnings: (ImmutableList<string>?)null, History: (ImmutableList<EpochRecord>?)null);
        if (spec.ResumeFrom.Length > 0)
            resume = await (checkpoints ?? throw new InvalidOperationException("this coordinator keeps no checkpoints")).ResumeAsync(spec, model, data.Digest, stepsPerEpoch, CancellationToken.None);
        lock (_sync) _datasets[data.Digest] = data;
        string id = await Index.NewJob();
        await JobGrain(id).Update(new JobSubmitted(JsonFormatter.Default.Format(spec),
            stepsPerEpoch, data.TrainSamples, data.TestSamples, data.Digest, spec.Workers,
            Math.Max(1, spec.MinWorkers), spec.WaitForWorkersSeconds > 0 ? spec.WaitForWorkersSeconds : DefaultWaitForWorkersSeconds,
            spec.KeepCheckpoints > 0 ? spec.KeepCheckpoints : DefaultKeepCheckpoints, spec.MaxRestarts, resume.From, resume.Warnings, resume.History));
        await Scheduler.Enqueue(id);
        Signal();
        return await GetAsync(id);
    }

    /// <summary>
    /// A job of a user's own program (`disttrain launch`): each rank submits it with the launch's id and the settings
    /// its Fit call was given. The first submit creates the job; the others get the same job, provided their settings
    /// agree, so that every rank trains the same plan. The model and the data are the program's: the coordinator never
    /// sees them, and takes the sample counts from the spec.
    /// </summary>
    private async Task<Job> SubmitLaunchedAsync(JobSpec spec)
    {
        if (spec.LaunchId.Length > 100 || !spec.LaunchId.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            throw new ArgumentException($"launch id '{Clip(spec.LaunchId)}' must be at most 100 letters, digits, '-', '_' or '.'");
        if (spec.TrainSamples < 1 || spec.TestSamples < 0)
            throw new ArgumentException($"a launched job needs at least one training sample and no negative count of test samples, got {spec.TrainSamples} and {spec.TestSamples}");
        if (spec.ResumeFrom.Length > 0) throw new ArgumentException("a launched job cannot resume another job's checkpoint");
        ShardPlan.Validate(spec.TrainSamples, spec.GlobalBatchSize, spec.Workers);
        string id = await Index.JobForLaunch(spec.LaunchId);
        var submitted = new JobSubmitted(JsonFormatter.Default.Format(spec), ShardPlan.StepsPerEpoch(spec.TrainSamples, spec.GlobalBatchSize),
            spec.TrainSamples, spec.TestSamples, "", spec.Workers, Math.Max(1, spec.MinWorkers),
            spec.WaitForWorkersSeconds > 0 ? spec.WaitForWorkersSeconds : DefaultWaitForWorkersSeconds,
            spec.KeepCheckpoints > 0 ? spec.KeepCheckpoints : DefaultKeepCheckpoints, spec.MaxRestarts, Launch: spec.LaunchId);
        try
        {
            // The job grain takes one change at a time: of ranks submitting at once, one creates the job and the rest find it.
            await JobGrain(id).Update(submitted);
            await Scheduler.Enqueue(id);
            Signal();
            return await GetAsync(id);
        }
        catch (InvalidJobChangeException)
        {
        }
        var job = await GetAsync(id);
        var first = job.Spec;
        foreach (var (what, mine, theirs) in new[]
                 {
                     ("epochs", spec.Epochs, first.Epochs), ("batch size", spec.GlobalBatchSize, first.GlobalBatchSize), ("seed", spec.Seed, first.Seed),
                     ("world size", spec.Workers, first.Workers), ("training samples", spec.TrainSamples, first.TrainSamples),
                     ("test samples", spec.TestSamples, first.TestSamples),
                 })
            if (mine != theirs)
                throw new ArgumentException($"launch {spec.LaunchId}: this rank's {what} is {mine}, but {id} was submitted with {theirs}; every rank must run the same program on the same data");
        if (spec.DataDigest != first.DataDigest)
            throw new ArgumentException($"launch {spec.LaunchId}: this rank's data hashes to {Clip(spec.DataDigest)}, but {id}'s first rank's to {Clip(first.DataDigest)}; every rank must train on the same samples in the same order");
        if (job.Status is JobStatus.Completed or JobStatus.Failed or JobStatus.Cancelled)
            throw new ArgumentException($"launch {spec.LaunchId}'s job {id} has already ended ({job.Status}); a new run needs a new launch id");
        return job;
    }

    /// <summary>
    /// Adds a worker, or takes it back under the identity it brings (<paramref name="workerId"/>; null: a new id);
    /// returns its id.
    /// </summary>
    public async Task<string> RegisterAsync(string advertisedAddress, int threads, string? workerId = null, string? incarnation = null) =>
        (await RegisterWithSecretAsync(advertisedAddress, threads, workerId, incarnation, null)).Id;

    /// <summary>
    /// <see cref="RegisterAsync"/>, returning the worker's secret too. The same process registering again (its
    /// incarnation) and presenting its current secret keeps it, so its calls already on their way stay good; any other
    /// registration gets a new one, and the old one stops working.
    /// </summary>
    /// <param name="launch">A launched job's rank registers with its launch id, and trains that job alone.</param>
    public async Task<(string Id, string Secret)> RegisterWithSecretAsync(string advertisedAddress, int threads, string? workerId, string? incarnation,
        string? presentedSecret, bool requireHttps = false, string? launch = null)
    {
        if (!Uri.TryCreate(advertisedAddress, UriKind.Absolute, out var advertised) || advertised.Scheme is not ("http" or "https"))
            throw new ArgumentException($"advertised address '{advertisedAddress}' is not an absolute URL (http:// or https://) such as http://10.0.0.5:7000");
        if (requireHttps && advertised.Scheme != "https")
            throw new ArgumentException($"advertised address '{advertisedAddress}': this cluster serves TLS, so peers must reach the worker at an https:// URL");
        if (string.IsNullOrEmpty(workerId)) workerId = await Index.NewWorker();
        else if (workerId.Length > 100 || !workerId.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            throw new ArgumentException($"worker id '{workerId}' must be at most 100 letters, digits, '-', '_' or '.'");
        incarnation = string.IsNullOrEmpty(incarnation) ? Guid.NewGuid().ToString("N") : incarnation;
        var old = await WorkerGrain(workerId).Get();
        string secret = old is { SecretHash: { Length: > 0 } hash } && old.Incarnation == incarnation && WorkerSecret.MatchesHash(hash, presentedSecret)
            ? presentedSecret! : WorkerSecret.New();
        if (launch is { Length: > 100 }) throw new ArgumentException("a launch id is at most 100 characters");
        await WorkerGrain(workerId).Register(advertisedAddress, threads, incarnation, WorkerSecret.Hash(secret), string.IsNullOrEmpty(launch) ? null : launch);
        await Scheduler.WorkerAvailable(workerId);
        Signal();
        return (workerId, secret);
    }

    /// <summary>
    /// The record of the worker a call speaks for, once the call has shown its secret: unknown workers are told to
    /// register (as ever), a missing or wrong secret is refused (<see cref="System.Security.Authentication.AuthenticationException"/>).
    /// </summary>
    public async Task<WorkerRecord> AuthenticateAsync(string workerId, string? presentedSecret)
    {
        var record = await WorkerGrain(workerId).Get() ?? throw new UnknownWorkerException($"no worker {workerId}; register first");
        // Registered before workers had secrets (state from an older coordinator): it registers again and gets one.
        if (string.IsNullOrEmpty(record.SecretHash)) throw new UnknownWorkerException($"{workerId} registered without a secret; register again");
        if (!WorkerSecret.MatchesHash(record.SecretHash, presentedSecret))
            throw new System.Security.Authentication.AuthenticationException(presentedSecret is null
                ? $"the call speaks for {workerId} but carries no worker secret ({WorkerSecret.Header}: the secret its registration returned)"
                : $"the worker secret is not {workerId}'s");
        return record;
    }

    /// <summary>
    /// Whether <paramref name="worker"/> is a member of <paramref name="job"/> now: listed in its worker set, and its own
    /// grain placed in it. Both: a stranger who re-registers a member's id (a fresh record, placed nowhere) is no member
    /// even in the moment before the job drops the id.
    /// </summary>
    public static bool IsMember(WorkerRecord worker, JobRecord job) => job.WorkerIds.Contains(worker.Id) && worker.JobId == job.Id;

    /// <summary>
    /// Throws <see cref="UnauthorizedAccessException"/> unless <paramref name="worker"/> is, or was until it was dropped,
    /// a member of <paramref name="job"/>: a worker speaks only for its own job.
    /// </summary>
    public static void CheckBelongs(WorkerRecord worker, JobRecord job)
    {
        if (!job.WorkerIds.Contains(worker.Id) && worker.JobId != job.Id)
            throw new UnauthorizedAccessException($"{worker.Id} is not a member of {job.Id}; a worker speaks only for its own job");
    }

    /// <summary>
    /// Waits until the worker has a job other than <paramref name="finishedJob"/>, then returns its assignment. The
    /// worker is through with <paramref name="finishedJob"/> as of <paramref name="finishedGeneration"/>, so it is
    /// released from it first: its release does not hang on the scheduler hearing that the job ended. Unless the job
    /// has taken it back since, in a later worker set: then that job is its assignment.
    /// </summary>
    public async Task<Assignment> WaitForAssignmentAsync(string workerId, CancellationToken cancellationToken, string? finishedJob = null,
        long finishedGeneration = 0)
    {
        // Released, the worker may be placed in any job from here on, the one it left included (a running job below its
        // target takes it back as a joiner). A worker thought lost while its ring trained on may have been taken back
        // already, before its old ring's end told it it was out: releasing it then would leave the job waiting on a
        // member that no longer trains it (for ever, when it is every member).
        if (!string.IsNullOrEmpty(finishedJob) && !await TakenBackAsync(workerId, finishedJob, finishedGeneration)
            && await WorkerGrain(workerId).Release(finishedJob))
            await Scheduler.WorkerAvailable(workerId);
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (await WorkerGrain(workerId).WaitForJob(null, AssignmentPoll).WaitAsync(cancellationToken) is not { } jobId) continue;
            var job = await JobGrain(jobId).Get() ?? throw new KeyNotFoundException($"no job {jobId}");
            // Joined a job that waits below its minimum: it trains once enough workers are there.
            while (job is { Phase: JobPhase.Running, ShortSinceUtc: not null })
                job = await JobGrain(jobId).WaitForGeneration(job.Generation, AssignmentPoll).WaitAsync(cancellationToken) ?? job;
            if (job.WorkerIds.IndexOf(workerId) < 0 || job.IsFinal)
            {
                // Placed in a job that does not list it (a placement the job refused, or it dropped this worker since; the
                // job lists its members before their grains are told, so never the other way round), or one that has
                // ended: the worker grain is released here, which a scheduler that did not hear of it would not do, and
                // it looks again shortly rather than spin.
                if (await WorkerGrain(workerId).Release(jobId)) await Scheduler.WorkerAvailable(workerId);
                await Task.Delay(TimeSpan.FromMilliseconds(500), cancellationToken);
                continue;
            }
            var a = AssignmentFor(job, workerId);
            DistTrainMetrics.WorldSize.Record(a.WorldSize, DistTrainMetrics.Job(jobId));
            DistTrainMetrics.WorkerFailures.Add(0, DistTrainMetrics.Job(jobId)); // the series exists from the start, at 0
            DistTrainMetrics.MembershipChanges.Add(0, DistTrainMetrics.Job(jobId));
            DistTrainMetrics.SkippedSteps.Add(0, DistTrainMetrics.Job(jobId));
            return a;
        }
    }

    // Whether a running job lists the worker in a worker set formed after the one it last knew.
    private async Task<bool> TakenBackAsync(string workerId, string jobId, long knownGeneration) =>
        knownGeneration > 0 && await JobGrain(jobId).Get() is { IsFinal: false } job && job.Generation > knownGeneration && job.WorkerIds.Contains(workerId);

    /// <summary>
    /// A member's long poll for the job's next worker set (see the proto): its assignment in a generation after
    /// <paramref name="generation"/>, or the current one when nothing changed within the poll.
    /// </summary>
    public async Task<Assignment> NextGenerationAsync(string workerId, string jobId, long generation, CancellationToken cancellationToken)
    {
        var job = await JobGrain(jobId).WaitForGeneration(generation, AssignmentPoll).WaitAsync(cancellationToken)
            ?? throw new KeyNotFoundException($"no job {jobId}");
        // A worker that is not a member (dropped, or never one) learns that it is out: rank -1, and no ring secret.
        var worker = await WorkerGrain(workerId).Get();
        return AssignmentFor(job, worker is not null && IsMember(worker, job) ? workerId : "");
    }

    /// <summary>A member's ring broke; the job's grain gathers the reports and decides the next worker set.</summary>
    public async Task ReportBrokenAsync(BrokenRingReport report)
    {
        var worker = await WorkerGrain(report.WorkerId).Get() ?? throw new UnknownWorkerException($"no worker {report.WorkerId}; register first");
        var job = await RecordAsync(report.JobId);
        CheckBelongs(worker, job);
        if (!IsMember(worker, job)) return; // dropped already: its report changes nothing
        await JobGrain(report.JobId).ReportBroken(report.WorkerId, report.Generation, report.SuspectRank, report.Reason);
        Signal();
    }

    // What a worker is to do in a job as its record stands: its rank and peers, or that it is out, or waits, or stops.
    private static Assignment AssignmentFor(JobRecord job, string workerId)
    {
        int rank = job.WorkerIds.IndexOf(workerId);
        var a = new Assignment
        {
            JobId = job.Id, Spec = JsonParser.Default.Parse<JobSpec>(job.Spec), Rank = rank, WorldSize = job.WorkerIds.Count,
            DatasetDigest = job.DatasetDigest, Generation = job.Generation, Ended = job.IsFinal, Waiting = job.ShortSinceUtc is not null,
            // Only this generation's members learn its ring's secret.
            RingSecret = rank >= 0 && !job.IsFinal ? job.RingSecret ?? "" : "",
        };
        a.Peers.AddRange(job.Workers);
        a.Checkpoints.AddRange(job.StartingPoints().Select(c => c.Digest));
        return a;
    }

    /// <summary>Records that a worker is alive, and its throughput; false when its job has ended and it should stop.</summary>
    public Task<bool> HeartbeatAsync(string workerId, double samplesPerSecond = 0) => WorkerGrain(workerId).Heartbeat(samplesPerSecond);

    /// <summary>
    /// A worker shuts down: its grain is marked Left (it is never assigned again), and a job it was training loses it
    /// at once, before any ring link breaks: the job goes on without it, or waits (and fails) below its minimum. A
    /// worker that leaves after running <paramref name="finishedJob"/> to its end (as of <paramref name="finishedGeneration"/>)
    /// is first released from it, unless the job has taken it back since: then its leaving is a loss to the job.
    /// </summary>
    public async Task LeaveAsync(string workerId, string reason, string? finishedJob = null, long finishedGeneration = 0)
    {
        if (!string.IsNullOrEmpty(finishedJob) && !await TakenBackAsync(workerId, finishedJob, finishedGeneration))
            await WorkerGrain(workerId).Release(finishedJob);
        var was = await WorkerGrain(workerId).Leave(reason);
        if (was.JobId is not null)
        {
            DistTrainMetrics.WorkerFailures.Add(1, DistTrainMetrics.Job(was.JobId));
            await JobGrain(was.JobId).MemberLost(workerId, $"{workerId} left: {reason}");
        }
        Signal();
    }

    /// <summary>Applies a worker's progress report; false when the job has ended and the worker should stop.</summary>
    public async Task<bool> ReportAsync(ProgressReport report)
    {
        var worker = await WorkerGrain(report.WorkerId).Get() ?? throw new UnknownWorkerException($"no worker {report.WorkerId}; register first");
        var grain = JobGrain(report.JobId);
        var job = await grain.Get() ?? throw new KeyNotFoundException($"no job {report.JobId}");
        CheckBelongs(worker, job);
        if (job.IsFinal) return false;
        // A worker the job went on without (dropped from its worker set) no longer speaks for it: a report it was still
        // retrying, or its error, changes nothing. Refused, not answered "stop": a stop it passed on to a ring that is
        // still training would end that ring's members' work for a job that goes on (it learns it is out from its long poll).
        if (!IsMember(worker, job))
            throw new UnauthorizedAccessException($"{report.WorkerId} is no longer a member of {report.JobId}; its report changes nothing");
        int rank = job.WorkerIds.IndexOf(report.WorkerId);
        try
        {
            // A failure is a member's whatever rank it last knew (ranks move when a lower one is dropped); it is named by
            // the rank it has now.
            if (report.Error.Length > 0)
            {
                DistTrainMetrics.WorkerFailures.Add(1, DistTrainMetrics.Job(report.JobId));
                await EndAsync(report.JobId, new JobFailed(FailureReason(rank, report.Error)));
                return false;
            }
            if (rank != report.Rank)
                throw new UnauthorizedAccessException(
                    $"{report.WorkerId} is rank {rank} of {report.JobId} (generation {job.Generation}), not rank {report.Rank}; a worker reports only for its own rank");
            if (report.Rank != 0) return true;
            if (report.SkippedSteps > job.SkippedSteps)
            {
                DistTrainMetrics.SkippedSteps.Add(report.SkippedSteps - job.SkippedSteps, DistTrainMetrics.Job(report.JobId));
                await grain.Update(new JobStepsSkipped(report.SkippedSteps));
            }
            if (report.RecoveredGeneration > 0)
            {
                DistTrainMetrics.MembershipChanges.Add(1, DistTrainMetrics.Job(report.JobId));
                DistTrainMetrics.Recovery.Record(report.RecoverySeconds, DistTrainMetrics.Job(report.JobId));
                await grain.Update(new JobRecovered(report.RecoveredGeneration, report.RecoverySeconds));
            }
            // An epoch reported again (by a re-formed ring's rank 0) changes nothing the job already has.
            bool known = job.History.Any(e => e.Epoch == report.Epoch);
            if (report.EpochDone && !report.Finished && known) return true;
            var tags = DistTrainMetrics.JobSplit(report.JobId, "train");
            DistTrainMetrics.Epoch.Record(report.Epoch, DistTrainMetrics.Job(report.JobId));
            DistTrainMetrics.Loss.Record(report.Loss, tags);
            if (report.EpochDone)
            {
                DistTrainMetrics.Accuracy.Record(report.Accuracy, tags);
                DistTrainMetrics.Loss.Record(report.TestLoss, DistTrainMetrics.JobSplit(report.JobId, "test"));
                DistTrainMetrics.Accuracy.Record(report.TestAccuracy, DistTrainMetrics.JobSplit(report.JobId, "test"));
                // A report retried across a coordinator restart, or sent again by a re-formed worker set's rank 0, may
                // arrive twice: an epoch is recorded once (the grain also refuses a second row).
                if (!known)
                    await grain.Update(new JobEpochEnded(new EpochRecord(report.Epoch, report.Loss, report.Accuracy, report.TestLoss,
                        report.TestAccuracy, report.SamplesPerSecond, report.EpochSeconds, report.Samples, report.LostSamples, report.DuplicatedSamples)));
                if (report.Finished) await grain.Update(new JobCompleted());
            }
            else
            {
                await grain.Update(new JobProgressed(report.Epoch, report.Step, report.Loss, report.Accuracy, report.SamplesPerSecond,
                    report.StepSeconds, report.AllreduceSeconds));
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
            var record = await JobGrain(jobId).Update(new JobCancelled("cancelled by request"));
            Signal();
            return ToProto(record);
        }
        catch (InvalidJobChangeException e)
        {
            throw new InvalidOperationException(e.Message + "; only pending or running jobs can be cancelled", e);
        }
    }

    public async Task<Job> GetAsync(string jobId) => ToProto(await RecordAsync(jobId));

    /// <summary>A job's record; throws naming it when there is none.</summary>
    public async Task<JobRecord> RecordAsync(string jobId) => await JobGrain(jobId).Get() ?? throw new KeyNotFoundException($"no job {jobId}");

    /// <summary>A job's record, or null when there is none.</summary>
    public Task<JobRecord?> FindAsync(string jobId) => JobGrain(jobId).Get();

    /// <summary>A job's per-step curve (empty for a job that has not trained).</summary>
    public Task<StepSeries> SeriesAsync(string jobId) => JobGrain(jobId).Series();

    /// <summary>A worker's record, with its last heartbeat; null when it never registered.</summary>
    public Task<WorkerRecord?> WorkerAsync(string workerId) => WorkerGrain(workerId).Get();

    /// <summary>Every job's record, newest first (only the newest <paramref name="newest"/> when given).</summary>
    public async Task<IReadOnlyList<JobRecord>> RecordsAsync(int newest = int.MaxValue)
    {
        var ids = await Index.Jobs();
        return (await Task.WhenAll(ids.Reverse().Take(newest).Select(id => JobGrain(id).Get()))).OfType<JobRecord>().ToList();
    }

    /// <summary>Every job, newest first.</summary>
    public async Task<IReadOnlyList<Job>> ListAsync() => (await RecordsAsync()).Select(ToProto).ToList();

    /// <summary>Every worker ever registered, in registration order.</summary>
    public async Task<IReadOnlyList<WorkerRecord>> WorkersAsync()
    {
        var ids = await Scheduler.Workers();
        var records = await Task.WhenAll(ids.Select(id => WorkerGrain(id).Get()));
        return records.OfType<WorkerRecord>().ToList();
    }

    /// <summary>
    /// The prepared dataset file with this digest: one this coordinator prepared, one found on its disk (a restart, or
    /// another coordinator on the same disk), or else one it prepares again from the spec of a job that trains on it
    /// (another coordinator of the cluster accepted the job and then died). Null when no job names the digest.
    /// </summary>
    public async Task<PreparedDataset?> DatasetAsync(string digest)
    {
        if (digest.Length == 0) return null; // a launched job's: it has no dataset (Fetch checks a digest's form)
        lock (_sync)
            if (_datasets.TryGetValue(digest, out var known)) return known;
        var found = findDataset?.Invoke(digest);
        if (found is null)
        {
            foreach (string id in (await Index.Jobs()).Reverse())
            {
                if (await JobGrain(id).Get() is not { } job || job.DatasetDigest != digest) continue;
                // An upload cannot be prepared again from its spec: it is on the disk of the coordinator that took it, or nowhere.
                if (UploadedDataset.TryParse(JsonParser.Default.Parse<JobSpec>(job.Spec).Dataset, out _, out _)) break;
                var again = await Task.Run(() => prepare(JsonParser.Default.Parse<JobSpec>(job.Spec)));
                if (again.Digest == digest) found = again;
                break;
            }
        }
        if (found is null) return null;
        lock (_sync) return _datasets[digest] = found;
    }

    /// <summary>
    /// Completes when anything changes through this coordinator after this call. Another coordinator's changes do not
    /// signal here, so watchers also look again every second.
    /// </summary>
    public Task ChangedAsync(CancellationToken cancellationToken)
    {
        lock (_sync) return _changed.Task.WaitAsync(cancellationToken);
    }

    /// <summary>
    /// The pace of a watcher (gRPC Watch, the page's event streams): waits for <paramref name="changed"/> (from
    /// <see cref="ChangedAsync"/>, taken before the watcher last looked) or <paramref name="most"/>, for changes made
    /// through another coordinator, which do not signal here; and at least <paramref name="least"/>, since progress
    /// arrives every step and a watcher needs a few updates a second.
    /// </summary>
    public static Task PaceAsync(Task changed, TimeSpan least, TimeSpan most, CancellationToken cancellationToken) =>
        Task.WhenAll(Task.WhenAny(changed, Task.Delay(most, cancellationToken)), Task.Delay(least, cancellationToken));

    /// <summary>
    /// A failed rank's error as the job's reason, attributed to that rank once: collective errors already begin
    /// "rank R: " (the worker logs them as they are), so they are not prefixed again.
    /// </summary>
    public static string FailureReason(int rank, string error) =>
        error.StartsWith($"rank {rank}: ", StringComparison.Ordinal) ? error : $"rank {rank}: {error}";

    public static bool IsTerminal(JobStatus s) => s is JobStatus.Completed or JobStatus.Failed or JobStatus.Cancelled;

    // Ends a job in its grain unless it has ended already (its last report, or another rank's failure came first).
    private async Task EndAsync(string jobId, JobChange end)
    {
        try
        {
            await JobGrain(jobId).Update(end);
        }
        catch (InvalidJobChangeException)
        {
        }
        Signal();
    }

    /// <summary>Wakes this coordinator's watchers: something changed outside the registry (a checkpoint stored).</summary>
    public void Changed() => Signal();

    private void Signal()
    {
        lock (_sync)
        {
            var old = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            old.TrySetResult();
        }
    }

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
        job.Generation = r.Generation;
        job.Restarts = r.Restarts;
        job.SkippedSteps = r.SkippedSteps;
        job.Checkpoints.AddRange((r.Checkpoints ?? []).Reverse().Select(Checkpoints.CheckpointKeeper.ToProto));
        job.History.AddRange(r.History.Select(e => new EpochSummary
        {
            Epoch = e.Epoch, Loss = e.Loss, Accuracy = e.Accuracy, TestLoss = e.TestLoss, TestAccuracy = e.TestAccuracy,
            SamplesPerSecond = e.SamplesPerSecond, Seconds = e.Seconds, Samples = e.Samples, LostSamples = e.LostSamples,
            DuplicatedSamples = e.DuplicatedSamples,
        }));
        job.Events.AddRange((r.Events ?? []).Select(e => new MembershipEvent
        {
            TimeUnixMs = UnixTime.Ms(e.TimeUtc), OldWorld = e.OldWorld,
            NewWorld = e.NewWorld, Reason = e.Reason, Epoch = e.Epoch, Step = e.Step, PauseSeconds = e.PauseSeconds, Generation = e.Generation,
            Kind = e.Kind ?? JobEvent.Membership,
        }));
        return job;
    }

    /// <summary>The wire form of a worker record.</summary>
    public static WorkerInfo ToProto(WorkerRecord r) => new()
    {
        Id = r.Id, Address = r.Address, Status = r.Phase.ToString().ToLowerInvariant(), JobId = r.JobId ?? "", Rank = r.Rank, Threads = r.Threads,
        LastHeartbeatUnixMs = UnixTime.Ms(r.LastHeartbeatUtc), Note = r.Note,
    };

    private static JobStatus ToProto(JobPhase phase) => phase switch
    {
        JobPhase.Pending => JobStatus.Pending,
        JobPhase.Running => JobStatus.Running,
        JobPhase.Completed => JobStatus.Completed,
        JobPhase.Failed => JobStatus.Failed,
        _ => JobStatus.Cancelled,
    };
}
