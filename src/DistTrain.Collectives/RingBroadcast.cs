namespace DistTrain.Collectives;

/*
 * Ring broadcast: the root's buffer reaches every rank by going once around the ring. The root sends it to its right
 * neighbour chunk by chunk; every other rank receives each chunk from its left neighbour, copies it into place and,
 * unless its right neighbour is the root, passes it on at once. Chunks pipeline, so for a large buffer the time is
 * about one send of the buffer plus (N − 2) chunk latencies: what a joiner or a lagging replica must wait for its
 * state, and no more for the ranks that already hold it. Bits are copied, never added, so the copies are exact
 * (a sum with zeros, as a broadcast by allreduce would be, turns −0 into +0 and changes a parameter hash).
 *
 *   root 1, N = 4:   rank 1 ─► rank 2 ─► rank 3 ─► rank 0      (rank 0 does not send back to the root)
 */

/// <summary>Copies one rank's buffer to every rank of the ring; see the comment above.</summary>
public sealed class RingBroadcast(IRingTransport transport, RingOptions? options = null)
{
    /// <summary>The header phase of broadcast messages (allreduce uses 0 and 1).</summary>
    public const int Phase = 2;

    private readonly RingOptions _options = options ?? new RingOptions();

    /// <summary>buffer ← root's buffer, on every rank. Every rank must call it with the same root, operation and length.</summary>
    public async Task BroadcastAsync(Memory<float> buffer, int root, long operation, CancellationToken cancellationToken = default)
    {
        int n = transport.WorldSize, rank = transport.Rank;
        if (root < 0 || root >= n) throw new ArgumentOutOfRangeException(nameof(root), root, $"root must be in [0, {n})");
        if (n == 1) return;
        int chunkFloats = _options.ChunkFloats, chunks = RingPlan.ChunkCount(buffer.Length, chunkFloats);
        bool forward = RingPlan.Mod(rank + 1, n) != root;
        var sends = new List<Task>(chunks);
        using var sendCancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        try
        {
            for (int c = 0; c < chunks; c++)
            {
                var (offset, length) = RingPlan.Chunk(buffer.Length, chunkFloats, c);
                var header = new RingMessageHeader(operation, Phase, 0, c, length);
                var chunk = buffer.Slice(offset, length);
                if (rank != root) await ReceiveAsync(chunk, header, cancellationToken).ConfigureAwait(false);
                if (rank == root || forward) sends.Add(transport.SendAsync(header, chunk, sendCancel.Token).AsTask());
            }
        }
        catch
        {
            sendCancel.Cancel();
            try { await Task.WhenAll(sends).ConfigureAwait(false); } catch (Exception) { /* the receive failure is the one to report */ }
            throw;
        }
        await Task.WhenAll(sends).ConfigureAwait(false);
    }

    private async Task ReceiveAsync(Memory<float> target, RingMessageHeader expected, CancellationToken cancellationToken)
    {
        using var message = await transport.ExpectAsync(expected, _options, cancellationToken).ConfigureAwait(false);
        message.Payload.Span.CopyTo(target.Span);
    }
}
