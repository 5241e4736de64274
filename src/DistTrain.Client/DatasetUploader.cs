using DistTrain.Data;
using DistTrain.Protos;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;

namespace DistTrain.Client;

/// <summary>
/// Hands the coordinator a dataset this client read (`submit --data`, `local --data`, <see cref="DistTrainClient.UploadDatasetAsync"/>): prepared here as one dataset
/// file, uploaded unless the coordinator already holds it, and named in the job by digest. The coordinator never
/// reads a path of the client's; it keeps the bytes it was sent once they hash to the digest and read through.
/// </summary>
public static class DatasetUploader
{
    private const int ChunkBytes = 1 << 20;
    private static readonly TimeSpan Deadline = TimeSpan.FromMinutes(10);

    /// <summary>Uploads <paramref name="data"/> if needed; returns the job's reference to it ("NAME@sha256:DIGEST").</summary>
    public static async Task<string> UploadAsync(GrpcChannel channel, Dataset data, Action<string> log, CancellationToken cancellationToken)
    {
        string path = Path.Combine(Path.GetTempPath(), $"disttrain-upload-{Guid.NewGuid():N}.dtd");
        try
        {
            string digest = DatasetFile.Write(data, path);
            var datasets = new Datasets.DatasetsClient(channel);
            try
            {
                await datasets.StatAsync(new FetchDatasetRequest { Digest = digest }, deadline: DateTime.UtcNow.AddSeconds(30), cancellationToken: cancellationToken);
                log($"the coordinator already holds {data.Name} ({digest[..12]}…)");
                return UploadedDataset.Reference(data.Name, digest);
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
            {
            }
            await using var file = File.OpenRead(path);
            log($"uploading {data.Name} ({file.Length:N0} bytes) to the coordinator");
            using var call = datasets.Upload(deadline: DateTime.UtcNow + Deadline, cancellationToken: cancellationToken);
            var buffer = new byte[ChunkBytes];
            bool first = true;
            int read;
            while ((read = await file.ReadAsync(buffer, cancellationToken)) > 0)
            {
                var message = new DatasetUpload { Data = ByteString.CopyFrom(buffer, 0, read) };
                if (first) (message.Digest, message.TotalBytes) = (digest, file.Length);
                first = false;
                await call.RequestStream.WriteAsync(message, cancellationToken);
            }
            await call.RequestStream.CompleteAsync();
            await call;
            return UploadedDataset.Reference(data.Name, digest);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
