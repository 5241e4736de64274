namespace DistTrain.Collectives;

/// <summary>
/// A rank's two links in the ring: it sends only to its right neighbour, (rank + 1) mod N, and receives only from its
/// left neighbour, (rank − 1) mod N. Messages on a link arrive in the order they were sent.
/// </summary>
public interface IRingTransport : IAsyncDisposable
{
    int Rank { get; }
    int WorldSize { get; }

    /// <summary>Sends one message to the right neighbour. The payload may be reused once the returned task completes.</summary>
    ValueTask SendAsync(RingMessageHeader header, ReadOnlyMemory<float> payload, CancellationToken cancellationToken);

    /// <summary>
    /// Receives the next message from the left neighbour. A payload whose length is not destination.Length is
    /// refused with a <see cref="CollectiveException"/>; otherwise it is written into destination.
    /// </summary>
    ValueTask<RingMessageHeader> ReceiveAsync(Memory<float> destination, CancellationToken cancellationToken);
}
