using DistTrain.Protos;
using Google.Protobuf;
using Grpc.Core;

namespace DistTrain.Coordinator.Services;

/// <summary>Streams a prepared dataset file, by SHA-256, in 1 MiB chunks.</summary>
[Grpc.Core.BindServiceMethod(typeof(DatasetsService), nameof(BindService))]
public sealed class DatasetsService(JobRegistry registry) : Datasets.DatasetsBase
{
    /// <summary>Binds the service with requests parsed strictly (<see cref="Protos.Security.StrictParsing"/>); the parameter is the generated
    /// base type, through which gRPC finds each method's override.</summary>
    public static void BindService(Grpc.Core.ServiceBinderBase binder, Datasets.DatasetsBase? service) => Datasets.BindService(new Protos.Security.StrictParsing(binder), service);

    private const int ChunkBytes = 1 << 20;

    public override async Task Fetch(FetchDatasetRequest request, IServerStreamWriter<DatasetChunk> responseStream, ServerCallContext context)
    {
        var data = await registry.DatasetAsync(request.Digest)
            ?? throw new RpcException(new Status(StatusCode.NotFound, $"this coordinator holds no dataset with SHA-256 {request.Digest}"));
        await using var file = File.OpenRead(data.Path);
        var buffer = new byte[ChunkBytes];
        long offset = 0;
        int read;
        while ((read = await file.ReadAsync(buffer, context.CancellationToken)) > 0)
        {
            await responseStream.WriteAsync(new DatasetChunk { TotalBytes = file.Length, Offset = offset, Data = ByteString.CopyFrom(buffer, 0, read) },
                context.CancellationToken);
            offset += read;
        }
    }
}
