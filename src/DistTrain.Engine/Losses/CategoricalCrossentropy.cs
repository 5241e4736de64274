namespace DistTrain.Engine.Losses;

/// <summary>
/// L = mean_b −Σ_k y_k log p_k for one-hot (or soft) targets y (B, K).
/// From logits z: L = Σ_k y_k (logsumexp(z) − z_k), dL/dz = (softmax(z)·Σy − y)/B, stable through the max shift.
/// From probabilities p is clipped to [ε, 1 − ε]: dL/dp = −y/(p·B) (zero where clipped).
/// </summary>
public sealed class CategoricalCrossentropy(bool fromLogits = false) : Loss(fromLogits)
{
    public override string Name => "categorical_crossentropy";

    public override double Compute(ReadOnlySpan<float> pred, ReadOnlySpan<float> target, int batch, int width, Span<float> grad)
    {
        double sum = 0;
        for (int b = 0; b < batch; b++)
        {
            var p = pred.Slice(b * width, width);
            var y = target.Slice(b * width, width);
            var g = grad.IsEmpty ? default : grad.Slice(b * width, width);
            sum += FromLogits ? CrossEntropy.FromLogits(p, y, batch, g) : CrossEntropy.FromProbabilities(p, y, batch, g);
        }
        return sum / batch;
    }

    public override bool FusesWith(ActivationKind activation) => !FromLogits && activation == ActivationKind.Softmax;

    public override double ComputeFused(ReadOnlySpan<float> prob, ReadOnlySpan<float> target, int batch, int width, Span<float> gradLogits)
    {
        double sum = 0;
        for (int b = 0; b < batch; b++)
            sum += CrossEntropy.FusedSoftmax(prob.Slice(b * width, width), target.Slice(b * width, width), batch, gradLogits.Slice(b * width, width));
        return sum / batch;
    }
}
