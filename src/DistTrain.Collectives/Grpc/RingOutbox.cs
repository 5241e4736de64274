using System.Threading.Channels;
using DistTrain.Protos;
using Grpc.Core;

namespace DistTrain.Collectives.Grpc;

/// <summary>
/// The frames a rank sends to its right neighbour, waiting for that neighbour to pull them over its Link call. A send
/// completes once its frame has been serialized onto the stream, so the caller may then reuse the payload memory.
/// Each job opens the outbox for one receiver rank and one worker generation; a Link call from any other rank, or
/// from an older generation, is refused, so a stale peer never reads a newer job's data. A call that arrives before
/// this worker has opened the outbox for its generation (its assignment may come a moment later) waits for it.
/// </summary>
/// <param name="joinWait">How long a Link call may wait for this worker to join the caller's ring (default 60 s).</param>
public sealed class RingOutbox(TimeSpan? joinWait = null)
{
    private sealed record Pending(RingFrame Frame, TaskCompletionSource Written);
    private sealed record Ring(int ToRank, long Generation, Channel<Pending> Frames);

    private readonly object _gate = new();
    private Ring? _ring;
    private TaskCompletionSource _opened = NewSignal();

    /// <summary>Starts a job's link: frames are kept for <paramref name="toRank"/> at <paramref name="generation"/> from now on.</summary>
    public void Open(int toRank, long generation)
    {
        lock (_gate)
        {
            _ring?.Frames.Writer.TryComplete(new CollectiveException($"the ring of generation {_ring.Generation} was replaced by generation {generation}"));
            _ring = new Ring(toRank, generation, Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true }));
            _opened.TrySetResult();
            _opened = NewSignal();
        }
    }

    /// <summary>Queues a frame for the right neighbour and waits until it is on the wire.</summary>
    public async ValueTask SendAsync(RingFrame frame, CancellationToken cancellationToken)
    {
        var ring = _ring ?? throw new InvalidOperationException("the outbox was not opened for a ring");
        var pending = new Pending(frame, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        if (!ring.Frames.Writer.TryWrite(pending))
            throw new CollectiveException($"rank {frame.FromRank}: the link to rank {ring.ToRank} is closed");
        await pending.Written.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Serves one Link call: checks who is asking, then streams frames to it until the call ends.</summary>
    public async Task ServeAsync(LinkRequest request, IServerStreamWriter<RingFrame> stream, CancellationToken cancellationToken)
    {
        var ring = await RingForAsync(request, joinWait ?? TimeSpan.FromSeconds(60), cancellationToken).ConfigureAwait(false);
        await foreach (var pending in ring.Frames.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
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
                    if (ring.Generation != request.Generation || ring.ToRank != request.Rank)
                        throw new CollectiveException(
                            $"refused a link from rank {request.Rank}, generation {request.Generation}: this worker sends to rank {ring.ToRank}, generation {ring.Generation}");
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
