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
/// <para>
/// Non-trainable state (batch normalization's moving mean and variance) moves in each rank's forward pass from that
/// rank's own slice, so replicas would drift apart. Each step therefore averages the state across ranks, first in the
/// chain (it is final once forward has run, so its reduce overlaps backward). With identical state before the step,
/// the average of m·momentum + μ_r·(1 − momentum) is m·momentum + mean_r(μ_r)·(1 − momentum): the moving statistics
/// track the mean of the ranks' batch statistics, and every replica holds the same bits (the ring hands every rank
/// the same sums). Normalisation itself stays per rank, as DDP's BatchNorm does; synchronising the batch statistics
/// (SyncBatchNorm) would cost two collectives per batch-norm layer inside forward and backward, and only pays when a
/// rank's slice of the batch is small. TODO: offer it for small per-rank batches.
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
    private bool _stateLaunched;

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

    /// <summary>Collective operations issued so far (one per bucket per step, plus one for any state and one for any step figures); equal on every rank.</summary>
    public long Operations => _operation;

    /// <summary>The last step's time inside bucket allreduces (it overlaps backward) and the bytes this rank sent in them.</summary>
    public (double Seconds, long BytesSent) LastStepAllreduce => (_allreduceTicks / (double)System.Diagnostics.Stopwatch.Frequency, _bytesSent);

    private long _allreduceTicks, _bytesSent;

    /// <summary>
    /// One synchronous data-parallel step on this rank's share of a global batch of <paramref name="globalBatch"/>
    /// samples (slices may differ by one); returns the local batch's loss and correct count. Each rank's loss gradient
    /// is its slice's sum divided by the global batch, and only rank 0 adds the regularisers' gradient, so the ring
    /// sums: the result differs from one process's only in the order of additions, with no 1/N rescale (1/3 is not
    /// exact in binary).
    /// </summary>
    public async Task<(double Loss, long Correct, long Judged)> StepAsync(Tensor x, Tensor y, int globalBatch, CancellationToken cancellationToken = default)
    {
        var result = await ReduceAsync(x, y, globalBatch, cancellationToken: cancellationToken).ConfigureAwait(false);
        _model.ApplyGradients();
        return result;
    }

    /// <summary>
    /// The step up to, not including, the optimizer update: forward, backward and the reduced gradients and state. A
    /// trainer that must agree with the other ranks before it commits (elastic training) applies them itself.
    /// </summary>
    /// <param name="stepSums">When given, the step's figures summed over ranks: [samples, loss·samples, correct, judged, …]
    /// with the caller's own entries filled in beyond the first four. This rank's loss and counts go in once forward is
    /// done, and the sum is the first collective of the step, so that it overlaps backward.</param>
    public async Task<(double Loss, long Correct, long Judged)> ReduceAsync(Tensor x, Tensor y, int globalBatch, Memory<float> stepSums = default,
        CancellationToken cancellationToken = default)
    {
        _chain = Task.CompletedTask;
        _nextBucket = 0;
        _stateLaunched = _model.Store.State.Length == 0;
        _allreduceTicks = 0;
        _bytesSent = 0;
        int samples = x.Batch;
        var result = _model.ComputeGradients(x, y, layer => LaunchReady(layer, cancellationToken), globalBatch,
            regularizerGradient: _ring.Transport.Rank == 0, onForwardDone: stepSums.IsEmpty ? null : (loss, correct, judged) =>
            {
                var s = stepSums.Span;
                (s[0], s[1], s[2], s[3]) = (samples, (float)(loss * samples), correct, judged);
                _chain = ReduceAfterAsync(_chain, stepSums, _operation++, average: false, cancellationToken);
            });
        LaunchReady(0, cancellationToken); // layers before the first trainable one never report; flush what is left
        await _chain.ConfigureAwait(false);
        return result;
    }

    // Backward just finished `layer`: every bucket whose earliest parameter belongs to this layer or a later one is complete.
    private void LaunchReady(int layer, CancellationToken cancellationToken)
    {
        int firstDone = int.MaxValue;
        for (int l = layer; l < _firstParameterOfLayer.Length; l++)
            if (_firstParameterOfLayer[l] >= 0) { firstDone = _firstParameterOfLayer[l]; break; }
        if (layer == 0) firstDone = 0;
        if (!_stateLaunched)
        {
            _stateLaunched = true;
            _chain = ReduceAfterAsync(_chain, _model.Store.State, _operation++, average: true, cancellationToken);
        }
        var gradients = _model.Store.Gradients.AsMemory();
        while (_nextBucket < _buckets.Count && _buckets[_nextBucket].FirstParameter >= firstDone)
        {
            var b = _buckets[_nextBucket++];
            _chain = ReduceAfterAsync(_chain, gradients.Slice(b.Start, b.Length), _operation++, average: false, cancellationToken);
        }
    }

    private async Task ReduceAfterAsync(Task previous, Memory<float> bucket, long operation, bool average, CancellationToken cancellationToken)
    {
        await previous.ConfigureAwait(false);
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        await _ring.AllreduceAsync(bucket, operation, average, cancellationToken).ConfigureAwait(false);
        _allreduceTicks += System.Diagnostics.Stopwatch.GetTimestamp() - start;
        int n = _ring.Transport.WorldSize;
        _bytesSent += (long)bucket.Length * sizeof(float) * 2 * (n - 1) / n; // a ring rank sends 2(N−1)/N of the buffer
    }
}
