using Grpc.Core;

namespace DistTrain.Protos;

/// <summary>
/// A checkpoint file on the wire, for every side that sends or fetches one (worker, coordinator, CLI): cut into 1 MiB
/// chunks that each carry the file's size, and put back together with that size checked against the cap.
/// </summary>
public static class CheckpointTransfer
{
    public const int ChunkBytes = 1 << 20;

    /// <summary>The largest checkpoint taken: far above any model the engine trains, far below what would hurt a process.</summary>
    public const long MaxBytes = 1L << 30;

    /// <summary>The file's chunks in order; an empty file is still one chunk, so that the first can carry a header.</summary>
    public static IEnumerable<CheckpointChunk> Chunks(byte[] bytes)
    {
        for (int at = 0; at == 0 || at < bytes.Length; at += ChunkBytes)
            yield return new CheckpointChunk { TotalBytes = bytes.Length, Data = Google.Protobuf.ByteString.CopyFrom(bytes, at, Math.Min(ChunkBytes, bytes.Length - at)) };
    }

    /// <summary>Downloads a checkpoint whole (by digest, or a job's latest intact one); refuses one that claims more than <see cref="MaxBytes"/>.</summary>
    public static async Task<byte[]> DownloadAsync(Checkpoints.CheckpointsClient client, DownloadCheckpointRequest request, CallOptions options)
    {
        using var call = client.Download(request, options);
        using var bytes = new MemoryStream();
        await foreach (var chunk in call.ResponseStream.ReadAllAsync(options.CancellationToken))
        {
            if (chunk.TotalBytes is < 0 or > MaxBytes)
                throw new InvalidDataException($"checkpoint {(request.Digest.Length > 0 ? request.Digest[..Math.Min(12, request.Digest.Length)] : request.JobId)} claims an impossible size of {chunk.TotalBytes} bytes");
            chunk.Data.WriteTo(bytes);
        }
        return bytes.ToArray();
    }
}
