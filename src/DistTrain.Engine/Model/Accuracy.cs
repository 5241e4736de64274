using System.Numerics.Tensors;
using DistTrain.Engine.Losses;

namespace DistTrain.Engine.Model;

/// <summary>
/// Keras' "accuracy", resolved from the loss as Keras does: sparse labels compare argmax with the label, one-hot
/// targets compare argmaxes, binary targets compare the thresholded prediction (0.5, or 0 for logits) per element.
/// </summary>
internal static class Accuracy
{
    /// <summary>The number of correct predictions and how many were judged.</summary>
    public static (long Correct, long Total) Count(Loss loss, ReadOnlySpan<float> pred, ReadOnlySpan<float> target, int batch, int width)
    {
        long correct = 0;
        switch (loss)
        {
            case SparseCategoricalCrossentropy:
                for (int b = 0; b < batch; b++)
                    if (TensorPrimitives.IndexOfMax(pred.Slice(b * width, width)) == (int)target[b]) correct++;
                return (correct, batch);
            case BinaryCrossentropy:
            case MeanSquaredError when width == 1:
                float threshold = loss.FromLogits ? 0f : 0.5f;
                for (int i = 0; i < batch * width; i++)
                    if ((pred[i] > threshold) == (target[i] > 0.5f)) correct++;
                return (correct, (long)batch * width);
            default:
                for (int b = 0; b < batch; b++)
                    if (TensorPrimitives.IndexOfMax(pred.Slice(b * width, width)) == TensorPrimitives.IndexOfMax(target.Slice(b * width, width))) correct++;
                return (correct, batch);
        }
    }
}
