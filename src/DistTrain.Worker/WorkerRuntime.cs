using DistTrain.Collectives;
using DistTrain.Collectives.Grpc;
using DistTrain.Engine.Model;
using DistTrain.Engine.Spec;
using DistTrain.Data;
using DistTrain.Engine.Kernels;
using DistTrain.Protos;
using DistTrain.Telemetry;
using Grpc.Core;

namespace DistTrain.Worker;

/// <summary>Where a worker listens, what it advertises, and how it behaves.</summary>
/// <param name="Advertise">The URL peers reach this worker at; default: see <see cref="AdvertisedAddress"/>.</param>
/// <param name="Once">Exit after one job (what `disttrain local` uses), instead of waiting for the next.</param>
/// <param name="Security">The cluster token and TLS, for the worker's calls and its ring service.</param>
/// <param name="Launch">A rank of a launched job (`disttrain launch`): it registers with the launch's id and trains that job alone.</param>
public sealed record WorkerOptions(string Coordinator, string Bind = "0.0.0.0", int Port = 0, string? Advertise = null, int Threads = 1,
    bool Once = false, TimeSpan? CollectiveTimeout = null, Protos.Security.ClusterSecurity? Security = null, string? Launch = null);

/// <summary>What a user's own program trains (DistTrain.Distributed): its model, data and callbacks, instead of a job spec's.</summary>
public sealed record ProgramWorkload(Sequential Model, Dataset Data, FitCallbacks Callbacks);

/// <summary>
/// A worker process: serves its end of the ring, registers with the coordinator, waits for an assignment, fetches
/// the job's dataset by SHA-256 unless cached, trains its rank with <see cref="DistributedTrainer"/>, and reports
/// progress (rank 0 reports the combined figures). A failure is reported with the message that names the peer and step.
/// </summary>
public sealed class WorkerRuntime(WorkerOptions options, Action<string> log)
{
    /// <summary>Why the worker is stopping once its token is cancelled (e.g. "it received SIGTERM"), as told to the coordinator.</summary>
    public Func<string> StopReason { get; set; } = () => "it was asked to stop";

    /// <summary>A user's program's model and data, trained instead of the assignment's spec and dataset.</summary>
    public ProgramWorkload? Program { get; init; }

    /// <summary>This worker's rank in its latest job (−1 before the first).</summary>
    public int Rank { get; private set; } = -1;

    /// <summary>Why the last job failed on this worker, as it told the coordinator; null when none did.</summary>
    public string? Failure { get; private set; }

