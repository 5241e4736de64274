using DistTrain.Data;
using DistTrain.Engine;
using DistTrain.Engine.Callbacks;
using DistTrain.Engine.Model;
using DistTrain.Engine.Spec;
using DistTrain.Protos;
using DistTrain.Protos.Security;
using DistTrain.Worker;
using System.Runtime.InteropServices;
using Grpc.Core;

namespace DistTrain.Distributed;

/// <summary>
/// Data-parallel training from a user's own program, with Fit's arguments and callbacks. Started by
/// `disttrain launch --workers N -- dotnet MyTrainer.dll`, every copy of the program calls
/// <see cref="FitDistributed"/> with the same model and data: the copies submit one job to the coordinator, form the
/// ring, train each its shard of every global batch with gradients averaged by ring allreduce, and report like any job
/// (jobs, status, metrics and the live page). Started alone, the same call is <see cref="Sequential.Fit"/>.
/// </summary>
public static class DistributedFit
{
    /// <summary>This process's rank in its last distributed Fit (0 when it ran alone): print results on rank 0 only.</summary>
    public static int Rank { get; private set; }

    // Distributed Fit calls made by this process so far: every copy makes them in the same order, so the k-th call of
    // each copy joins the launch's k-th job.
    private static int _calls;

    /// <summary>
    /// Trains <paramref name="model"/> data-parallel when launched, else on this process alone. Returns the history of
    /// the job's epochs, combined over all ranks (every rank returns the same), and leaves every rank's model holding
    /// the same trained weights.
    /// </summary>
    /// <param name="batchSize">The global batch: samples per step across all ranks (each rank takes its share).</param>
    /// <param name="validationData">Evaluated after every epoch, split over the ranks: val_loss and val_accuracy.</param>
    /// <param name="callbacks">Keras-style callbacks, run on every rank; after an epoch, rank 0's
    /// <see cref="Sequential.StopTraining"/> ends training on all of them (early stopping).</param>
    /// <param name="log">Where the rank's progress notes go (default: standard error).</param>
    public static History FitDistributed(this Sequential model, Tensor x, Tensor y, int epochs = 1, int batchSize = 32,
        (Tensor X, Tensor Y)? validationData = null, IReadOnlyList<Callback>? callbacks = null, Action<string>? log = null) =>
        model.FitDistributedAsync(x, y, epochs, batchSize, validationData, callbacks, log).GetAwaiter().GetResult();

    /// <inheritdoc cref="FitDistributed"/>
    public static async Task<History> FitDistributedAsync(this Sequential model, Tensor x, Tensor y, int epochs = 1, int batchSize = 32,
        (Tensor X, Tensor Y)? validationData = null, IReadOnlyList<Callback>? callbacks = null, Action<string>? log = null,
        CancellationToken cancellationToken = default)
    {
        if (model.Loss is null) throw new InvalidOperationException("compile the model before training it");
        TargetCheck.Check(model, y, "the training data");
        if (validationData is { } v) TargetCheck.Check(model, v.Y, "the validation data");
        var launch = LaunchEnvironment.Read();
        if (launch is null)
        {
            Rank = 0;
            return model.Fit(x, y, epochs, batchSize, validationData, callbacks: callbacks);
        }
        log ??= Routine;
        var security = new ClusterSecurity(ClusterToken.Read(null));
        var test = validationData ?? (new Tensor([0, .. x.Shape[1..]]), new Tensor([0, .. y.Shape[1..]]));
        int call = Interlocked.Increment(ref _calls);
        var spec = new JobSpec
        {
            Name = launch.Name, LaunchId = call == 1 ? launch.LaunchId : $"{launch.LaunchId}.{call}", DataDigest = DataDigest(x, y, test), Model = SpecText(model), Epochs = epochs, GlobalBatchSize = batchSize, Seed = model.Seed,
            // Every rank is a copy of this program, which nobody restarts: a lost rank fails the job after a short wait, and the others with it.
            Workers = launch.WorldSize, MinWorkers = launch.WorldSize, WaitForWorkersSeconds = 10, ThreadsPerWorker = launch.Threads, ConsistencyCheckEvery = 50,
            TrainSamples = x.Batch, TestSamples = test.Item1.Batch,
        };
        var job = await SubmitAsync(launch, spec, security, cancellationToken).ConfigureAwait(false);
        log($"copy {launch.LocalRank} on this host: {job.Id} ({launch.WorldSize} ranks); training {x.Batch:N0} samples, {epochs} epochs, global batch {batchSize}");
        var fit = new FitCallbacks(model, callbacks ?? [], validationData is not null);
        var runtime = new WorkerRuntime(new WorkerOptions(launch.Coordinator, launch.Bind, Threads: launch.Threads, Once: true, Security: security,
            Launch: launch.LaunchId), log)
        {
            Program = new ProgramWorkload(model, new Dataset(job.Spec.Name, x, y, test.Item1, test.Item2, "the program"), fit),
        };
        // SIGTERM or SIGINT (launch stopping its copies, Ctrl-C) stops this rank as it stops a worker: it tells the
        // coordinator it is leaving, with the reason, and returns at once instead of being killed mid-call.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        string? signal = null;
        PosixSignalRegistration Handle(PosixSignal s) => PosixSignalRegistration.Create(s, context =>
        {
            context.Cancel = true;
            signal = s.ToString();
            stop.Cancel();
        });
        using var onTerm = Handle(PosixSignal.SIGTERM);
        using var onInt = Handle(PosixSignal.SIGINT);
        runtime.StopReason = () => $"its program received {signal ?? "a stop"}";
        int code = await runtime.RunAsync(stop.Token).ConfigureAwait(false);
        if (signal is not null) throw new OperationCanceledException($"{job.Id}: this rank received {signal} and left the job");
        if (code != 0 || runtime.Failure is not null)
            throw new InvalidOperationException($"{job.Id} failed on this rank: {runtime.Failure ?? $"the worker runtime exited with code {code}"}");
        // This rank may have stopped because the job ended elsewhere (another rank failed, someone cancelled it) or
        // went on without it: only a completed job's weights and history are the result.
        var ended = await GetAsync(launch, job.Id, security, cancellationToken).ConfigureAwait(false);
        if (ended.Status != JobStatus.Completed)
            throw new InvalidOperationException($"{job.Id} {ended.Status.ToString().ToLowerInvariant()}" + (ended.Error.Length > 0 ? $": {ended.Error}" : ""));
        Rank = runtime.Rank;
        return fit.History;
    }

