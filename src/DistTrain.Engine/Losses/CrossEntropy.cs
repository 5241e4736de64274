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

    /// <summary>p (K) probabilities, clipped to [ε, 1 − ε]: L = −Σ y log p, dL/dp = −y/(p·B).</summary>
    public static double FromProbabilities(ReadOnlySpan<float> p, ReadOnlySpan<float> y, int batch, Span<float> g)
    {
        double loss = 0;
        for (int k = 0; k < p.Length; k++)
        {
            double pc = Math.Clamp(p[k], Loss.Epsilon, 1 - Loss.Epsilon);
            loss -= y[k] * Math.Log(pc);
            if (!g.IsEmpty) g[k] = p[k] <= Loss.Epsilon || p[k] >= 1 - Loss.Epsilon ? 0 : (float)(-y[k] / (pc * batch));
        }
        return loss;
    }

    /// <summary>p = softmax(z) given: L = −Σ y log p (clipped), dL/dz = (p·Σy − y)/B, exact without dividing by p.</summary>
    public static double FusedSoftmax(ReadOnlySpan<float> p, ReadOnlySpan<float> y, int batch, Span<float> g)
    {
        double loss = 0, ySum = 0;
        for (int k = 0; k < p.Length; k++)
        {
            ySum += y[k];
            loss -= y[k] * Math.Log(Math.Clamp(p[k], Loss.Epsilon, 1 - Loss.Epsilon));
        }
        for (int k = 0; k < p.Length; k++) g[k] = (float)((p[k] * ySum - y[k]) / batch);
        return loss;
    }
}
