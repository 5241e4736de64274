using System.Numerics.Tensors;

namespace DistTrain.Collectives;

/// <summary>Settings for <see cref="RingAllreduce"/>.</summary>
/// <param name="ChunkFloats">Pipelining grain: a segment goes out as messages of at most this many floats (default 256 Ki floats, 1 MiB).</param>
/// <param name="Timeout">How long any one receive may wait before the collective fails naming the silent peer.</param>
public sealed record RingOptions(int ChunkFloats = 256 * 1024, TimeSpan? Timeout = null)
{
    public TimeSpan ReceiveTimeout => Timeout ?? TimeSpan.FromSeconds(60);
}

/*
 * Ring allreduce (sum), over N ranks in a ring; each rank sends only to its right neighbour r+1 and receives only
 * from its left neighbour r−1 (mod N). The buffer is cut into N segments S0 … S(N−1) (RingPlan.Segments).
 *
 *          ┌────────► rank 1 ────────┐
 *       rank 0                       ▼
 *          ▲                       rank 2
 *          └──────── rank 3 ◄────────┘
 *
 * Phase 0, reduce-scatter, steps s = 0 … N−2: rank r sends segment (r − s) and receives segment (r − s − 1), which it
 * adds into its own copy. After N−1 steps rank r holds the complete sum of segment (r + 1).
 * Phase 1, all-gather, steps s = 0 … N−2: rank r sends segment (r − s + 1), which is complete, and receives segment
 * (r − s), which it copies over its own. After N−1 steps every rank holds every complete segment.
 *
 *   N = 4, segment indices sent → received:
 *   phase          step   rank 0    rank 1    rank 2    rank 3
 *   reduce-scatter   0    S0 → S3   S1 → S0   S2 → S1   S3 → S2
 *                    1    S3 → S2   S0 → S3   S1 → S0   S2 → S1
 *                    2    S2 → S1   S3 → S2   S0 → S3   S1 → S0     now rank r owns the sum of S(r+1)
 *   all-gather       0    S1 → S0   S2 → S1   S3 → S2   S0 → S3
 *                    1    S0 → S3   S1 → S0   S2 → S1   S3 → S2
 *                    2    S3 → S2   S0 → S3   S1 → S0   S2 → S1     every rank holds every sum
 *
 * Cost: each rank sends (and receives) 2(N−1) segments of L/N floats, 2(N−1)/N · bytes in all, which is within a
 * factor 2 of the minimum for any N, and the time does not grow with N for large buffers (nccl-tests' "bus bandwidth"
 * is exactly bytes · 2(N−1)/N / time). Within a step the segment goes out in chunks, so the receiver adds chunk k while
 * chunk k+1 is on the wire. Every message carries a header that the receiver checks against what it expects, so ranks
 * that disagree on the operation, the step or the length fail loudly instead of mixing data; every receive is bounded
 * by a timeout that names the silent peer.
 */

/// <summary>Sums (or averages) a buffer across all ranks of a ring; see the comment above for the algorithm.</summary>
public sealed class RingAllreduce(IRingTransport transport, RingOptions? options = null)
{
    private readonly RingOptions _options = options ?? new RingOptions();
    public IRingTransport Transport => transport;
    public RingOptions Options => _options;

    /// <summary>buffer ← Σ over ranks of buffer (÷ N when <paramref name="average"/>). Every rank must call it with the same operation and length.</summary>
    public async Task AllreduceAsync(Memory<float> buffer, long operation, bool average = false, CancellationToken cancellationToken = default)
    {
        int n = transport.WorldSize, rank = transport.Rank;
        if (n == 1) return;
        var segments = RingPlan.Segments(buffer.Length, n);
        for (int s = 0; s < n - 1; s++)
            await ExchangeAsync(buffer, segments[RingPlan.Mod(rank - s, n)], segments[RingPlan.Mod(rank - s - 1, n)],
                new RingMessageHeader(operation, 0, s, 0, 0), reduce: true, cancellationToken).ConfigureAwait(false);
        for (int s = 0; s < n - 1; s++)
            await ExchangeAsync(buffer, segments[RingPlan.Mod(rank - s + 1, n)], segments[RingPlan.Mod(rank - s, n)],
                new RingMessageHeader(operation, 1, s, 0, 0), reduce: false, cancellationToken).ConfigureAwait(false);
        if (average) TensorPrimitives.Multiply(buffer.Span, 1f / n, buffer.Span);
    }

    // One ring step: send one segment to the right while receiving another from the left, chunk by chunk.
    private async Task ExchangeAsync(Memory<float> buffer, (int Offset, int Length) send, (int Offset, int Length) receive,
        RingMessageHeader step, bool reduce, CancellationToken cancellationToken)
    {
        int chunkFloats = _options.ChunkFloats;
        // If receiving fails, the sends still queued are cancelled too, so nothing is left waiting on a broken ring.
        using var sendCancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var sending = SendSegmentAsync(buffer.Slice(send.Offset, send.Length), step, chunkFloats, sendCancel.Token);
        try
        {
            await ReceiveSegmentAsync(buffer, receive, step, reduce, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            sendCancel.Cancel();
            try { await sending.ConfigureAwait(false); } catch (Exception) { /* the receive failure is the one to report */ }
            throw;
        }
        await sending.ConfigureAwait(false);
    }

    private async Task ReceiveSegmentAsync(Memory<float> buffer, (int Offset, int Length) receive, RingMessageHeader step, bool reduce,
        CancellationToken cancellationToken)
    {
        int chunkFloats = _options.ChunkFloats;
        int chunks = RingPlan.ChunkCount(receive.Length, chunkFloats);
        for (int c = 0; c < chunks; c++)
        {
            var (offset, length) = RingPlan.Chunk(receive.Length, chunkFloats, c);
            var target = buffer.Slice(receive.Offset + offset, length);
            using (var message = await transport.ExpectAsync(step with { Chunk = c, Length = length }, _options, cancellationToken).ConfigureAwait(false))
            {
                if (reduce) TensorPrimitives.Add(target.Span, message.Payload.Span, target.Span);
                else message.Payload.Span.CopyTo(target.Span);
            }
        }
    }

    // Every chunk of the segment is queued at once (the transport keeps call order), so the link never waits on
    // this loop between chunks; the segment's memory is not touched until all of them are out.
    private async Task SendSegmentAsync(ReadOnlyMemory<float> segment, RingMessageHeader step, int chunkFloats, CancellationToken cancellationToken)
    {
        int chunks = RingPlan.ChunkCount(segment.Length, chunkFloats);
        var sends = new Task[chunks];
        for (int c = 0; c < chunks; c++)
        {
            var (offset, length) = RingPlan.Chunk(segment.Length, chunkFloats, c);
            sends[c] = transport.SendAsync(step with { Chunk = c, Length = length }, segment.Slice(offset, length), cancellationToken).AsTask();
        }
        await Task.WhenAll(sends).ConfigureAwait(false);
    }
}
