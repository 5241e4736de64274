using System.Numerics.Tensors;

namespace DistTrain.Engine.Losses;

/// <summary>One row's cross-entropy, shared by the categorical losses. Each returns the row's loss and, unless g is
/// empty, writes its gradient already divided by the batch size.</summary>
internal static class CrossEntropy
{
    /// <summary>z (K) logits: L = Σy·(lse(z) − z), dL/dz = (softmax(z)·Σy − y)/B.</summary>
    public static double FromLogits(ReadOnlySpan<float> z, ReadOnlySpan<float> y, int batch, Span<float> g)
    {
        float max = TensorPrimitives.Max(z);
        double sumExp = 0;
        foreach (float v in z) sumExp += Math.Exp(v - max);
        double lse = max + Math.Log(sumExp), ySum = 0, loss = 0;
        for (int k = 0; k < z.Length; k++)
        {
            ySum += y[k];
            loss += y[k] * (lse - z[k]);
        }
        if (!g.IsEmpty)
            for (int k = 0; k < z.Length; k++) g[k] = (float)((Math.Exp(z[k] - lse) * ySum - y[k]) / batch);
        return loss;
    }

    /// <summary>
    /// p (K) probabilities, renormalised by their row sum S and clipped, as Keras 3 does: q = p/S, c = clip(q, ε, 1 − ε),
    /// L = −Σ y log c. Through the renormalisation, with u_k = dL/dq_k = −y_k/q_k (0 where q_k is clipped):
    /// dL/dp_j = (u_j − Σ_k u_k q_k)/S = (u_j + Σ_{k unclipped} y_k)/S, then /B. A row that sums to 0 gives NaN, as in Keras.
    /// </summary>
    public static double FromProbabilities(ReadOnlySpan<float> p, ReadOnlySpan<float> y, int batch, Span<float> g)
    {
        double sum = 0;
        foreach (float v in p) sum += v;
        double loss = 0, unclippedY = 0;
        for (int k = 0; k < p.Length; k++)
        {
            double q = p[k] / sum;
            loss -= y[k] * Math.Log(Math.Clamp(q, Loss.Epsilon, 1 - Loss.Epsilon));
            if (!Clipped(q)) unclippedY += y[k];
        }
        if (!g.IsEmpty)
            for (int k = 0; k < p.Length; k++)
            {
                double q = p[k] / sum;
                double u = Clipped(q) ? 0 : -y[k] / q;
                g[k] = (float)((u + unclippedY) / (sum * batch));
            }
        return loss;
    }

    // Where clip(q, ε, 1 − ε) is flat its gradient is 0; NaN (a zero row) is not clipped, so it reaches the loss.
    private static bool Clipped(double q) => q <= Loss.Epsilon || q >= 1 - Loss.Epsilon;

    /// <summary>
    /// p = softmax(z) given: L = −Σ y log clip(p/S), dL/dz = (p·Σy − y)/B. S = Σp is 1 up to rounding, so Keras 3's
    /// renormalisation changes the loss only in its last bits and the gradient not at all; it is applied to the loss for fidelity.
    /// </summary>
    public static double FusedSoftmax(ReadOnlySpan<float> p, ReadOnlySpan<float> y, int batch, Span<float> g)
    {
        double loss = 0, ySum = 0, sum = 0;
        foreach (float v in p) sum += v;
        for (int k = 0; k < p.Length; k++)
        {
            ySum += y[k];
            loss -= y[k] * Math.Log(Math.Clamp(p[k] / sum, Loss.Epsilon, 1 - Loss.Epsilon));
        }
        for (int k = 0; k < p.Length; k++) g[k] = (float)((p[k] * ySum - y[k]) / batch);
        return loss;
    }
}
