namespace DistTrain.Collectives;

/// <summary>
/// A rank's two links in the ring: it sends only to its right neighbour, (rank + 1) mod N, and receives only from its
/// left neighbour, (rank − 1) mod N. Messages on a link arrive in the order they were sent.
/// </summary>
public interface IRingTransport : IAsyncDisposable
{
    int Rank { get; }
    int WorldSize { get; }

    /// <summary>
    /// Sends one message to the right neighbour. Messages go out in the order of the calls, and several may be
    /// outstanding; a payload may be reused once its task completes.
    /// </summary>
    ValueTask SendAsync(RingMessageHeader header, ReadOnlyMemory<float> payload, CancellationToken cancellationToken);

    /// <summary>
    /// Receives the next message from the left neighbour. The caller checks its header, reads its payload in place
    /// (adding it or copying it where it belongs), and disposes it so that its buffer can take the next message.
    /// </summary>
    ValueTask<RingMessage> ReceiveAsync(CancellationToken cancellationToken);
}

/// <summary>A received ring message: its header and a payload that stays valid until the message is disposed.</summary>
public sealed class RingMessage(RingMessageHeader header, ReadOnlyMemory<float> payload, Action? release = null) : IDisposable
{
    public RingMessageHeader Header { get; } = header;
    public ReadOnlyMemory<float> Payload { get; } = payload;

    public void Dispose() => release?.Invoke();
}
