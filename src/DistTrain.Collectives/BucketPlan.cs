namespace DistTrain.Collectives;

/// <summary>A contiguous range of the flat gradient buffer reduced as one allreduce.</summary>
/// <param name="FirstParameter">The lowest parameter index in the bucket: once backward has produced its gradient, the whole bucket is ready.</param>
public readonly record struct Bucket(int Start, int Length, int FirstParameter);

/// <summary>
/// Groups a model's parameters into gradient buckets as DDP does (default cap 25 MB). Backward produces gradients from
/// the last layer to the first, and the flat buffer is laid out first layer first, so buckets are filled from the end
/// of the buffer backwards: bucket 0 is ready first. A parameter is never split; one larger than the cap gets a bucket
/// of its own. Every rank computes the same plan from the same model, so buckets are reduced in one fixed order.
/// </summary>
public static class BucketPlan
{
    public const long DefaultBucketBytes = 25L * 1024 * 1024;

    /// <param name="parameters">(offset, length) of each trainable parameter in buffer order, contiguous.</param>
    public static IReadOnlyList<Bucket> Create(IReadOnlyList<(int Offset, int Length)> parameters, long bucketBytes = DefaultBucketBytes)
    {
        if (bucketBytes < sizeof(float)) throw new ArgumentOutOfRangeException(nameof(bucketBytes), bucketBytes, "a bucket must hold at least one float");
        for (int p = 1; p < parameters.Count; p++)
            if (parameters[p].Offset != parameters[p - 1].Offset + parameters[p - 1].Length)
                throw new ArgumentException($"parameter {p} starts at {parameters[p].Offset}, not right after parameter {p - 1}; the buffer must be contiguous");
        long capFloats = bucketBytes / sizeof(float);
        var buckets = new List<Bucket>();
        int end = parameters.Count == 0 ? 0 : parameters[^1].Offset + parameters[^1].Length;
        int i = parameters.Count - 1;
        while (i >= 0)
        {
            int first = i, start = parameters[i].Offset;
            // Take parameters backwards while the bucket stays under the cap (always at least one).
            while (first - 1 >= 0 && end - parameters[first - 1].Offset <= capFloats)
            {
                first--;
                start = parameters[first].Offset;
            }
            buckets.Add(new Bucket(start, end - start, first));
            end = start;
            i = first - 1;
        }
        return buckets;
    }
}
