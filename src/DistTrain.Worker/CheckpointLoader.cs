using DistTrain.Data;
using DistTrain.Engine.Model;
using DistTrain.Protos;
using Grpc.Core;

namespace DistTrain.Worker;

/// <summary>
/// Starts a worker that holds no state of a job from the job's latest checkpoint: it downloads the candidates the
/// coordinator names, newest first, and takes the first that arrives intact (the store's digest and the file's own
/// checksum both hold), warning about each one passed over. The model, optimizer and progress then stand exactly where
/// the checkpoint's run stood.
/// </summary>
public sealed class CheckpointLoader(Checkpoints.CheckpointsClient client, string workerId, Action<string> log)
{
    private static readonly TimeSpan DownloadDeadline = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Loads the newest intact checkpoint the assignment names; false when it names none. When every one it names is
    /// gone from the store (pruned while this worker fetched its dataset), it asks <paramref name="refresh"/> for the
    /// job's list as it is now, once.
    /// </summary>
    public async Task<bool> LoadAsync(Assignment a, Sequential model, TrainingProgress progress, TrainingPlan plan, int stepsPerEpoch,
        Func<Task<Assignment>> refresh, CancellationToken cancellationToken)
    {
        var passedOver = new List<string>();
        bool corrupt = false;
        var candidates = a.Checkpoints.ToList();
        for (int i = 0; i < candidates.Count; i++)
        {
            string digest = candidates[i];
            ModelFile.Contents contents;
            try
            {
                contents = ModelFile.Read(await CheckpointTransfer.DownloadAsync(client, new DownloadCheckpointRequest { Digest = digest },
                    new CallOptions(deadline: DateTime.UtcNow + DownloadDeadline, cancellationToken: cancellationToken).WithWaitForReady()), $"checkpoint {digest[..12]}");
            }
            catch (Exception e) when (e is RpcException { StatusCode: StatusCode.DataLoss or StatusCode.NotFound } or InvalidDataException)
            {
                string why = e is RpcException r ? r.Status.Detail : e.Message;
                log($"{workerId}: warning: {a.JobId}'s checkpoint {digest[..12]} cannot be used ({why}); trying the one before it");
                passedOver.Add(why);
                corrupt |= e is not RpcException { StatusCode: StatusCode.NotFound };
                if (i == candidates.Count - 1 && !corrupt && passedOver.Count == candidates.Count)
                {
                    var now = (await refresh()).Checkpoints.Where(d => !candidates.Contains(d)).ToList();
                    if (now.Count > 0) log($"{workerId}: {a.JobId}'s checkpoints were pruned meanwhile; trying its newer ones");
                    candidates.AddRange(now);
                }
                continue;
            }
            var training = contents.Training ?? throw new DataException($"checkpoint {digest[..12]} holds no training state");
            try
            {
                training.CheckResumableBy(new TrainingCheckpoint
                {
                    Sampler = TrainingCheckpoint.ShardSampler, GlobalBatch = plan.GlobalBatch, Seed = plan.Seed, StepsPerEpoch = stepsPerEpoch, Epochs = plan.Epochs,
                });
            }
            catch (ArgumentException e)
            {
                throw new DataException($"{a.JobId} cannot resume checkpoint {digest[..12]}: {e.Message}");
            }
            Apply(contents, model, progress, $"checkpoint {digest[..12]}");
            log($"{workerId}: {a.JobId} starts from checkpoint {digest[..12]}: epoch {training.Epoch + 1}, step {training.Step} of {training.StepsPerEpoch}");
            return true;
        }
        if (passedOver.Count > 0)
            throw new DataException($"none of {a.JobId}'s {passedOver.Count} checkpoints could be loaded: {string.Join("; ", passedOver)}");
        return false;
    }

    /// <summary>Puts a model file's weights, optimizer state and training position into a replica's model and progress.</summary>
    public static void Apply(ModelFile.Contents contents, Sequential model, TrainingProgress progress, string source)
    {
        var from = contents.Model;
        if (from.Store.Values.Length != model.Store.Values.Length || from.Store.State.Length != model.Store.State.Length)
            throw new DataException($"{source} holds {from.Store.Values.Length} parameters and {from.Store.State.Length} state values, but the job's model has {model.Store.Values.Length} and {model.Store.State.Length}");
        from.Store.Values.CopyTo(model.Store.Values, 0);
        from.Store.State.CopyTo(model.Store.State, 0);
        model.Optimizer!.Restore(from.Optimizer!.Iterations, [.. from.Optimizer.Slots]);
        progress.ReadCheckpoint(contents.Training ?? throw new DataException($"{source} holds no training state"));
    }
}
