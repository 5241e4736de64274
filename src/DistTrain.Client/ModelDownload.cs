using DistTrain.Engine.Model;
using DistTrain.Protos;
using Grpc.Core;
using Grpc.Net.Client;

namespace DistTrain.Client;

/// <summary>
/// A checkpoint from a coordinator's store into a model file: downloaded whole (<see cref="CheckpointTransfer"/>), read
/// as a model before anything is written, so that a corrupt or truncated download never lands, then written durably.
/// Shared by <see cref="DistTrainClient.DownloadModelAsync"/> and the CLI's `export` and `submit --save`.
/// </summary>
public static class ModelDownload
{
    /// <summary>Downloads the checkpoint <paramref name="digest"/> of <paramref name="jobId"/> (empty: the job's latest
    /// intact one) to <paramref name="path"/>, replacing the file there; returns the model and its training state.</summary>
    /// <exception cref="RpcException">The coordinator refused or failed the download.</exception>
    /// <exception cref="InvalidDataException">What arrived is not a whole model file.</exception>
    public static async Task<ModelFile.Contents> DownloadAsync(GrpcChannel channel, string jobId, string digest, string path, CallOptions options)
    {
        var content = await CheckpointTransfer.DownloadAsync(new Checkpoints.CheckpointsClient(channel),
            new DownloadCheckpointRequest { JobId = jobId, Digest = digest }, options);
        var contents = ModelFile.Read(content, $"{jobId}'s checkpoint");
        ModelFile.WriteDurably(path, content);
        return contents;
    }
}
