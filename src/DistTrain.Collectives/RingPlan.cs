namespace DistTrain.Collectives;

/// <summary>
/// The pure arithmetic of the ring: how a buffer of L floats is cut into N segments, and a segment into pipelined
/// chunks. Segment i holds ⌊L/N⌋ floats, plus one for the first L mod N segments, so any L works, including 0 and
/// L &lt; N (then some segments are empty, and their messages carry no payload but still keep the ranks in step).
/// </summary>
public static class RingPlan
{
    /// <summary>(offset, length) of each of the N segments, covering [0, L) in order.</summary>
    public static (int Offset, int Length)[] Segments(int length, int worldSize)
    {
        if (length < 0) throw new ArgumentOutOfRangeException(nameof(length), length, "buffer length must be ≥ 0");
        if (worldSize < 1) throw new ArgumentOutOfRangeException(nameof(worldSize), worldSize, "world size must be ≥ 1");
        var segments = new (int, int)[worldSize];
        int baseSize = length / worldSize, extra = length % worldSize, offset = 0;
        for (int i = 0; i < worldSize; i++)
        {
            int size = baseSize + (i < extra ? 1 : 0);
            segments[i] = (offset, size);
            offset += size;
        }
        return segments;
    }

    /// <summary>How many chunks a segment of <paramref name="length"/> floats is sent in (at least one, so empty segments still say so).</summary>
    public static int ChunkCount(int length, int chunkFloats) => Math.Max(1, (length + chunkFloats - 1) / chunkFloats);

    /// <summary>(offset, length) of chunk <paramref name="chunk"/> within a segment.</summary>
    public static (int Offset, int Length) Chunk(int segmentLength, int chunkFloats, int chunk)
    {
        int offset = chunk * chunkFloats;
        return (offset, Math.Max(0, Math.Min(chunkFloats, segmentLength - offset)));
    }

    /// <summary>x mod n in [0, n).</summary>
    public static int Mod(int x, int n) => ((x % n) + n) % n;
}
