using DistTrain.Protos;
using Grpc.Core;
using Grpc.Net.Client;

namespace DistTrain.Collectives.Grpc;

/// <summary>
/// A rank's ring links over gRPC: one persistent client stream to the right neighbour's Collective service carries
/// every chunk this rank sends, and chunks from the left neighbour arrive in this worker's <see cref="RingInbox"/>.
/// Message size caps are lifted on both sides: chunks are 1 MiB by default but configurable, and gRPC's 4 MB default
/// cap must never be what fails a job.
/// </summary>
public sealed class GrpcRingTransport : IRingTransport
{
    private readonly GrpcChannel _channel;
    private readonly AsyncClientStreamingCall<RingChunk, LinkClosed> _link;
    private readonly RingInbox _inbox;
    private readonly long _generation;
    private readonly SemaphoreSlim _sendLock = new(1, 1);

    private GrpcRingTransport(int rank, int worldSize, long generation, GrpcChannel channel,
        AsyncClientStreamingCall<RingChunk, LinkClosed> link, RingInbox inbox)
    {
        Rank = rank;
        WorldSize = worldSize;
        _generation = generation;
        _channel = channel;
        _link = link;
        _inbox = inbox;
    }

    public int Rank { get; }
    public int WorldSize { get; }

    /// <summary>gRPC channel options for ring links: no message size caps.</summary>
    public static GrpcChannelOptions ChannelOptions => new() { MaxSendMessageSize = null, MaxReceiveMessageSize = null };

    /// <summary>Opens the link to <paramref name="rightAddress"/> and starts taking chunks from the left neighbour into <paramref name="inbox"/>.</summary>
    public static GrpcRingTransport Connect(int rank, int worldSize, long generation, string rightAddress, RingInbox inbox)
    {
        if (worldSize < 1 || rank < 0 || rank >= worldSize)
            throw new ArgumentOutOfRangeException(nameof(rank), rank, $"rank must be in [0, {worldSize})");
        inbox.Expected = (RingPlan.Mod(rank - 1, worldSize), generation);
        var channel = GrpcChannel.ForAddress(rightAddress, ChannelOptions);
        var link = new Collective.CollectiveClient(channel).Link();
        return new GrpcRingTransport(rank, worldSize, generation, channel, link, inbox);
    }

    public async ValueTask SendAsync(RingMessageHeader header, ReadOnlyMemory<float> payload, CancellationToken cancellationToken)
    {
        var chunk = new RingChunk
        {
            FromRank = Rank, Generation = _generation, Operation = header.Operation, Phase = header.Phase,
            Step = header.Step, Chunk = header.Chunk, Payload = FloatBytes.Wrap(payload),
        };
        await _sendLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await _link.RequestStream.WriteAsync(chunk, cancellationToken).ConfigureAwait(false);
        }
        catch (RpcException e)
        {
            throw new CollectiveException(
                $"rank {Rank}: sending {header} to rank {RingPlan.Mod(Rank + 1, WorldSize)} failed: {e.Status.StatusCode} {e.Status.Detail}", e);
        }
        finally
        {
            _sendLock.Release();
        }
    }

    public async ValueTask<RingMessageHeader> ReceiveAsync(Memory<float> destination, CancellationToken cancellationToken)
    {
        var chunk = await _inbox.NextAsync(cancellationToken).ConfigureAwait(false);
        var header = new RingMessageHeader(chunk.Operation, chunk.Phase, chunk.Step, chunk.Chunk, FloatBytes.FloatCount(chunk.Payload));
        if (header.Length != destination.Length)
            throw new CollectiveException(
                $"rank {Rank}: rank {chunk.FromRank} sent {header.Length} floats ({header}) where {destination.Length} were expected");
        FloatBytes.CopyTo(chunk.Payload, destination.Span);
        return header;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _link.RequestStream.CompleteAsync().ConfigureAwait(false);
            await _link.ResponseAsync.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (Exception e) when (e is RpcException or TimeoutException or InvalidOperationException)
        {
            // The peer may already be gone at shutdown; nothing is left to deliver either way.
        }
        _link.Dispose();
        _channel.Dispose();
        _sendLock.Dispose();
    }
}
