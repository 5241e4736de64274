using DistTrain.Data;
using DistTrain.Engine;
using DistTrain.Engine.Callbacks;
using DistTrain.Engine.Model;
using DistTrain.Engine.Spec;
using DistTrain.Protos;
using DistTrain.Protos.Security;
using DistTrain.Worker;
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
        var spec = new JobSpec
        {
            Name = launch.Name, LaunchId = launch.LaunchId, Model = SpecText(model), Epochs = epochs, GlobalBatchSize = batchSize, Seed = model.Seed,
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
        int code = await runtime.RunAsync(cancellationToken).ConfigureAwait(false);
        if (code != 0 || runtime.Failure is not null)
            throw new InvalidOperationException($"{job.Id} failed on this rank: {runtime.Failure ?? $"the worker runtime exited with code {code}"}");
        Rank = runtime.Rank;
        return fit.History;
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
