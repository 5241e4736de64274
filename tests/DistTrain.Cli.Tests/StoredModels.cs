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
        using var call = new Checkpoints.CheckpointsClient(channel).Download(new DownloadCheckpointRequest { JobId = jobId, Digest = digest },
            deadline: DateTime.UtcNow.AddSeconds(30));
        using var bytes = new MemoryStream();
        await foreach (var chunk in call.ResponseStream.ReadAllAsync()) chunk.Data.WriteTo(bytes);
        return ModelFile.Read(bytes.ToArray(), $"{jobId}'s checkpoint");
    }
}
