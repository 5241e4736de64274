namespace DistTrain.Engine.Losses;

/// <summary>
/// Categorical cross-entropy with integer class labels (B) instead of one-hot rows: L = mean_b −log p[b, y_b].
/// A label outside [0, K) is refused with an error naming it.
/// </summary>
public sealed class SparseCategoricalCrossentropy(bool fromLogits = false) : Loss(fromLogits)
{
    [ThreadStatic] private static float[]? t_oneHot;

    public override string Name => "sparse_categorical_crossentropy";

    public override int TargetWidth(int outputWidth) => 1;

    public override double Compute(ReadOnlySpan<float> pred, ReadOnlySpan<float> target, int batch, int width, Span<float> grad, int meanOver = 0) =>
        Run(pred, target, batch, width, grad, fused: false, meanOver > 0 ? meanOver : batch);

    public override bool FusesWith(ActivationKind activation) => !FromLogits && activation == ActivationKind.Softmax;

    public override double ComputeFused(ReadOnlySpan<float> prob, ReadOnlySpan<float> target, int batch, int width, Span<float> gradLogits, int meanOver = 0) =>
        Run(prob, target, batch, width, gradLogits, fused: true, meanOver > 0 ? meanOver : batch);

    private double Run(ReadOnlySpan<float> pred, ReadOnlySpan<float> target, int batch, int width, Span<float> grad, bool fused, int over)
    {
        if (t_oneHot is null || t_oneHot.Length < width) t_oneHot = new float[width];
        var y = t_oneHot.AsSpan(0, width);
        double sum = 0;
        for (int b = 0; b < batch; b++)
        {
            int label = Label(target[b], width, b);
            y.Clear();
            y[label] = 1;
            var p = pred.Slice(b * width, width);
            var g = grad.IsEmpty ? default : grad.Slice(b * width, width);
            sum += fused ? CrossEntropy.FusedSoftmax(p, y, over, g)
                : FromLogits ? CrossEntropy.FromLogits(p, y, over, g) : CrossEntropy.FromProbabilities(p, y, over, g);
        }
        return sum / batch;
    }

    internal static int Label(float value, int width, int sample)
    {
        int label = (int)value;
        if (label != value || label < 0 || label >= width)
            throw new ArgumentException($"label {value} of sample {sample} is not a class index in [0, {width})");
        return label;
    }
}