    private int _left;
    // The generation of its last job this worker last acted on: the coordinator hands that job back if it has since
    // taken the worker into a later worker set (JobRegistry.WaitForAssignmentAsync).
    private long _generation;
    private readonly string _incarnation = Guid.NewGuid().ToString("N");
    private readonly SemaphoreSlim _registering = new(1, 1);
    private string _advertise = "";
    // The secret of this worker's latest registration, which its calls carry; replaced when it registers anew.
    private volatile string? _secret;
    // When the coordinator last answered this worker (a registration or a heartbeat), in Environment.TickCount64 ms.
    private long _answeredAt = long.MinValue / 2;
    // What this worker trains per second, which its heartbeats carry.
    private readonly SampleRate _rate = new();

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        Threading.Threads = options.Threads;
        FaultInjection.Read();
        using var identity = WorkerIdentity.Acquire(DataCache.Root);
        string id = identity.Id;
        var outbox = new RingOutbox(options.CollectiveTimeout);
        var (host, bound) = await CollectiveHost.StartAsync(options.Bind, options.Port, outbox, cancellationToken, options.Security, log,
            notReady: NotReady);
        await using var ringHost = host;
        _advertise = options.Advertise ?? AdvertisedAddress.For(bound);
        using var channel = CoordinatorChannel.Create(options.Coordinator, retry: true, options.Security, () => _secret);
        var workers = new Workers.WorkersClient(channel);
        log($"{id}: serving the ring at {_advertise}; registering with {options.Coordinator} (waiting for it if it is not up yet)");
        await RegisterAsync(workers, id, cancellationToken);
        log($"{id}: registered with {options.Coordinator}");
        using var heartbeats = new CancellationTokenSource();
        var heartbeat = HeartbeatAsync(workers, id, heartbeats.Token);
        // Asked to stop (SIGTERM): leave first, and only then stop training and waiting. The coordinator then fails a
        // running job with this worker's reason before any ring link breaks, rather than with a peer's broken link.
        using var stopping = new CancellationTokenSource();
        var token = stopping.Token;
        using var onStop = cancellationToken.Register(() => _ = Task.Run(async () =>
        {
            await heartbeats.CancelAsync();
            await LeaveAsync(workers, id);
            await stopping.CancelAsync();
        }));
        string? finished = null;
        try
        {
            do
            {
                var assignment = await NextAssignmentAsync(workers, id, finished, _generation, token);
                finished = assignment.JobId;
                _generation = assignment.Generation;
                Rank = assignment.Rank;
                log($"{id}: {assignment.JobId}, rank {assignment.Rank} of {assignment.WorldSize}");
                try
                {
                    await RunJobAsync(id, assignment, workers, new Datasets.DatasetsClient(channel), new Checkpoints.CheckpointsClient(channel), outbox, token);
                }
                catch (Exception e) when (!token.IsCancellationRequested
                    && (e is CollectiveException or DataException or RpcException or ArgumentException or InvalidOperationException
                        // A user's program may throw anything (a callback's bug); the job is told, so that the other ranks stop at once.
                        || Program is not null && e is not OperationCanceledException))
                {
                    log($"{id}: failed: {e.Message}");
                    Failure = e.Message;
                    try
                    {
                        await workers.ReportProgressAsync(new ProgressReport { WorkerId = id, JobId = assignment.JobId, Rank = assignment.Rank, Error = e.Message },
                            new CallOptions(deadline: DateTime.UtcNow + ProgressReporter.CallDeadline).WithWaitForReady());
                    }
                    catch (RpcException r)
                    {
                        log($"{id}: the coordinator did not take the failure: {r.Status.StatusCode} {r.Status.Detail}");
                    }
                    if (options.Once) return 1;
                }
            } while (!options.Once && !token.IsCancellationRequested);
            return 0;
        }
        finally
        {
            await heartbeats.CancelAsync();
            await heartbeat;
            // Exiting on its own (--once, or a failure): it leaves, so that it is never placed again, through with its job.
            if (!cancellationToken.IsCancellationRequested) await LeaveAsync(workers, id, "it exited after its job", finished);
        }
    }

    // Registers under this worker's identity, waiting for the coordinator as long as it takes (WaitForReady): a worker
    // started before its coordinator, or cut off from it, is not an error. Also what it does when told it is unknown.
    // A coordinator that is up but whose cluster is not (Unavailable after the channel's own retries: its silo is still
    // joining, or the scheduler's silo just died) is waited for too; anything else, such as a refused address, is fatal.
    private async Task RegisterAsync(Workers.WorkersClient workers, string id, CancellationToken cancellationToken)
    {
        await _registering.WaitAsync(cancellationToken);
        try
        {
            for (var pause = TimeSpan.FromSeconds(1); ; pause = TimeSpan.FromSeconds(Math.Min(pause.TotalSeconds * 2, 10)))
            {
                try
                {
                    var registered = await workers.RegisterAsync(
                        new RegisterRequest { AdvertisedAddress = _advertise, Threads = options.Threads, WorkerId = id, Incarnation = _incarnation, LaunchId = options.Launch ?? "" },
                        new CallOptions(cancellationToken: cancellationToken).WithWaitForReady());
                    _secret = registered.WorkerSecret;
                    Answered();
                    return;
                }
                catch (RpcException e) when (e.StatusCode is StatusCode.Unavailable or StatusCode.Aborted && !cancellationToken.IsCancellationRequested)
                {
                    log($"{id}: registering: {e.Status.StatusCode} {e.Status.Detail}; trying again in {pause.TotalSeconds:0} s");
                    await Task.Delay(pause, cancellationToken);
                }
            }
        }
        finally
        {
            _registering.Release();
        }
    }

    // The next job: a long poll that outlives a coordinator restart (the channel retries and waits for it), and that
    // registers again when the coordinator no longer knows this worker.
    private async Task<Assignment> NextAssignmentAsync(Workers.WorkersClient workers, string id, string? finished, long finishedGeneration,
        CancellationToken cancellationToken)
    {
        while (true)
        {
            try
            {
                return await workers.GetAssignmentAsync(new GetAssignmentRequest { WorkerId = id, FinishedJobId = finished ?? "", FinishedGeneration = finishedGeneration },
                    new CallOptions(cancellationToken: cancellationToken).WithWaitForReady());
            }
            catch (RpcException e) when (CoordinatorChannel.IsUnknownWorker(e))
            {
                log($"{id}: the coordinator does not know this worker ({e.Status.Detail}); registering again");
                await RegisterAsync(workers, id, cancellationToken);
            }
            catch (RpcException e) when (e.StatusCode is StatusCode.Unavailable or StatusCode.Internal or StatusCode.Unknown
                && !cancellationToken.IsCancellationRequested)
            {
                // The coordinator went away mid-poll after the channel's retries: wait for it again.
                log($"{id}: waiting for an assignment: {e.Status.StatusCode} {e.Status.Detail}; asking again");
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
            }
        }
    }

    private async Task RunJobAsync(string id, Assignment a, Workers.WorkersClient workers, Datasets.DatasetsClient datasets,
        Checkpoints.CheckpointsClient checkpoints, RingOutbox outbox, CancellationToken cancellationToken)
    {
        var data = Program?.Data ?? await FetchDatasetAsync(a.DatasetDigest, datasets, cancellationToken);
        var model = Program?.Model ?? ModelSpec.ForData(a.Spec.Model, a.Spec.Seed, data.TrainX.Shape[1..], a.Spec.Optimizer);
        var plan = new TrainingPlan(a.Spec.Epochs, a.Spec.GlobalBatchSize, a.Spec.Seed,
            a.Spec.BucketBytes > 0 ? a.Spec.BucketBytes : BucketPlan.DefaultBucketBytes, a.Spec.ConsistencyCheckEvery, a.Spec.CheckpointEvery,
            a.Spec.HasMaxSkippedSteps ? a.Spec.MaxSkippedSteps : null);
        await using var reporter = new ProgressReporter(workers, m => log($"{id}: {m}"), cancellationToken);
        var job = new ElasticJob(id, workers, reporter, options.CollectiveTimeout, log)
        {
            Connect = g => GrpcRingTransport.Connect(g.Rank, g.WorldSize, g.Generation, g.Peers[RingPlan.Mod(g.Rank - 1, g.WorldSize)], outbox,
                secret: g.RingSecret, security: options.Security),
            Checkpoints = checkpoints,
            Rate = _rate,
            Callbacks = Program?.Callbacks,
        };
        try
        {
            await job.RunAsync(a, model, plan, new TrainingProgress(), data, cancellationToken);
        }
        finally
        {
            if (job.Generation > 0) _generation = job.Generation;
        }
    }

    // Tells the coordinator once that this worker is going, within a short bound: a coordinator that is itself gone
    // must not hold up the shutdown.
    private async Task LeaveAsync(Workers.WorkersClient workers, string id, string? why = null, string? finishedJob = null)
    {
        if (Interlocked.Exchange(ref _left, 1) == 1) return;
        string reason = why ?? StopReason();
        try
        {
            await workers.LeaveAsync(new LeaveRequest { WorkerId = id, Reason = reason, FinishedJobId = finishedJob ?? "", FinishedGeneration = finishedJob is null ? 0 : _generation },
                deadline: DateTime.UtcNow.AddSeconds(3));
            log($"{id}: left the coordinator: {reason}");
        }
        catch (RpcException e)
        {
            log($"{id}: stopping ({reason}); the coordinator did not take the leave: {e.Status.StatusCode} {e.Status.Detail}");
        }
    }

    /// <summary>How often a worker tells the coordinator it is alive (its WorkerGrain keeps the time).</summary>
    public static readonly TimeSpan HeartbeatInterval = TimeSpan.FromSeconds(2);

    private void Answered() => Interlocked.Exchange(ref _answeredAt, Environment.TickCount64);

    // Ready (the health service's default name) while registered and heard from within three heartbeats: a worker whose
    // coordinator is gone or has forgotten it is waiting, not ready, until it has registered again.
    private string? NotReady()
    {
        if (_secret is null) return $"not registered with {options.Coordinator} yet";
        long silent = Environment.TickCount64 - Interlocked.Read(ref _answeredAt);
        return silent > 3 * HeartbeatInterval.TotalMilliseconds ? $"{options.Coordinator} has not answered for {silent / 1000} s" : null;
    }

    // Beats until stopped, on a fixed cadence: each beat is bounded by the interval, so one slow answer delays no later
    // beat (a 5 s wait after a 2 s pause would leave a 7 s gap, more than the coordinator's 6 s window). A missed beat
    // is logged once, not fatal (the ring's own timeouts catch dead peers, and the coordinator may be restarting).
    private async Task HeartbeatAsync(Workers.WorkersClient workers, string id, CancellationToken cancellationToken)
    {
        bool warned = false;
        using var ticks = new PeriodicTimer(HeartbeatInterval);
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await ticks.WaitForNextTickAsync(cancellationToken);
                await workers.HeartbeatAsync(new HeartbeatRequest { WorkerId = id, SamplesPerSecond = _rate.Read() },
                    new CallOptions(deadline: DateTime.UtcNow + HeartbeatInterval, cancellationToken: cancellationToken).WithWaitForReady());
                Answered();
                warned = false;
            }
            catch (RpcException e) when (CoordinatorChannel.IsUnknownWorker(e))
            {
                // The coordinator lost track of this worker (its state was reset, or it thought this worker lost): the
                // same process registers again, keeping its place in a job the coordinator still has it in.
                log($"{id}: the coordinator does not know this worker ({e.Status.Detail}); registering again");
                try
                {
                    await RegisterAsync(workers, id, cancellationToken);
                }
                catch (Exception r) when (r is RpcException or OperationCanceledException)
                {
                    if (cancellationToken.IsCancellationRequested) return;
                }
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.Cancelled && cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (RpcException e)
            {
                if (!warned) log($"{id}: heartbeat failed: {e.Status.StatusCode} {e.Status.Detail}");
                warned = true;
            }
        }
    }

    private static readonly TimeSpan DatasetFetchDeadline = TimeSpan.FromMinutes(10);

    // The job's dataset from the local cache by digest, else streamed from the coordinator and verified.
    private async Task<Dataset> FetchDatasetAsync(string digest, Datasets.DatasetsClient datasets, CancellationToken cancellationToken)
    {
        string folder = Directory.CreateDirectory(Path.Combine(DataCache.Root, "datasets")).FullName;
        string path = Path.Combine(folder, $"{digest}.dtd");
        if (!File.Exists(path))
        {
            string tmp = path + ".tmp-" + Environment.ProcessId;
            // A dataset a client uploaded is on the disk of the coordinator that took it: of several coordinators
            // (--coordinator URL1,URL2, calls spread round-robin), the others answer NOT_FOUND, and the next call goes on.
            for (int attempt = 1; ; attempt++)
            {
                try
                {
                    await using var file = File.Create(tmp);
                    // Bounded as a whole: a few hundred MB over a slow link fits; a coordinator that stops sending does not hang the job.
                    using var call = datasets.Fetch(new FetchDatasetRequest { Digest = digest },
                        new CallOptions(deadline: DateTime.UtcNow + DatasetFetchDeadline, cancellationToken: cancellationToken).WithWaitForReady());
                    await foreach (var chunk in call.ResponseStream.ReadAllAsync(cancellationToken)) chunk.Data.WriteTo(file);
                    break;
                }
                catch (RpcException e) when (e.StatusCode == StatusCode.NotFound && attempt < 4)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(250 * attempt), cancellationToken);
                }
            }
            if (DatasetFile.Digest(tmp) != digest)
            {
                File.Delete(tmp);
                throw new DataException($"the dataset streamed for {digest} does not hash to it");
            }
            File.Move(tmp, path, overwrite: true);
            log($"fetched dataset {digest[..12]}… from the coordinator");
        }
        return DatasetFile.Read(path, digest);
    }
}
