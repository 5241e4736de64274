using System.Threading.Channels;

namespace DistTrain.Collectives;

/// <summary>
/// A ring inside one process, for unit tests of the algorithm: link i is an unbounded channel from rank i to rank
/// i + 1. Payloads are copied on send, as a network would.
/// </summary>
public sealed class InMemoryRingTransport : IRingTransport
{
    private readonly Channel<(RingMessageHeader, float[])> _toRight, _fromLeft;

    private InMemoryRingTransport(int rank, int worldSize, Channel<(RingMessageHeader, float[])> toRight, Channel<(RingMessageHeader, float[])> fromLeft)
    {
        Rank = rank;
        WorldSize = worldSize;
        _toRight = toRight;
        _fromLeft = fromLeft;
    }

    public int Rank { get; }
    public int WorldSize { get; }

    /// <summary>N connected transports, one per rank.</summary>
    public static InMemoryRingTransport[] CreateRing(int worldSize)
    {
        if (worldSize < 1) throw new ArgumentOutOfRangeException(nameof(worldSize), worldSize, "world size must be ≥ 1");
        var links = Enumerable.Range(0, worldSize).Select(_ => Channel.CreateUnbounded<(RingMessageHeader, float[])>()).ToArray();
        return Enumerable.Range(0, worldSize)
            .Select(r => new InMemoryRingTransport(r, worldSize, links[r], links[RingPlan.Mod(r - 1, worldSize)])).ToArray();
    }

    public ValueTask SendAsync(RingMessageHeader header, ReadOnlyMemory<float> payload, CancellationToken cancellationToken) =>
        _toRight.Writer.WriteAsync((header, payload.ToArray()), cancellationToken);

    public async ValueTask<RingMessage> ReceiveAsync(CancellationToken cancellationToken)
    {
        var (header, payload) = await _fromLeft.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        return new RingMessage(header, payload);
    }

    public ValueTask DisposeAsync()
    {
        _toRight.Writer.TryComplete();
        return ValueTask.CompletedTask;
    }
}
