using System.Threading.Channels;
using DistTrain.Protos;

namespace DistTrain.Collectives.Grpc;

/// <summary>
/// Where chunks from the left neighbour land: the Collective service writes them in as they arrive on the link, and
/// the rank's transport reads them out in order. A chunk from the wrong rank or an older worker generation is refused,
/// so a stale peer can never feed data into a newer job.
/// </summary>
public sealed class RingInbox
{
    private readonly Channel<RingChunk> _chunks = Channel.CreateUnbounded<RingChunk>(new UnboundedChannelOptions { SingleReader = true });

    /// <summary>The rank this inbox expects chunks from, and the generation they must carry; set when a job starts.</summary>
    public (int FromRank, long Generation)? Expected { get; set; }

    /// <summary>Accepts a chunk from the link, or throws naming what was wrong.</summary>
    public void Deliver(RingChunk chunk)
    {
        if (Expected is not { } e)
            throw new CollectiveException($"a chunk from rank {chunk.FromRank} arrived before this worker joined a ring");
        if (chunk.FromRank != e.FromRank || chunk.Generation != e.Generation)
            throw new CollectiveException(
                $"refused a chunk from rank {chunk.FromRank}, generation {chunk.Generation}: this worker's left neighbour is rank {e.FromRank}, generation {e.Generation}");
        _chunks.Writer.TryWrite(chunk);
    }

    /// <summary>The next chunk in arrival order.</summary>
    public ValueTask<RingChunk> NextAsync(CancellationToken cancellationToken) => _chunks.Reader.ReadAsync(cancellationToken);
}
