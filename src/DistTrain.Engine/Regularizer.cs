namespace DistTrain.Engine;

/// <summary>
/// A kernel penalty added to the loss: l1·Σ|w| + l2·Σw² (Keras' L1, L2 and L1L2). Its gradient, l1·sign(w) + 2·l2·w,
/// is added to the weight's gradient.
/// </summary>
public sealed record Regularizer(float L1, float L2)
{
    /// <summary>Keras' L2 default, 0.01.</summary>
    public static Regularizer Ridge(float l2 = 0.01f) => new(0, l2);

    /// <summary>Keras' L1 default, 0.01.</summary>
    public static Regularizer Lasso(float l1 = 0.01f) => new(l1, 0);

    /// <summary>Adds this penalty's gradient into <paramref name="grad"/> and returns the penalty.</summary>
    public double Apply(ReadOnlySpan<float> w, Span<float> grad)
    {
        double penalty = 0;
        for (int i = 0; i < w.Length; i++)
        {
            float v = w[i];
            penalty += L1 * Math.Abs(v) + L2 * v * v;
            grad[i] += L1 * MathF.Sign(v) + 2 * L2 * v;
        }
        return penalty;
    }

    /// <summary>The penalty alone.</summary>
    public double Penalty(ReadOnlySpan<float> w)
    {
        double penalty = 0;
        foreach (float v in w) penalty += L1 * Math.Abs(v) + L2 * v * v;
        return penalty;
    }
}
