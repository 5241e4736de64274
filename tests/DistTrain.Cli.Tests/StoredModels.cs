using DistTrain.Engine.Model;
using DistTrain.Protos;
using Grpc.Core;

namespace DistTrain.Cli.Tests;

/// <summary>Reads models back from a coordinator's checkpoint store, as `disttrain export` does.</summary>
internal static class StoredModels
{
    /// <summary>The job's latest intact checkpoint (its final model once it completed), or the one with this digest.</summary>
    public static async Task<ModelFile.Contents> DownloadAsync(string coordinatorUrl, string jobId, string digest = "")
    {
        using var channel = CoordinatorChannel.Create(coordinatorUrl);
        var bytes = await CheckpointTransfer.DownloadAsync(new Checkpoints.CheckpointsClient(channel), new DownloadCheckpointRequest { JobId = jobId, Digest = digest },
            new CallOptions(deadline: DateTime.UtcNow.AddSeconds(30)));
        return ModelFile.Read(bytes, $"{jobId}'s checkpoint");
    }
}
