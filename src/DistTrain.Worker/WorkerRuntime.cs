using DistTrain.Collectives;
using DistTrain.Collectives.Grpc;
using DistTrain.Engine.Model;
using DistTrain.Engine.Spec;
using DistTrain.Data;
using DistTrain.Engine.Kernels;
using DistTrain.Protos;
using DistTrain.Telemetry;
using Grpc.Core;
using Grpc.Net.Client;

namespace DistTrain.Worker;

/// <summary>Where a worker listens, what it advertises, and how it behaves.</summary>
/// <param name="Advertise">The URL peers reach this worker at; default: see <see cref="AdvertisedAddress"/>.</param>
/// <param name="Once">Exit after one job (what `disttrain local` uses), instead of waiting for the next.</param>
public sealed record WorkerOptions(string Coordinator, string Bind = "0.0.0.0", int Port = 0, string? Advertise = null, int Threads = 1,
    bool Once = false, TimeSpan? CollectiveTimeout = null);

/// <summary>
/// A worker process: serves its end of the ring, registers with the coordinator, waits for an assignment, fetches
/// the job's dataset by SHA-256 unless cached, trains its rank with <see cref="DistributedTrainer"/>, and reports
/// progress (rank 0 reports the combined figures). A failure is reported with the message that names the peer and step.
/// </summary>
public sealed class WorkerRuntime(WorkerOptions options, Action<string> log)
{
    /// <summary>Why the worker is stopping once its token is cancelled (e.g. "it received SIGTERM"), as told to the coordinator.</summary>
    public Func<string> StopReason { get; init; } = () => "it was asked to stop";

