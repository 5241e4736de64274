using System.IO.Hashing;
using System.Runtime.InteropServices;
using DistTrain.Collectives;

namespace DistTrain.Worker;

/// <summary>
/// The replicas' consistency check: every rank hashes its flat parameter buffer (and batch-norm state), and the
/// hashes are exchanged with one allreduce. Rank r writes its 64-bit hash as four 16-bit pieces into slots
/// [4r, 4r + 4) of an otherwise zero vector, so the sum holds every rank's hash exactly (16-bit integers are exact
/// in float). A rank whose hash differs from rank 0's is named.
/// </summary>
public static class ParameterHash
{
    /// <summary>A 64-bit hash of the values' bits.</summary>
    public static ulong Of(ReadOnlySpan<float> values, ReadOnlySpan<float> state)
    {
        var hash = new XxHash64();
        hash.Append(MemoryMarshal.AsBytes(values));
        hash.Append(MemoryMarshal.AsBytes(state));
        return hash.GetCurrentHashAsUInt64();
    }

    /// <summary>Every rank's hash, in rank order, exchanged over the ring.</summary>
    public static async Task<ulong[]> GatherAsync(RingAllreduce ring, ulong mine, long operation, CancellationToken cancellationToken)
    {
        int n = ring.Transport.WorldSize, rank = ring.Transport.Rank;
        var slots = new float[4 * n];
        for (int i = 0; i < 4; i++) slots[4 * rank + i] = (mine >> (16 * i)) & 0xFFFF;
        await ring.AllreduceAsync(slots, operation, average: false, cancellationToken).ConfigureAwait(false);
        var all = new ulong[n];
        for (int r = 0; r < n; r++)
            for (int i = 0; i < 4; i++) all[r] |= (ulong)slots[4 * r + i] << (16 * i);
        return all;
    }

    /// <summary>Throws naming the ranks whose parameters differ from rank 0's, at <paramref name="step"/>.</summary>
    public static void Verify(ulong[] hashes, long step)
    {
        var differing = Enumerable.Range(1, hashes.Length - 1).Where(r => hashes[r] != hashes[0]).ToList();
        if (differing.Count > 0)
            throw new CollectiveException(
                $"replicas diverged at step {step}: the parameters of rank{(differing.Count > 1 ? "s" : "")} {string.Join(", ", differing)} differ from rank 0's");
    }
}
