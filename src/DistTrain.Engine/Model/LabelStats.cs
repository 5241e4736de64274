namespace DistTrain.Engine.Model;

/// <summary>
/// What <see cref="TargetCheck"/> needs to know of a split's labels, gathered as they stream past (a large dataset's
/// labels need not be held): values per sample, how many classes whole-number labels span (the largest plus one), and
/// the first label that is no class id.
/// </summary>
public sealed class LabelStats(int width)
{
    private float _max = -1;

    /// <summary>Target values per sample: 1 for class ids, K for one-hot rows.</summary>
    public int Width { get; } = width;

    /// <summary>The first label that is not a whole number ≥ 0 (below 2^24, exact in float32), or null.</summary>
    public float? Bad { get; private set; }

    /// <summary>How many classes the whole-number labels span: the largest plus one (0 when a label is bad).</summary>
    public int Classes => Bad is null ? (int)_max + 1 : 0;

    public static LabelStats Of(Tensor y) => new LabelStats(y.Batch == 0 ? 0 : y.Length / y.Batch).Add(y.Span);

    public LabelStats Add(ReadOnlySpan<float> labels)
    {
        if (Bad is not null) return this;
        foreach (float v in labels)
        {
            if (!(v >= 0) || v != MathF.Floor(v) || v > 1 << 24)
            {
                Bad = v;
                return this;
            }
            if (v > _max) _max = v;
        }
        return this;
    }
}
