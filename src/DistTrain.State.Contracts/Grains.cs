using System.Collections.Immutable;
using Orleans.Concurrency;

namespace DistTrain.State;

/// <summary>
/// A job's record: spec, status, membership (worker ids, addresses, ranks, generation) and history. All changes go
/// through <see cref="Update"/>; when one ends the job, the grain tells the scheduler, which frees its workers.
/// </summary>
public interface IJobGrain : IGrainWithStringKey
{
    /// <summary>The record, or null when no job has this id.</summary>
    Task<JobRecord?> Get();

    /// <summary>Applies a change (see <see cref="JobTransitions"/>) and stores the result before returning it.</summary>
    Task<JobRecord> Update(JobChange change);

    /// <summary>The per-step curve of the job's training loss, throughput and step time, bounded (see <see cref="StepSeries"/>).</summary>
    Task<StepSeries> Series();

    /// <summary>
    /// A member's grain found it lost (or restarted): the job goes on without it on a new worker set, or waits for
    /// workers when that would leave fewer than its minimum.
    /// </summary>
    [OneWay]
    Task MemberLost(string workerId, string reason);

    /// <summary>
    /// A member's ring of <paramref name="generation"/> broke, pointing at <paramref name="suspectRank"/> (or −1). The
    /// grain gathers the members' reports: once every member has reported or is suspected (or a short window has
    /// passed), those that did not report are dropped and the rest form the next generation.
    /// </summary>
    Task ReportBroken(string workerId, long generation, int suspectRank, string reason);

    /// <summary>
    /// The record once its generation is after <paramref name="after"/> or the job has ended, within
    /// <paramref name="wait"/>; the record as it is when the wait ends first. Interleaves, as a long poll must.
    /// </summary>
    [AlwaysInterleave]
    Task<JobRecord?> WaitForGeneration(long after, TimeSpan wait);

    /// <summary>
    /// A worker joins a running job below its target: it is added last, and the next generation includes it. Returns
    /// its rank, or −1 when the job does not take it (ended, full, or already a member).
    /// </summary>
    Task<int> Join(string workerId, string address);
}

/// <summary>
/// One worker, keyed by the worker's own stable id: its address, phase and job, and its liveness. Heartbeats refresh
/// it; a grain timer marks it <see cref="WorkerPhase.Lost"/> after missed beats and tells its job.
/// </summary>
public interface IWorkerGrain : IGrainWithStringKey
{
    /// <summary>The record, its last heartbeat as this activation heard it.</summary>
    Task<WorkerRecord?> Get();

    /// <summary>
    /// The record when the worker may be placed now: idle, live, and heard from by this activation. After a coordinator
    /// restart a worker that has not beaten yet may be dead, so it waits out its grace unplaced.
    /// </summary>
    Task<WorkerRecord?> Available();

    /// <summary>
    /// Registers, or registers again: the same identity replaces its old entry. From a new incarnation while training,
    /// the old process is gone, so its job learns that the member was lost.
    /// </summary>
    Task<WorkerRecord> Register(string address, int threads, string incarnation, string? secretHash = null, string? launch = null);

    /// <summary>The worker is alive, and trained this many samples a second since its last beat; false when its job
    /// has ended. Throws <see cref="UnknownWorkerException"/> when it is not registered, lost or left.</summary>
    Task<bool> Heartbeat(double samplesPerSecond = 0);

    /// <summary>The scheduler placed it in a job at a rank, or its job's worker set changed and it has another rank.
    /// Placing it again in the same job at the same rank is a no-op, so that a placement cut short by a crash can be finished.</summary>
    Task Assign(string jobId, int rank);

    /// <summary>Done with a job (it ended, or the worker says it is through with it): idle again if it was still in that
    /// job. True when it was.</summary>
    Task<bool> Release(string jobId);

    /// <summary>It shuts down on purpose; returns the record as it was, so the caller can fail its job.</summary>
    Task<WorkerRecord> Leave(string reason);

    /// <summary>
    /// The job it is placed in, other than <paramref name="finishedJob"/> (the one it has just run), as soon as there is
    /// one, within <paramref name="wait"/>; null if none came. Interleaves, so that Assign can run while it waits.
    /// </summary>
    [AlwaysInterleave]
    Task<string?> WaitForJob(string? finishedJob, TimeSpan wait);
}

/// <summary>
/// The cluster's one scheduler (key "scheduler"): the pending queue, the registered workers in order, and placement,
/// which gives the oldest pending job the first idle live workers as soon as there are enough of them.
/// </summary>
public interface ISchedulerGrain : IGrainWithStringKey
{
    /// <summary>
    /// Wakes the scheduler and places what can be placed. Every coordinator calls it every few seconds, so that the
    /// scheduler (and its timer, which watches every worker) is active somewhere even after the silo it lived on died.
    /// </summary>
    Task Start();

    /// <summary>Queues a submitted job, and places what can be placed.</summary>
    Task Enqueue(string jobId);

    /// <summary>A worker registered (or registered again): it is known from now on, and may take a pending job.</summary>
    Task WorkerAvailable(string workerId);

    /// <summary>A job ended: its workers are freed and the next pending job placed.</summary>
    [OneWay]
    Task JobEnded(string jobId);

    /// <summary>A running job is below its target: idle workers join it, before any pending job is placed.</summary>
    [OneWay]
    Task NeedsWorkers(string jobId);

    /// <summary>Every worker ever registered, in registration order.</summary>
    Task<ImmutableList<string>> Workers();
}

/// <summary>
/// The cluster's id counters and its list of jobs, in one grain (key "coordinator") so that ids and generations keep
/// counting up across restarts.
/// </summary>
public interface IJobIndexGrain : IGrainWithStringKey
{
    /// <summary>Reserves the next job id and lists it.</summary>
    Task<string> NewJob();

    /// <summary>The job of a launch: the one it already has, else a new id, kept as the launch's.</summary>
    Task<string> JobForLaunch(string launch);

    /// <summary>An id for a worker that did not bring its own.</summary>
    Task<string> NewWorker();

    /// <summary>The next worker-set generation, larger than any handed out before.</summary>
    Task<long> NewGeneration();

    /// <summary>Every job id, oldest first.</summary>
    Task<ImmutableList<string>> Jobs();
}