    // The job as the coordinator has it once this rank is done, which may take the coordinator a moment to record
    // (the last epoch's report completes the job); bounded.
    private static async Task<Job> GetAsync(LaunchEnvironment launch, string id, ClusterSecurity security, CancellationToken cancellationToken)
    {
        using var channel = CoordinatorChannel.Create(launch.Coordinator, retry: true, security);
        var jobs = new Jobs.JobsClient(channel);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            try
            {
                var job = await jobs.GetAsync(new GetJobRequest { Id = id },
                    new CallOptions(deadline: DateTime.UtcNow.AddSeconds(10), cancellationToken: cancellationToken).WithWaitForReady()).ConfigureAwait(false);
                if (job.Status is JobStatus.Completed or JobStatus.Failed or JobStatus.Cancelled || DateTime.UtcNow > deadline) return job;
            }
            catch (RpcException) when (DateTime.UtcNow < deadline)
            {
                // The coordinator is restarting: ask again.
            }
            catch (RpcException e)
            {
                throw new InvalidOperationException($"the coordinator at {launch.Coordinator} did not say how {id} ended: {e.Status.Detail}");
            }
            await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken).ConfigureAwait(false);
        }
    }

    // A hash of the samples and labels, which every rank's submit carries: ranks that read different data of the same
    // size would otherwise train silently wrong.
    private static string DataDigest(Tensor x, Tensor y, (Tensor X, Tensor Y) test)
    {
        var hash = new System.IO.Hashing.XxHash64();
        foreach (var t in new[] { x, y, test.X, test.Y }) hash.Append(System.Runtime.InteropServices.MemoryMarshal.AsBytes(t.Span));
        return Convert.ToHexStringLower(hash.GetCurrentHash());
    }

    // The default log: standard error, without the notes a worker process writes on every start and checkpoint
    // (where it serves the ring, each checkpoint stored), which drown the program's own output; the coordinator's
    // status and page keep the checkpoints. Failures, broken rings and changes of the worker set still show.
    private static void Routine(string line)
    {
        string[] routine = ["'s checkpoint after epoch", "'s final model after epoch", ": serving the ring at ", ": registered with ", ": left the coordinator: it exited after its job"];
        if (!routine.Any(r => line.Contains(r, StringComparison.Ordinal))) Console.Error.WriteLine(line);
    }

    // Every rank submits the same job; the coordinator creates it once and hands the others the same one. The
    // coordinator may still be starting: each attempt waits for it, within a bound.
    private static async Task<Job> SubmitAsync(LaunchEnvironment launch, JobSpec spec, ClusterSecurity security, CancellationToken cancellationToken)
    {
        using var channel = CoordinatorChannel.Create(launch.Coordinator, retry: true, security);
        try
        {
            return await new Jobs.JobsClient(channel).SubmitAsync(new SubmitJobRequest { Spec = spec },
                new CallOptions(deadline: DateTime.UtcNow.AddSeconds(60), cancellationToken: cancellationToken).WithWaitForReady()).ConfigureAwait(false);
        }
        catch (RpcException e)
        {
            throw new InvalidOperationException(e.StatusCode == StatusCode.DeadlineExceeded
                ? $"the coordinator at {launch.Coordinator} did not answer within 60 s"
                : $"the coordinator at {launch.Coordinator} refused the job: {e.Status.Detail}");
        }
    }

    // The model as a spec, which the job's record shows (jobs, status, the page); a model the spec format cannot
    // express is shown by its name.
    private static string SpecText(Sequential model)
    {
        try
        {
            return ModelSpec.ToJsonText(model);
        }
        catch (Exception e) when (e is SpecException or NotSupportedException or InvalidOperationException)
        {
            return model.Name;
        }
    }
}
