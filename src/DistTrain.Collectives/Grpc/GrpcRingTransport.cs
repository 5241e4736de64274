using System.Net.Sockets;
using DistTrain.Protos;
using Grpc.Core;
using Grpc.Net.Client;

namespace DistTrain.Collectives.Grpc;

/// <summary>
/// A rank's ring links over gRPC. Frames for the right neighbour wait in this worker's <see cref="RingOutbox"/>,
/// which the right neighbour pulls over its Link call; frames from the left neighbour arrive over this rank's own
/// Link call to it, one persistent server stream per job. Message size caps are lifted on both sides: chunks are
/// 1 MiB by default but configurable, and gRPC's 4 MB default cap must never be what fails a job.
/// </summary>
public sealed class GrpcRingTransport : IRingTransport
{
    private const int ReadBufferBytes = 256 * 1024;

    private readonly GrpcChannel _channel;
    private readonly AsyncServerStreamingCall<RingFrame> _link;
    private readonly RingOutbox _outbox;
    private readonly long _generation;
    private readonly int _left;

    private GrpcRingTransport(int rank, int worldSize, long generation, GrpcChannel channel, AsyncServerStreamingCall<RingFrame> link, RingOutbox outbox)
    {
        Rank = rank;
        WorldSize = worldSize;
        _generation = generation;
        _left = RingPlan.Mod(rank - 1, worldSize);
        _channel = channel;
        _link = link;
        _outbox = outbox;
    }

    public int Rank { get; }
    public int WorldSize { get; }

    /// <summary>
    /// Opens <paramref name="outbox"/> to the right neighbour and calls Link on the left neighbour at
    /// <paramref name="leftAddress"/>, whose frames this rank receives.
    /// </summary>
    public static GrpcRingTransport Connect(int rank, int worldSize, long generation, string leftAddress, RingOutbox outbox)
    {
        if (worldSize < 1 || rank < 0 || rank >= worldSize)
            throw new ArgumentOutOfRangeException(nameof(rank), rank, $"rank must be in [0, {worldSize})");
        outbox.Open(RingPlan.Mod(rank + 1, worldSize), generation);
        var channel = CreateChannel(leftAddress);
        var link = channel.CreateCallInvoker().AsyncServerStreamingCall(CollectiveService.LinkMethod, null, new CallOptions(),
            new LinkRequest { Rank = rank, Generation = generation });
        return new GrpcRingTransport(rank, worldSize, generation, channel, link, outbox);
    }

    /// <summary>A channel for ring traffic: no message caps, large HTTP/2 windows, and buffered socket reads.</summary>
    public static GrpcChannel CreateChannel(string address) => GrpcChannel.ForAddress(address, new GrpcChannelOptions
    {
        MaxSendMessageSize = null,
        MaxReceiveMessageSize = null,
        HttpHandler = new SocketsHttpHandler
        {
            InitialHttp2StreamWindowSize = 16 * 1024 * 1024,
            ConnectCallback = async (context, cancellationToken) =>
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    await socket.ConnectAsync(context.DnsEndPoint, cancellationToken).ConfigureAwait(false);
                    return new ReadBufferedStream(new NetworkStream(socket, ownsSocket: true), ReadBufferBytes);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        },
    });

    public async ValueTask SendAsync(RingMessageHeader header, ReadOnlyMemory<float> payload, CancellationToken cancellationToken) =>
        await _outbox.SendAsync(RingFrame.Outgoing(Rank, _generation, header, payload), cancellationToken).ConfigureAwait(false);

    public async ValueTask<RingMessage> ReceiveAsync(CancellationToken cancellationToken)
    {
        try
        {
            if (!await _link.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false))
                throw new CollectiveException($"rank {Rank}: rank {_left} closed the ring link");
        }
        catch (RpcException e) when (e.StatusCode != StatusCode.Cancelled || !cancellationToken.IsCancellationRequested)
        {
            throw new CollectiveException($"rank {Rank}: the ring link from rank {_left} failed: {e.Status.StatusCode} {e.Status.Detail}", e);
        }
        catch (RpcException) // cancelled by the caller, whose timeout names the silent peer
        {
            throw new OperationCanceledException(cancellationToken);
        }
        var frame = _link.ResponseStream.Current;
        if (frame.FromRank != _left || frame.Generation != _generation)
        {
            frame.Release();
            throw new CollectiveException(
                $"rank {Rank}: refused a chunk from rank {frame.FromRank}, generation {frame.Generation}: the left neighbour is rank {_left}, generation {_generation}");
        }
        return new RingMessage(frame.Header, frame.Payload, frame.Release);
    }

    public ValueTask DisposeAsync()
    {
        _link.Dispose();
        _channel.Dispose();
        return ValueTask.CompletedTask;
    }
}
