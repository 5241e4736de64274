using System.Net.Sockets;
using DistTrain.Protos;
using Grpc.Core;
using Grpc.Net.Client;

namespace DistTrain.Collectives.Grpc;

/// <summary>
/// A rank's ring links over gRPC. Frames for the right neighbour wait in this worker's <see cref="RingOutbox"/>,
/// which the right neighbour pulls over its Link calls; frames from the left neighbour arrive over this rank's own
/// Link calls to it: S persistent server streams per job, each on its own connection, read in rotation. Message size caps are lifted on both sides: chunks are
/// 1 MiB by default but configurable, and gRPC's 4 MB default cap must never be what fails a job.
/// </summary>
public sealed class GrpcRingTransport : IRingTransport
{
    private const int ReadBufferBytes = 256 * 1024;

    private readonly GrpcChannel[] _channels;
    private readonly AsyncServerStreamingCall<RingFrame>[] _links;
    private readonly RingOutbox _outbox;
    private readonly long _generation;
    private readonly int _left;
    private long _received;

    private GrpcRingTransport(int rank, int worldSize, long generation, GrpcChannel[] channels, AsyncServerStreamingCall<RingFrame>[] links, RingOutbox outbox)
    {
        Rank = rank;
        WorldSize = worldSize;
        _generation = generation;
        _left = RingPlan.Mod(rank - 1, worldSize);
        _channels = channels;
        _links = links;
        _outbox = outbox;
    }

    public int Rank { get; }
    public int WorldSize { get; }

    /// <summary>
    /// Parallel streams per link unless told otherwise; every rank of a ring must use the same count. One: on the
    /// two-core loopback benchmark two or more streams were slower (BENCHMARKS.md); links with real latency may differ.
    /// </summary>
    public const int DefaultStreams = 1;

    /// <summary>
    /// Opens <paramref name="outbox"/> to the right neighbour and calls Link on the left neighbour at
    /// <paramref name="leftAddress"/>, whose frames this rank receives, over <paramref name="streams"/> streams.
    /// The generation's <paramref name="secret"/> is what this rank's right neighbour must present, and what this rank
    /// presents to its left neighbour; <paramref name="security"/> carries the cluster token and TLS.
    /// </summary>
    public static GrpcRingTransport Connect(int rank, int worldSize, long generation, string leftAddress, RingOutbox outbox,
        int streams = DefaultStreams, string secret = "", Protos.Security.ClusterSecurity? security = null)
    {
        if (worldSize < 1 || rank < 0 || rank >= worldSize)
            throw new ArgumentOutOfRangeException(nameof(rank), rank, $"rank must be in [0, {worldSize})");
        ArgumentOutOfRangeException.ThrowIfLessThan(streams, 1);
        outbox.Open(RingPlan.Mod(rank + 1, worldSize), generation, streams, secret);
        var channels = Enumerable.Range(0, streams).Select(_ => CreateChannel(leftAddress, security)).ToArray();
        var links = channels.Select((channel, i) => channel.CreateCallInvoker().AsyncServerStreamingCall(CollectiveService.LinkMethod, null,
            new CallOptions(), new LinkRequest { Rank = rank, Generation = generation, Stream = i, Secret = secret })).ToArray();
        return new GrpcRingTransport(rank, worldSize, generation, channels, links, outbox);
    }

    /// <summary>A channel for ring traffic: frames capped at <see cref="CollectiveHost.MaxFrameBytes"/>, large HTTP/2 windows, and buffered socket reads.</summary>
    public static GrpcChannel CreateChannel(string address, Protos.Security.ClusterSecurity? security = null)
    {
        var handler = new SocketsHttpHandler
        {
            // A peer that stops answering (a frozen process, a dead host whose sockets never closed) is found by HTTP/2
            // pings within about five seconds, where TCP alone would wait for minutes.
            KeepAlivePingDelay = RingKeepAlive.PingDelay,
            KeepAlivePingTimeout = RingKeepAlive.PingTimeout,
            KeepAlivePingPolicy = HttpKeepAlivePingPolicy.Always,
            // 4 chunks in flight. The window stays this size (the CLI turns off dynamic window sizing): grown to 16 MiB,
            // the client buffered whole bursts in 16 KiB pool blocks beyond what ArrayPool keeps, and allocated about
            // half of every byte it received.
            InitialHttp2StreamWindowSize = 4 * 1024 * 1024,
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
        };
        var options = new GrpcChannelOptions
        {
            MaxSendMessageSize = CollectiveHost.MaxRequestBytes,
            MaxReceiveMessageSize = CollectiveHost.MaxFrameBytes,
            HttpHandler = handler,
        };
        bool secure = address.StartsWith("https:", StringComparison.Ordinal);
        // With TLS configured, the token and the ring secret never go out in cleartext, whatever address a peer gave.
        if (security?.Tls is not null && !secure)
            throw new CollectiveException($"the ring peer at {address} is not an https:// address, and this worker is configured for TLS");
        (security ?? Protos.Security.ClusterSecurity.None).ApplyTo(options, handler, secure);
        return GrpcChannel.ForAddress(address, options);
    }

    public ValueTask SendAsync(RingMessageHeader header, ReadOnlyMemory<float> payload, CancellationToken cancellationToken) =>
        _outbox.SendAsync(RingFrame.Outgoing(Rank, _generation, header, payload), cancellationToken);

    public async ValueTask<RingMessage> ReceiveAsync(CancellationToken cancellationToken)
    {
        var link = _links[_received % _links.Length];
        try
        {
            if (!await link.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false))
                throw new CollectiveException($"rank {Rank}: rank {_left} closed the ring link", suspectRank: _left);
        }
        catch (RpcException e) when (e.StatusCode != StatusCode.Cancelled || !cancellationToken.IsCancellationRequested)
        {
            // FailedPrecondition: the left neighbour left the ring on purpose (a failure elsewhere went round), so it is
            // no suspect; anything else (a reset, a refused connection, a ping timeout) points at it.
            throw new CollectiveException($"rank {Rank}: the ring link from rank {_left} failed: {e.Status.StatusCode} {e.Status.Detail}", e,
                e.StatusCode == StatusCode.FailedPrecondition ? -1 : _left);
        }
        catch (RpcException) // cancelled by the caller, whose timeout names the silent peer
        {
            throw new OperationCanceledException(cancellationToken);
        }
        _received++;
        var frame = link.ResponseStream.Current;
        if (frame.FromRank != _left || frame.Generation != _generation)
        {
            frame.Release();
            throw new CollectiveException(
                $"rank {Rank}: refused a chunk from rank {frame.FromRank}, generation {frame.Generation}: the left neighbour is rank {_left}, generation {_generation}");
        }
        return new RingMessage(frame.Header, frame.Payload, frame.Release);
    }

    /// <summary>
    /// After a failure: drops this ring at once, without waiting for anyone. Frames not yet sent fail, so both
    /// neighbours' collectives fail too instead of waiting for their timeout, and the failure goes round the ring.
    /// </summary>
    public void Abandon(string reason)
    {
        _outbox.Abort(_generation, $"rank {Rank} left generation {_generation}'s ring: {reason}");
        foreach (var link in _links) link.Dispose();
        foreach (var channel in _channels) channel.Dispose();
    }

    /// <summary>Lets the right neighbour receive everything sent (bounded wait), then closes this rank's link.</summary>
    public async ValueTask DisposeAsync()
    {
        await _outbox.CloseAsync(_generation, TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        foreach (var link in _links) link.Dispose();
        foreach (var channel in _channels) channel.Dispose();
    }
}
