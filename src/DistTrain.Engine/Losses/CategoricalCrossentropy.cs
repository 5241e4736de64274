namespace DistTrain.Engine.Losses;

/// <summary>
/// L = mean_b −Σ_k y_k log p_k for one-hot (or soft) targets y (B, K).
/// From logits z: L = Σ_k y_k (logsumexp(z) − z_k), dL/dz = (softmax(z)·Σy − y)/B, stable through the max shift.
/// From probabilities, as Keras 3: each row is renormalised by its sum S, q = p/S, clipped to [ε, 1 − ε];
/// dL/dp_j = (u_j + Σ_{k unclipped} y_k)/(S·B) with u_j = −y_j/q_j (zero where clipped).
/// </summary>
public sealed class CategoricalCrossentropy(bool fromLogits = false) : Loss(fromLogits)
{
    public override string Name => "categorical_crossentropy";

    public override double Compute(ReadOnlySpan<float> pred, ReadOnlySpan<float> target, int batch, int width, Span<float> grad, int meanOver = 0)
    {
        double sum = 0;
        for (int b = 0; b < batch; b++)
        {
            var p = pred.Slice(b * width, width);
            var y = target.Slice(b * width, width);
            var g = grad.IsEmpty ? default : grad.Slice(b * width, width);
            int over = meanOver > 0 ? meanOver : batch;
            sum += FromLogits ? CrossEntropy.FromLogits(p, y, over, g) : CrossEntropy.FromProbabilities(p, y, over, g);
        }
        return sum / batch;
    }

    public override bool FusesWith(ActivationKind activation) => !FromLogits && activation == ActivationKind.Softmax;

    public override double ComputeFused(ReadOnlySpan<float> prob, ReadOnlySpan<float> target, int batch, int width, Span<float> gradLogits, int meanOver = 0)
    {
        double sum = 0;
        for (int b = 0; b < batch; b++)
            sum += CrossEntropy.FusedSoftmax(prob.Slice(b * width, width), target.Slice(b * width, width), meanOver > 0 ? meanOver : batch,
                gradLogits.Slice(b * width, width));
        return sum / batch;
    }
}
