using DistTrain.Coordinator.Checkpoints;
using DistTrain.Protos;
using Grpc.Core;

namespace DistTrain.Coordinator.Services;

/// <summary>The Checkpoints API over <see cref="CheckpointKeeper"/>: uploads in, downloads out (<see cref="CheckpointTransfer"/>), lists.</summary>
[Grpc.Core.BindServiceMethod(typeof(CheckpointsService), nameof(BindService))]
public sealed class CheckpointsService(CheckpointKeeper keeper, JobRegistry registry) : Protos.Checkpoints.CheckpointsBase
{
    /// <summary>Binds the service with requests parsed strictly (<see cref="Protos.Security.StrictParsing"/>); the parameter is the generated
    /// base type, through which gRPC finds each method's override.</summary>
    public static void BindService(Grpc.Core.ServiceBinderBase binder, Protos.Checkpoints.CheckpointsBase? service) => Protos.Checkpoints.BindService(new Protos.Security.StrictParsing(binder), service);

    public override Task<CheckpointInfo> Upload(IAsyncStreamReader<CheckpointChunk> requestStream, ServerCallContext context) => Errors.Map(async () =>
    {
        CheckpointHeader? header = null;
        using var content = new MemoryStream();
        await foreach (var chunk in requestStream.ReadAllAsync(context.CancellationToken))
        {
            if (header is null)
            {
                // Who sends it is settled before anything more is read: only a member of the job's worker set uploads.
                header = chunk.Header ?? throw new ArgumentException("a checkpoint upload's first chunk must carry its header (worker, job)");
                await registry.AuthenticateAsync(header.WorkerId, WorkersService.Secret(context));
                await keeper.AdmitAsync(header.WorkerId, header.JobId);
            }
            if (chunk.Data.Length > 4 * CheckpointTransfer.ChunkBytes || chunk.TotalBytes is < 0 or > CheckpointTransfer.MaxBytes
                || content.Length + chunk.Data.Length > Math.Min(chunk.TotalBytes, CheckpointTransfer.MaxBytes))
                throw new RpcException(new Status(StatusCode.ResourceExhausted,
                    $"a checkpoint upload sends chunks of at most {4 * CheckpointTransfer.ChunkBytes >> 20} MiB and no more than the {chunk.TotalBytes} bytes it announced (at most {CheckpointTransfer.MaxBytes >> 20} MiB)"));
            chunk.Data.WriteTo(content);
        }
        if (header is null) throw new ArgumentException("the checkpoint upload was empty");
        try
        {
            var record = await keeper.RecordAsync(header.WorkerId, header.JobId, header.Final, content.ToArray(), context.CancellationToken);
            registry.Changed();
            return CheckpointKeeper.ToProto(record);
        }
        catch (InvalidDataException e)
        {
            throw new RpcException(new Status(StatusCode.DataLoss, e.Message));
        }
    });

    public override async Task Download(DownloadCheckpointRequest request, IServerStreamWriter<CheckpointChunk> responseStream, ServerCallContext context)
    {
        var bytes = await Errors.Map(async () =>
        {
            try
            {
                if (request.Digest.Length == 0)
                    return request.JobId.Length > 0 ? (await keeper.LatestAsync(request.JobId, context.CancellationToken)).Bytes
                        : throw new ArgumentException("name a checkpoint's digest or a job");
                if (!FileCheckpointStore.IsDigest(request.Digest)) throw new ArgumentException($"'{request.Digest}' is not a SHA-256 digest (64 lower-case hex digits)");
                return await keeper.GetAsync(request.Digest, context.CancellationToken)
                    ?? throw new KeyNotFoundException($"this coordinator holds no checkpoint {request.Digest} ({keeper.Store.Locate(request.Digest)})");
            }
            catch (CorruptCheckpointException e)
            {
                throw new RpcException(new Status(StatusCode.DataLoss, e.Message));
            }
        });
        foreach (var chunk in CheckpointTransfer.Chunks(bytes)) await responseStream.WriteAsync(chunk, context.CancellationToken);
    }

    public override Task<ListCheckpointsResponse> List(ListCheckpointsRequest request, ServerCallContext context) => Errors.Map(async () =>
    {
        var job = await registry.RecordAsync(request.JobId);
        var response = new ListCheckpointsResponse();
        response.Checkpoints.AddRange((job.Checkpoints ?? []).Reverse().Select(CheckpointKeeper.ToProto));
        return response;
    });
}
