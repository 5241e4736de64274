using System.Text.Json.Nodes;
using DistTrain.Engine.Spec;

namespace DistTrain.Engine.Losses;

/// <summary>
/// A loss averaged over the batch (and, for element-wise losses, over the last axis), with Keras' definitions.
/// Predictions are (B, K). Compute returns the mean loss and writes dL/dpred into grad unless grad is empty.
/// </summary>
public abstract class Loss
{
    /// <summary>Keras' clipping of probabilities away from 0 and 1 before a log.</summary>
    public const float Epsilon = 1e-7f;

    protected Loss(bool fromLogits) => FromLogits = fromLogits;

    /// <summary>True when predictions are logits rather than probabilities.</summary>
    public bool FromLogits { get; }

    /// <summary>The Keras name.</summary>
    public abstract string Name { get; }

    /// <summary>Target floats per sample for a K-wide output: K, or 1 for sparse labels.</summary>
    public virtual int TargetWidth(int outputWidth) => outputWidth;

    /// <param name="pred">(B, K)</param>
    /// <param name="target">(B, TargetWidth(K))</param>
    /// <param name="grad">(B, K) receives dL/dpred, or empty for evaluation only</param>
    /// <param name="meanOver">The sample count the gradient is a mean over (0 = batch). A data-parallel replica passes
    /// the global batch, so that summing the replicas' gradients gives the global mean without a 1/N rescale.</param>
    public abstract double Compute(ReadOnlySpan<float> pred, ReadOnlySpan<float> target, int batch, int width, Span<float> grad, int meanOver = 0);

    /// <summary>
    /// True when, with probabilities from <paramref name="activation"/>, this loss can give dL/dz for the
    /// pre-activation z in closed form (softmax + cross-entropy, sigmoid + binary cross-entropy). That path is
    /// exact and never divides by a small probability.
    /// </summary>
    public virtual bool FusesWith(ActivationKind activation) => false;

    /// <summary>The loss from probabilities, with dL/dz written for the pre-activation.</summary>
    public virtual double ComputeFused(ReadOnlySpan<float> prob, ReadOnlySpan<float> target, int batch, int width, Span<float> gradLogits, int meanOver = 0) =>
        throw new NotSupportedException($"{Name} has no fused form");

    /// <summary>The loss as a spec object.</summary>
    public JsonObject ToSpec() => new() { ["type"] = Name, ["from_logits"] = FromLogits };

    /// <summary>Builds a loss from its Keras name.</summary>
    public static Loss Create(string name, bool fromLogits = false) => name switch
    {
        "mse" or "mean_squared_error" => new MeanSquaredError(),
        "binary_crossentropy" => new BinaryCrossentropy(fromLogits),
        "categorical_crossentropy" => new CategoricalCrossentropy(fromLogits),
        "sparse_categorical_crossentropy" => new SparseCategoricalCrossentropy(fromLogits),
        _ => throw new ArgumentException(
            $"unknown loss '{name}'; expected one of mean_squared_error, binary_crossentropy, categorical_crossentropy, sparse_categorical_crossentropy"),
    };

    internal static Loss FromSpec(SpecReader r)
    {
        var loss = Create(r.String("type"), r.Bool("from_logits", false));
        r.EnsureAllUsed();
        return loss;
    }
}
