using System.Buffers;

namespace DistTrain.Collectives.Grpc;

/// <summary>
/// One ring message as it crosses a gRPC link: who sent it, for which worker generation, its header and its floats.
/// A received frame's payload lives in a pooled array (see <see cref="RingFrameMarshaller"/>), which
/// <see cref="Release"/> hands back once the ring has consumed it; a sent frame's payload is the caller's memory.
/// </summary>
public sealed class RingFrame
{
    private float[]? _pooled;

    public int FromRank { get; init; }
    public long Generation { get; init; }
    public RingMessageHeader Header { get; init; }
    public ReadOnlyMemory<float> Payload { get; private init; }

    /// <summary>A frame to send; the payload is serialized straight from <paramref name="payload"/>.</summary>
    public static RingFrame Outgoing(int fromRank, long generation, RingMessageHeader header, ReadOnlyMemory<float> payload) =>
        new() { FromRank = fromRank, Generation = generation, Header = header, Payload = payload };

    /// <summary>A received frame whose first <paramref name="floats"/> elements of <paramref name="pooled"/> are the payload.</summary>
    internal static RingFrame Received(int fromRank, long generation, RingMessageHeader header, float[]? pooled, int floats) =>
        new() { FromRank = fromRank, Generation = generation, Header = header, _pooled = pooled, Payload = pooled.AsMemory(0, floats) };

    /// <summary>Returns a received payload's buffer to the pool; the payload must not be read afterwards.</summary>
    public void Release()
    {
        if (_pooled is { } a) ArrayPool<float>.Shared.Return(a);
        _pooled = null;
    }
}
