using DistTrain.Data;
using DistTrain.Protos;
using Google.Protobuf;
using Grpc.Core;

namespace DistTrain.Coordinator.Services;

/// <summary>Streams a prepared dataset file, by SHA-256, in 1 MiB chunks; takes a client's own dataset file, checked before it is kept.</summary>
[Grpc.Core.BindServiceMethod(typeof(DatasetsService), nameof(BindService))]
public sealed class DatasetsService(JobRegistry registry, DatasetPreparer preparer) : Datasets.DatasetsBase
{
    /// <summary>Binds the service with requests parsed strictly (<see cref="Protos.Security.StrictParsing"/>); the parameter is the generated
    /// base type, through which gRPC finds each method's override.</summary>
    public static void BindService(Grpc.Core.ServiceBinderBase binder, Datasets.DatasetsBase? service) => Datasets.BindService(new Protos.Security.StrictParsing(binder), service);

    private const int ChunkBytes = 1 << 20;

    public override Task<DatasetInfo> Stat(FetchDatasetRequest request, ServerCallContext context) =>
        Errors.Map(() =>
        {
            CheckDigest(request.Digest);
            var data = preparer.Uploaded(request.Digest) ?? throw new RpcException(new Status(StatusCode.NotFound, $"this coordinator holds no dataset with SHA-256 {request.Digest}"));
            return Task.FromResult(Info(data));
        });

    /// <summary>
    /// Receives a client's dataset file into a temporary file, bounded by the size its first message declares and by
    /// <see cref="DatasetPreparer.MaxUploadBytes"/>, then keeps it only if it hashes to the declared digest and reads
    /// through as a dataset. Only a party with the cluster token gets here.
    /// </summary>
    public override Task<DatasetInfo> Upload(IAsyncStreamReader<DatasetUpload> requestStream, ServerCallContext context) =>
        Errors.Map(async () =>
        {
            // Bounded as a whole, whatever the client's own deadline: a stalled or trickling stream does not hold the
            // upload slot and its file for ever.
            using var bound = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken);
            bound.CancelAfter(UploadDeadline);
            var ct = bound.Token;
            if (!await requestStream.MoveNext(ct)) throw new ArgumentException("an upload starts with a message naming the file's digest and size");
            var first = requestStream.Current;
            CheckDigest(first.Digest);
            if (first.TotalBytes is <= 0 or > DatasetPreparer.MaxUploadBytes)
                throw new ArgumentException($"an uploaded dataset file is 1 to {DatasetPreparer.MaxUploadBytes:N0} bytes, got {first.TotalBytes:N0}");
            if (!await preparer.Uploads.WaitAsync(TimeSpan.FromSeconds(30), ct))
                throw new RpcException(new Status(StatusCode.ResourceExhausted, "another dataset upload is in progress on this coordinator; try again when it has finished"));
            string tmp = Path.Combine(DatasetPreparer.UploadFolder, $"upload-{Guid.NewGuid():N}.tmp");
            long received = 0;
            try
            {
                long free = new DriveInfo(DatasetPreparer.UploadFolder).AvailableFreeSpace;
                if (free < first.TotalBytes + DatasetPreparer.FreeSpaceMargin)
                    throw new RpcException(new Status(StatusCode.ResourceExhausted,
                        $"this coordinator has {free:N0} bytes of disk free for datasets, too few for {first.TotalBytes:N0} and a margin of {DatasetPreparer.FreeSpaceMargin:N0}"));
                await using (var file = File.Create(tmp))
                {
                    var message = first;
                    while (true)
                    {
                        received += message.Data.Length;
                        if (received > first.TotalBytes) throw new ArgumentException($"the upload sent more than the {first.TotalBytes:N0} bytes it declared");
                        message.Data.WriteTo(file);
                        if (!await requestStream.MoveNext(ct)) break;
                        message = requestStream.Current;
                        if (message.Digest.Length > 0 || message.TotalBytes != 0) throw new ArgumentException("only an upload's first message names the digest and size");
                    }
                }
                if (received != first.TotalBytes) throw new ArgumentException($"the upload ended after {received:N0} of the {first.TotalBytes:N0} bytes it declared");
                var stored = await Task.Run(() => preparer.Store(tmp, first.Digest), ct);
                return Info(stored);
            }
            catch (OperationCanceledException) when (bound.IsCancellationRequested && !context.CancellationToken.IsCancellationRequested)
            {
                throw new RpcException(new Status(StatusCode.DeadlineExceeded, $"the upload did not finish within {UploadDeadline.TotalMinutes:0} minutes"));
            }
            finally
            {
                File.Delete(tmp);
                preparer.Uploads.Release();
            }
        });

    /// <summary>How long one upload may take: a gigabyte over a slow link fits.</summary>
    private static readonly TimeSpan UploadDeadline = TimeSpan.FromMinutes(15);

    private static void CheckDigest(string digest)
    {
        if (!DatasetFile.IsDigest(digest)) throw new ArgumentException(NotADigest(digest));
    }

    private static string NotADigest(string digest) => $"a dataset's digest is 64 lower-case hex digits (SHA-256), got '{DataText.Show(digest, 80)}'";

    private static DatasetInfo Info(PreparedDataset d) =>
        new() { Digest = d.Digest, TrainSamples = d.TrainSamples, TestSamples = d.TestSamples, SampleShape = { d.SampleShape } };

    public override async Task Fetch(FetchDatasetRequest request, IServerStreamWriter<DatasetChunk> responseStream, ServerCallContext context)
    {
        // Outside Errors.Map (a stream's writes are not one call), so its status is set here.
        if (!DatasetFile.IsDigest(request.Digest)) throw new RpcException(new Status(StatusCode.InvalidArgument, NotADigest(request.Digest)));
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
