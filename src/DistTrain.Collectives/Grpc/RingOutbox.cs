using System.Threading.Channels;
using DistTrain.Protos;
using Grpc.Core;

namespace DistTrain.Collectives.Grpc;

/// <summary>
/// The frames a rank sends to its right neighbour, waiting for that neighbour to pull them over its Link calls. A
/// link has S parallel streams: frame k goes out on stream k mod S and the receiver reads them back in the same
/// rotation, so order is kept while S frames are on the wire at once. A send completes once its frame has been
/// serialized onto its stream, so the caller may then reuse the payload memory.
/// Each job opens the outbox for one receiver rank and one worker generation; a Link call from any other rank, or
/// from an older generation, is refused, so a stale peer never reads a newer job's data. A call that arrives before
/// this worker has opened the outbox for its generation (its assignment may come a moment later) waits for it.
/// </summary>
/// <param name="joinWait">How long a Link call may wait for this worker to join the caller's ring (default 60 s).</param>
public sealed class RingOutbox(TimeSpan? joinWait = null)
{
    private sealed record Pending(RingFrame Frame, TaskCompletionSource Written);

    private sealed class Ring(int toRank, long generation, int streams, string secret)
    {
        public int ToRank { get; } = toRank;
        public string Secret { get; } = secret;
        public long Generation { get; } = generation;
        public Channel<Pending>[] Streams { get; } = Enumerable.Range(0, streams)
            // Two readers: the Link call that serves the stream, and an abort that fails what is left in it.
            .Select(_ => Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = false, SingleWriter = true })).ToArray();
        public TaskCompletionSource Drained { get; } = NewSignal();
        public long Sent;
        public int Serving = streams;

        public void Complete(Exception? error = null)
        {
            foreach (var s in Streams) s.Writer.TryComplete(error);
        }

        // Ends the ring with an error: later sends are refused, and frames still queued fail instead of waiting forever
        // for a receiver that is gone.
        public void Fail(Exception error)
        {
            Complete(error);
            foreach (var s in Streams)
                while (s.Reader.TryRead(out var pending)) pending.Written.TrySetException(error);
        }
    }

    private readonly object _gate = new();
    private Ring? _ring;
    private TaskCompletionSource _opened = NewSignal();

    /// <summary>
    /// Starts a job's link: frames are kept for <paramref name="toRank"/> at <paramref name="generation"/> from now
    /// on, spread over <paramref name="streams"/> streams, to a caller that presents <paramref name="secret"/> (the
    /// generation's ring secret; empty: none asked, as in benchmarks on loopback).
    /// </summary>
    public void Open(int toRank, long generation, int streams = 1, string secret = "")
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(streams, 1);
        lock (_gate)
        {
            _ring?.Complete(new CollectiveException($"the ring of generation {_ring.Generation} was replaced by generation {generation}"));
            _ring = new Ring(toRank, generation, streams, secret);
            _opened.TrySetResult();
            _opened = NewSignal();
        }
    }

    /// <summary>Queues a frame for the right neighbour and waits until it is on the wire. Callers send one frame at a time, in order.</summary>
    public async ValueTask SendAsync(RingFrame frame, CancellationToken cancellationToken)
    {
        var ring = _ring ?? throw new InvalidOperationException("the outbox was not opened for a ring");
        var pending = new Pending(frame, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        long k = ring.Sent++;
        if (!ring.Streams[k % ring.Streams.Length].Writer.TryWrite(pending))
            throw new CollectiveException($"rank {frame.FromRank}: the link to rank {ring.ToRank} is closed");
        await pending.Written.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Ends the job's link: the receiver gets every frame already queued and then the end of its streams. Waits (at
    /// most <paramref name="wait"/>) until it has them, because a sender that exits while its last frames are still
    /// in its socket buffers would cut them off.
    /// </summary>
    public async Task CloseAsync(long generation, TimeSpan wait)
    {
        var ring = _ring;
        if (ring is null || ring.Generation != generation) return;
        ring.Complete();
        try
        {
            await ring.Drained.Task.WaitAsync(wait).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // The receiver is gone or never came; its own timeout reports that.
        }
    }

    /// <summary>Fails the ring of <paramref name="generation"/>, if it is still the open one (see <see cref="Ring.Fail"/>).</summary>
    public void Abort(long generation, string reason)
    {
        var ring = _ring;
        if (ring is not null && ring.Generation == generation) ring.Fail(new CollectiveException(reason));
    }

    /// <summary>Serves one Link call: checks who is asking, then streams its stream's frames to it until the call ends.</summary>
    public async Task ServeAsync(LinkRequest request, IServerStreamWriter<RingFrame> stream, CancellationToken cancellationToken)
    {
        var ring = await RingForAsync(request, joinWait ?? TimeSpan.FromSeconds(60), cancellationToken).ConfigureAwait(false);
        try
        {
            await foreach (var pending in ring.Streams[request.Stream].Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                try
                {
                    await stream.WriteAsync(pending.Frame, cancellationToken).ConfigureAwait(false);
                    pending.Written.TrySetResult();
                }
                catch (Exception e)
                {
                    pending.Written.TrySetException(new CollectiveException($"sending to rank {request.Rank} failed: {e.Message}", e));
                    throw;
                }
            }
        }
        catch (Exception e) when (e is not CollectiveException)
        {
            // The receiver went away mid-ring (it died, or dropped the ring after a failure of its own): what this rank
            // still has queued for it, and anything it sends later, fails now rather than at the collective timeout.
            // No suspect: the receiver may have dropped the ring on purpose after a failure elsewhere, and one that died is
            // named by its own right neighbour, whose link from it broke.
            ring.Fail(new CollectiveException($"rank {request.Rank} dropped the ring link: {e.Message}", e));
            throw;
        }
        finally
        {
            if (Interlocked.Decrement(ref ring.Serving) == 0) ring.Drained.TrySetResult();
        }
    }

    private async Task<Ring> RingForAsync(LinkRequest request, TimeSpan waitForOpen, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + waitForOpen;
        while (true)
        {
            Task opened;
            lock (_gate)
            {
                if (_ring is { } ring && ring.Generation >= request.Generation)
                {
                    // A member of this generation holds its secret; a caller without it is refused before its rank is even
                    // looked at (a stale member of an older generation is told so below, as before).
                    if (ring.Generation == request.Generation && !Protos.Security.WorkerSecret.Equal(ring.Secret, request.Secret))
                        throw new UnauthorizedAccessException(
                            $"refused a link for generation {request.Generation}: the caller did not present this generation's ring secret");
                    if (ring.Generation != request.Generation || ring.ToRank != request.Rank)
                        throw new CollectiveException(
                            $"refused a link from rank {request.Rank}, generation {request.Generation}: this worker sends to rank {ring.ToRank}, generation {ring.Generation}");
                    if (request.Stream < 0 || request.Stream >= ring.Streams.Length)
                        throw new CollectiveException(
                            $"refused link stream {request.Stream} from rank {request.Rank}: this worker sends on {ring.Streams.Length} streams");
                    return ring;
                }
                opened = _opened.Task;
            }
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
                throw new CollectiveException(
                    $"rank {request.Rank} asked for generation {request.Generation}'s link, but this worker has not joined that ring within {waitForOpen.TotalSeconds:0.#} s");
            try
            {
                await opened.WaitAsync(left, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // Checked again at the top of the loop, which names the generation.
            }
        }
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
