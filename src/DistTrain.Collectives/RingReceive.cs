namespace DistTrain.Collectives;

/// <summary>
/// The one way a collective takes a message from its left neighbour: bounded by the ring's receive timeout (which names
/// the silent peer), and checked against the header and length it expects before the caller touches the payload, so a
/// disagreeing peer corrupts nothing.
/// </summary>
internal static class RingReceive
{
    /// <summary>The next message, whose header is <paramref name="expected"/> and whose payload is expected.Length floats.</summary>
    public static async ValueTask<RingMessage> ExpectAsync(this IRingTransport transport, RingMessageHeader expected, RingOptions options,
        CancellationToken cancellationToken)
    {
        int left = RingPlan.Mod(transport.Rank - 1, transport.WorldSize);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.ReceiveTimeout);
        RingMessage message;
        try
        {
            message = await transport.ReceiveAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new CollectiveException(
                $"rank {transport.Rank}: rank {left} sent nothing for {options.ReceiveTimeout.TotalSeconds:0.#} s while waiting for {expected}",
                suspectRank: left);
        }
        if (message.Header != expected || message.Payload.Length != expected.Length)
        {
            var header = message.Header;
            int length = message.Payload.Length;
            message.Dispose();
            throw new CollectiveException(
                $"rank {transport.Rank}: rank {left} sent {header} ({length} floats of payload) where {expected} was expected; the ranks disagree on the buffer length or the order of operations");
        }
        return message;
    }
}
