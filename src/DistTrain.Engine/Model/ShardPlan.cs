namespace DistTrain.Engine.Model;

/// <summary>
/// How one epoch's samples are dealt to N ranks.
/// <para>
/// Every epoch has one global permutation of the training samples, seeded by the job seed and the epoch, so every
/// rank (and a single process, for comparison) derives the same order. The permutation is read as consecutive global
/// batches of G samples; global batch k goes to every rank at once, rank r taking the slice
/// [k·G + start(r), k·G + start(r + 1)) with start(r) = r·⌊G/N⌋ + min(r, G mod N): the first G mod N ranks take one
/// sample more when N does not divide G. Each rank's loss gradient is its slice's sum divided by G, so the N
/// gradients sum exactly to the mean gradient of the global batch, the same update one process makes with batch G.
/// </para>
/// <para>
/// Remainder: an epoch has ⌊S/G⌋ steps; the last S mod G samples of the permutation are not used that epoch (as DDP's
/// DistributedSampler with drop_last). Since the permutation changes every epoch, a different set is left out each
/// time. This keeps every rank at exactly the same number of batches, so no rank waits on another that has run out.
/// G must be at least N.
/// </para>
/// </summary>
public static class ShardPlan
{
    /// <summary>The epoch's global order of sample indices.</summary>
    public static int[] Permutation(int samples, int seed, int epoch)
    {
        if (samples < 0) throw new ArgumentOutOfRangeException(nameof(samples), samples, "sample count must be ≥ 0");
        var order = Enumerable.Range(0, samples).ToArray();
        // System.Random with a seed is the same sequence in every process and on every platform.
        new Random(unchecked(seed * 1_000_003 + epoch)).Shuffle(order);
        return order;
    }

    /// <summary>Steps (global batches) per epoch.</summary>
    public static int StepsPerEpoch(int samples, int globalBatch) => samples / globalBatch;

    /// <summary>Rank <paramref name="rank"/>'s batches for one epoch: StepsPerEpoch arrays of ⌊G/N⌋ or ⌈G/N⌉ sample indices.</summary>
    public static int[][] ForRank(int samples, int globalBatch, int worldSize, int rank, int seed, int epoch)
    {
        Validate(samples, globalBatch, worldSize);
        if (rank < 0 || rank >= worldSize) throw new ArgumentOutOfRangeException(nameof(rank), rank, $"rank must be in [0, {worldSize})");
        var order = Permutation(samples, seed, epoch);
        int start = SliceStart(globalBatch, worldSize, rank), local = SliceStart(globalBatch, worldSize, rank + 1) - start;
        int steps = StepsPerEpoch(samples, globalBatch);
        var batches = new int[steps][];
        for (int k = 0; k < steps; k++) batches[k] = order.AsSpan(k * globalBatch + start, local).ToArray();
        return batches;
    }

    /// <summary>Where rank r's slice of a global batch starts: r·⌊G/N⌋ + min(r, G mod N); rank N's is G.</summary>
    public static int SliceStart(int globalBatch, int worldSize, int rank) =>
        rank * (globalBatch / worldSize) + Math.Min(rank, globalBatch % worldSize);

    /// <summary>Refuses a global batch that leaves a rank without samples, or a dataset smaller than one batch, naming the numbers.</summary>
    public static void Validate(int samples, int globalBatch, int worldSize)
    {
        if (worldSize < 1) throw new ArgumentOutOfRangeException(nameof(worldSize), worldSize, "there must be at least one worker");
        if (globalBatch < worldSize)
            throw new ArgumentException($"a global batch of {globalBatch} leaves some of the {worldSize} workers without a sample; use at least {worldSize}");
        if (samples < globalBatch)
            throw new ArgumentException($"the dataset has {samples} training samples, fewer than one global batch of {globalBatch}");
    }
}
