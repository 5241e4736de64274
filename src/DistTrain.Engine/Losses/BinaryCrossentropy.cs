namespace DistTrain.Engine.Losses;

/// <summary>
/// L = mean_b mean_k −[y log p + (1 − y) log(1 − p)].
/// From logits z it is computed stably as max(z, 0) − z·y + log(1 + e^−|z|), with dL/dz = (σ(z) − y)/(B·K).
/// From probabilities p is clipped to [ε, 1 − ε] and dL/dp = (p − y)/(p(1 − p)·B·K) (zero where clipped).
/// </summary>
public sealed class BinaryCrossentropy(bool fromLogits = false) : Loss(fromLogits)
{
    public override string Name => "binary_crossentropy";

    public override double Compute(ReadOnlySpan<float> pred, ReadOnlySpan<float> target, int batch, int width, Span<float> grad, int meanOver = 0)
    {
        int n = batch * width;
        double sum = 0, scale = 1.0 / ((double)(meanOver > 0 ? meanOver : batch) * width);
        for (int i = 0; i < n; i++)
        {
            double y = target[i];
            if (FromLogits)
            {
                double z = pred[i];
                sum += Math.Max(z, 0) - z * y + Math.Log(1 + Math.Exp(-Math.Abs(z)));
                if (!grad.IsEmpty) grad[i] = (float)((1 / (1 + Math.Exp(-z)) - y) * scale);
            }
            else
            {
                double p = Math.Clamp(pred[i], Epsilon, 1 - Epsilon);
                sum += -(y * Math.Log(p) + (1 - y) * Math.Log(1 - p));
                if (!grad.IsEmpty)
                    grad[i] = pred[i] <= Epsilon || pred[i] >= 1 - Epsilon ? 0 : (float)((p - y) / (p * (1 - p)) * scale);
            }
        }
        return sum / n;
    }

    public override bool FusesWith(ActivationKind activation) => !FromLogits && activation == ActivationKind.Sigmoid;

    public override double ComputeFused(ReadOnlySpan<float> prob, ReadOnlySpan<float> target, int batch, int width, Span<float> gradLogits, int meanOver = 0)
    {
        double loss = Compute(prob, target, batch, width, default);
        float scale = 1f / ((meanOver > 0 ? meanOver : batch) * width);
        for (int i = 0; i < batch * width; i++) gradLogits[i] = (prob[i] - target[i]) * scale;
        return loss;
    }
}
