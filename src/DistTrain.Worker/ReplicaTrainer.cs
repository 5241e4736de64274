using DistTrain.Collectives;
using DistTrain.Engine;
using DistTrain.Engine.Model;

namespace DistTrain.Worker;

/// <summary>
/// One data-parallel replica's training step: forward and backward on the local batch, the gradients averaged with
/// the other ranks by ring allreduce, then the same optimizer step as every other replica.
/// <para>
/// Gradients are reduced in buckets over the flat gradient buffer (<see cref="BucketPlan"/>). A bucket is launched as
/// soon as backward has passed the earliest layer whose weights it holds, so its communication overlaps the rest of
/// backward. Buckets are reduced one after another, in the same order on every rank: a ring link is one ordered
/// stream, so two collectives in flight at once would interleave their messages (DDP serialises its buckets on one
/// communication stream for the same reason). Each bucket's allreduce has its own operation number, counted
/// identically everywhere, which the ring checks on every message.
/// </para>
/// </summary>
public sealed class ReplicaTrainer
{
    private readonly Sequential _model;
    private readonly RingAllreduce _ring;
    private readonly IReadOnlyList<Bucket> _buckets;
    private readonly int[] _firstParameterOfLayer;
    private Task _chain = Task.CompletedTask;
    private long _operation;
    private int _nextBucket;

    public ReplicaTrainer(Sequential model, RingAllreduce ring, long bucketBytes = BucketPlan.DefaultBucketBytes)
    {
        model.Build();
        _model = model;
        _ring = ring;
        var trainable = model.Store.Parameters.Where(p => p.Trainable).ToList();
        _buckets = BucketPlan.Create(trainable.Select(p => (p.Offset, p.Length)).ToList(), bucketBytes);
        // For each layer, the index (among trainable parameters) of its first weight, or −1 when it has none.
        _firstParameterOfLayer = model.Layers
            .Select(l => l.Parameters.FirstOrDefault(p => p.Trainable) is { } p ? trainable.IndexOf(p) : -1).ToArray();
    }

    /// <summary>The buckets, in the order they are reduced.</summary>
    public IReadOnlyList<Bucket> Buckets => _buckets;

    /// <summary>Collective operations issued so far (one per bucket per step); equal on every rank.</summary>
    public long Operations => _operation;

    /// <summary>The last step's time inside bucket allreduces (it overlaps backward) and the bytes this rank sent in them.</summary>
    public (double Seconds, long BytesSent) LastStepAllreduce => (_allreduceTicks / (double)System.Diagnostics.Stopwatch.Frequency, _bytesSent);

    private long _allreduceTicks, _bytesSent;

    /// <summary>
    /// One synchronous data-parallel step on this rank's share of a global batch; returns the local batch's loss and
    /// correct count. Each rank's loss gradient is already a mean over the global batch, and only rank 0 adds the
    /// regularisers' gradient, so the ring sums: the result differs from one process's only in the order of additions,
    /// with no 1/N rescale (1/3 is not exact in binary).
    /// </summary>
    public async Task<(double Loss, long Correct, long Judged)> StepAsync(Tensor x, Tensor y, CancellationToken cancellationToken = default)
    {
        _chain = Task.CompletedTask;
        _nextBucket = 0;
        _allreduceTicks = 0;
        _bytesSent = 0;
        int globalBatch = x.Batch * _ring.Transport.WorldSize;
        var result = _model.ComputeGradients(x, y, layer => LaunchReady(layer, cancellationToken), globalBatch,
            regularizerGradient: _ring.Transport.Rank == 0);
        LaunchReady(0, cancellationToken); // layers before the first trainable one never report; flush what is left
        await _chain.ConfigureAwait(false);
        _model.ApplyGradients();
        return result;
    }

    // Backward just finished `layer`: every bucket whose earliest parameter belongs to this layer or a later one is complete.
    private void LaunchReady(int layer, CancellationToken cancellationToken)
    {
        int firstDone = int.MaxValue;
        for (int l = layer; l < _firstParameterOfLayer.Length; l++)
            if (_firstParameterOfLayer[l] >= 0) { firstDone = _firstParameterOfLayer[l]; break; }
        if (layer == 0) firstDone = 0;
        var gradients = _model.Store.Gradients.AsMemory();
        while (_nextBucket < _buckets.Count && _buckets[_nextBucket].FirstParameter >= firstDone)
        {
            var b = _buckets[_nextBucket++];
            _chain = ReduceAfterAsync(_chain, gradients.Slice(b.Start, b.Length), _operation++, cancellationToken);
        }
    }

    private async Task ReduceAfterAsync(Task previous, Memory<float> bucket, long operation, CancellationToken cancellationToken)
    {
        await previous.ConfigureAwait(false);
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        await _ring.AllreduceAsync(bucket, operation, average: false, cancellationToken).ConfigureAwait(false);
        _allreduceTicks += System.Diagnostics.Stopwatch.GetTimestamp() - start;
        int n = _ring.Transport.WorldSize;
        _bytesSent += (long)bucket.Length * sizeof(float) * 2 * (n - 1) / n; // a ring rank sends 2(N−1)/N of the buffer
    }
}