    private int _left;

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        Threading.Threads = options.Threads;
        var outbox = new RingOutbox(options.CollectiveTimeout);
        var (host, bound) = await CollectiveHost.StartAsync(options.Bind, options.Port, outbox, cancellationToken);
        await using var ringHost = host;
        string advertise = options.Advertise ?? AdvertisedAddress.For(bound);
        using var channel = GrpcChannel.ForAddress(options.Coordinator, new GrpcChannelOptions { MaxReceiveMessageSize = null, MaxSendMessageSize = null });
        var workers = new Workers.WorkersClient(channel);
        string id = (await workers.RegisterAsync(new RegisterRequest { AdvertisedAddress = advertise, Threads = options.Threads },
            cancellationToken: cancellationToken)).WorkerId;
        log($"{id}: serving the ring at {advertise}, registered with {options.Coordinator}");
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
        try
        {
            do
            {
                var assignment = await workers.GetAssignmentAsync(new GetAssignmentRequest { WorkerId = id }, cancellationToken: token);
                log($"{id}: {assignment.JobId}, rank {assignment.Rank} of {assignment.WorldSize}");
                try
                {
                    await RunJobAsync(id, assignment, workers, new Datasets.DatasetsClient(channel), outbox, token);
                }
                catch (Exception e) when (!token.IsCancellationRequested
                    && e is CollectiveException or DataException or RpcException or ArgumentException or InvalidOperationException)
                {
                    log($"{id}: failed: {e.Message}");
                    await workers.ReportProgressAsync(new ProgressReport { WorkerId = id, JobId = assignment.JobId, Rank = assignment.Rank, Error = e.Message },
                        deadline: DateTime.UtcNow + ProgressReporter.CallDeadline);
                    if (options.Once) return 1;
                }
            } while (!options.Once && !token.IsCancellationRequested);
            return 0;
        }
        finally
        {
            await heartbeats.CancelAsync();
            await heartbeat;
        }
    }

    private async Task RunJobAsync(string id, Assignment a, Workers.WorkersClient workers, Datasets.DatasetsClient datasets, RingOutbox outbox,
        CancellationToken cancellationToken)
    {
        var data = await FetchDatasetAsync(a.DatasetDigest, datasets, cancellationToken);
        var model = ModelSpec.ForData(a.Spec.Model, a.Spec.Seed, data.TrainX.Shape[1..], a.Spec.Optimizer);
        await using var transport = GrpcRingTransport.Connect(a.Rank, a.WorldSize, a.Generation, a.Peers[RingPlan.Mod(a.Rank - 1, a.WorldSize)], outbox);
        var ring = new RingAllreduce(transport, new RingOptions(Timeout: options.CollectiveTimeout));
        var plan = new TrainingPlan(a.Spec.Epochs, a.Spec.GlobalBatchSize, a.Spec.Seed,
            a.Spec.BucketBytes > 0 ? a.Spec.BucketBytes : BucketPlan.DefaultBucketBytes, a.Spec.ConsistencyCheckEvery);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var lastReport = TimeSpan.Zero;
        var tags = DistTrainMetrics.JobRank(a.JobId, a.Rank);
        await using var reporter = new ProgressReporter(workers, m => log($"{id}: {m}"), cancellationToken);
        var trainer = new DistributedTrainer(model, ring, plan)
        {
            OnStep = step =>
            {
                DistTrainMetrics.Samples.Add(step.Samples, tags);
                DistTrainMetrics.StepDuration.Record(step.Seconds, tags);
                DistTrainMetrics.AllreduceDuration.Record(step.AllreduceSeconds, tags);
                DistTrainMetrics.AllreduceBytes.Add(step.AllreduceBytesSent, tags);
                // Rank 0 speaks for the job; a few reports a second are plenty for a progress bar.
                if (a.Rank != 0 || clock.Elapsed - lastReport < TimeSpan.FromMilliseconds(250)) return;
                lastReport = clock.Elapsed;
                reporter.Post(new ProgressReport { WorkerId = id, JobId = a.JobId, Rank = 0, Epoch = step.Epoch, Step = step.Step, Loss = step.Loss });
            },
            // Rank 0 reports each epoch as it ends (the job's history, the accuracy gauges); the last one finishes the job.
            OnEpoch = e =>
            {
                if (a.Rank != 0) return;
                // Every replica holds the same weights, so rank 0's copy is the job's checkpoint.
                string checkpoint = CheckpointPath(a.JobId);
                model.Save(checkpoint);
                reporter.Post(new ProgressReport
                {
                    WorkerId = id, JobId = a.JobId, Rank = 0, Epoch = e.Epoch, Step = 0, Loss = e.Loss, Accuracy = e.Accuracy,
                    SamplesPerSecond = e.SamplesPerSecond, EpochDone = true, TestLoss = e.TestLoss, TestAccuracy = e.TestAccuracy,
                    EpochSeconds = e.Seconds, Finished = e.Epoch == plan.Epochs, Checkpoint = $"{id}:{checkpoint}",
                });
            },
            // Every rank asks (so every rank joins the stop vote); only rank 0's answer counts.
            StopRequested = () => reporter.StopAsked,
        };
        await trainer.TrainAsync(data.TrainX, data.TrainY, data.TestX, data.TestY, cancellationToken);
        // The last epoch's report completes the job: it must reach the coordinator before this worker moves on.
        await reporter.FlushAsync();
        if (trainer.Stopped)
        {
            log($"{id}: {a.JobId} ended at the coordinator (cancelled or failed elsewhere); all ranks stopped together");
            return;
        }
    }

    // Tells the coordinator once that this worker is going, within a short bound: a coordinator that is itself gone
    // must not hold up the shutdown.
    private async Task LeaveAsync(Workers.WorkersClient workers, string id)
    {
        if (Interlocked.Exchange(ref _left, 1) == 1) return;
        string reason = StopReason();
        try
        {
            await workers.LeaveAsync(new LeaveRequest { WorkerId = id, Reason = reason }, deadline: DateTime.UtcNow.AddSeconds(3));
            log($"{id}: left the coordinator: {reason}");
        }
        catch (RpcException e)
        {
            log($"{id}: stopping ({reason}); the coordinator did not take the leave: {e.Status.StatusCode} {e.Status.Detail}");
        }
    }

    /// <summary>How often a worker tells the coordinator it is alive (its WorkerGrain keeps the time).</summary>
    public static readonly TimeSpan HeartbeatInterval = TimeSpan.FromSeconds(2);

    // Beats until stopped; a missed beat is logged once, not fatal (the ring's own timeouts catch dead peers).
    private async Task HeartbeatAsync(Workers.WorkersClient workers, string id, CancellationToken cancellationToken)
    {
        bool warned = false;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(HeartbeatInterval, cancellationToken);
                await workers.HeartbeatAsync(new HeartbeatRequest { WorkerId = id }, deadline: DateTime.UtcNow.AddSeconds(5),
                    cancellationToken: cancellationToken);
                warned = false;
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

    // Rank 0's latest model for a job, replaced atomically at each epoch's end (Sequential.Save writes, then renames).
    private static string CheckpointPath(string jobId) =>
        Path.Combine(Directory.CreateDirectory(Path.Combine(DataCache.Root, "checkpoints")).FullName, $"{jobId}.dtm");

    // The job's dataset from the local cache by digest, else streamed from the coordinator and verified.
    private async Task<Dataset> FetchDatasetAsync(string digest, Datasets.DatasetsClient datasets, CancellationToken cancellationToken)
    {
        string folder = Directory.CreateDirectory(Path.Combine(DataCache.Root, "datasets")).FullName;
        string path = Path.Combine(folder, $"{digest}.dtd");
        if (!File.Exists(path))
        {
            string tmp = path + ".tmp-" + Environment.ProcessId;
            await using (var file = File.Create(tmp))
            {
                using var call = datasets.Fetch(new FetchDatasetRequest { Digest = digest }, cancellationToken: cancellationToken);
                await foreach (var chunk in call.ResponseStream.ReadAllAsync(cancellationToken)) chunk.Data.WriteTo(file);
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
