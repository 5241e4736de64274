namespace DistTrain.Engine.Losses;

/// <summary>L = mean_b mean_k (p − y)² ⇒ dL/dp = 2(p − y)/(B·K).</summary>
public sealed class MeanSquaredError() : Loss(false)
{
    public override string Name => "mean_squared_error";

    public override double Compute(ReadOnlySpan<float> pred, ReadOnlySpan<float> target, int batch, int width, Span<float> grad, int meanOver = 0)
    {
        double sum = 0, scale = 2.0 / ((double)(meanOver > 0 ? meanOver : batch) * width);
        for (int i = 0; i < batch * width; i++)
        {
            double d = pred[i] - target[i];
            sum += d * d;
            if (!grad.IsEmpty) grad[i] = (float)(scale * d);
        }
        return sum / ((double)batch * width);
    }
}
