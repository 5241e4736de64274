namespace DistTrain.Engine;

/// <summary>
/// A dense, row-major float tensor whose first dimension is the batch. Its storage is kept and reused when it is
/// reshaped to a size that fits, so layers can hold their activations across steps without allocating.
/// </summary>
public sealed class Tensor
{
    private float[] _data;

    /// <summary>Allocates a zeroed tensor of the given shape (batch first).</summary>
    public Tensor(params int[] shape)
    {
        Shape = CheckShape(shape);
        Length = Count(shape);
        _data = new float[Length];
    }

    /// <summary>Wraps <paramref name="data"/>, which must hold at least the shape's element count.</summary>
    public Tensor(float[] data, params int[] shape)
    {
        Shape = CheckShape(shape);
        Length = Count(shape);
        if (data.Length < Length)
            throw new ArgumentException($"shape ({string.Join(", ", shape)}) needs {Length} floats but the array holds {data.Length}");
        _data = data;
    }

    /// <summary>The full shape, batch first.</summary>
    public int[] Shape { get; private set; }

    /// <summary>The number of elements in use (the backing array may be larger).</summary>
    public int Length { get; private set; }

    /// <summary>The backing array; only the first <see cref="Length"/> elements belong to the tensor.</summary>
    public float[] Data => _data;

    /// <summary>The elements in use.</summary>
    public Span<float> Span => _data.AsSpan(0, Length);

    /// <summary>The batch size, the first dimension.</summary>
    public int Batch => Shape[0];

    /// <summary>Elements per sample: the product of every dimension after the batch.</summary>
    public int SampleSize => Count(Shape.AsSpan(1));

    /// <summary>The elements of sample <paramref name="index"/>.</summary>
    public Span<float> Sample(int index) => _data.AsSpan(index * SampleSize, SampleSize);

    /// <summary>
    /// Gives the tensor the shape (batch, ...sampleShape), keeping its storage when it is large enough.
    /// Contents are unspecified afterwards.
    /// </summary>
    public Tensor Resize(int batch, ReadOnlySpan<int> sampleShape)
    {
        if (Shape.Length != sampleShape.Length + 1 || Shape[0] != batch || !Shape.AsSpan(1).SequenceEqual(sampleShape))
        {
            var shape = new int[sampleShape.Length + 1];
            shape[0] = batch;
            sampleShape.CopyTo(shape.AsSpan(1));
            Shape = CheckShape(shape);
        }
        Length = Count(Shape);
        if (_data.Length < Length) _data = new float[Length];
        return this;
    }

    /// <summary>Makes this tensor (indices.Length, ...src's sample shape) holding src's samples at <paramref name="indices"/>.</summary>
    public Tensor GatherFrom(Tensor src, ReadOnlySpan<int> indices)
    {
        int size = src.SampleSize;
        Resize(indices.Length, src.Shape.AsSpan(1));
        var from = src.Span;
        var to = Span;
        for (int i = 0; i < indices.Length; i++) from.Slice(indices[i] * size, size).CopyTo(to.Slice(i * size, size));
        return this;
    }

    /// <summary>Makes this tensor a view of <paramref name="source"/>'s storage with another shape of equal size.</summary>
    public Tensor ViewOf(Tensor source, int batch, ReadOnlySpan<int> sampleShape)
    {
        _data = source._data;
        Resize(batch, sampleShape);
        if (Length != source.Length)
            throw new ArgumentException($"cannot view {source.Length} elements as ({batch}, {string.Join(", ", sampleShape.ToArray())})");
        return this;
    }

    /// <summary>
    /// For sequences (B, T, ...): an optional (B, T) mask of 1 (real step) and 0 (padding), set by an Embedding with
    /// maskZero and honoured by the recurrent and pooling layers after it.
    /// </summary>
    public Tensor? Mask { get; set; }

    /// <summary>The shape as "(a, b, c)".</summary>
    public string ShapeString => "(" + string.Join(", ", Shape) + ")";

    public override string ToString() => $"Tensor{ShapeString}";

    internal static int Count(ReadOnlySpan<int> shape)
    {
        long n = 1;
        foreach (int d in shape) n *= d;
        if (n > int.MaxValue) throw new ArgumentException($"a tensor of shape ({string.Join(", ", shape.ToArray())}) is too large");
        return (int)n;
    }

    private static int[] CheckShape(int[] shape)
    {
        if (shape.Length == 0) throw new ArgumentException("a tensor needs at least one dimension (the batch)");
        foreach (int d in shape)
            if (d < 0) throw new ArgumentException($"tensor dimensions must be non-negative, got ({string.Join(", ", shape)})");
        return shape;
    }
}
