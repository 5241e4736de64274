using DistTrain.Engine.Layers;
using DistTrain.Engine.Model;

namespace DistTrain.Engine.Spec;

/// <summary>
/// The <see cref="SpecLimits"/> that depend on shapes: checked after a spec's layers have fixed their shapes and
/// declared their weights, and before <see cref="ParameterStore.Allocate"/> makes them real, so a spec that asks for
/// gigabytes is refused having cost only its shape arithmetic.
/// </summary>
internal static class ModelBudget
{
    /// <summary>Refuses the model naming the first top-level layer (of <paramref name="specs"/>) over a bound.</summary>
    public static void Check(Sequential model, IReadOnlyList<SpecReader> specs)
    {
        for (int i = 0; i < model.Layers.Count; i++)
        {
            var layer = model.Layers[i];
            // Embeddings and recurrent layers hold per-step buffers, so their time axis has its own bound.
            if (layer is Embedding or Recurrent or Bidirectional && layer.InputShape[0] > SpecLimits.MaxSequenceLength)
                throw new SpecException($"{specs[i].Label}: sequence length {layer.InputShape[0]} is above the limit of {SpecLimits.MaxSequenceLength:N0}");
            double elements = layer.OutputShape.Aggregate(1.0, (n, d) => n * d);
            if (elements > SpecLimits.MaxSampleElements)
                throw new SpecException($"{specs[i].Label}: output {Layer.FormatShape(layer.OutputShape)} has {elements:N0} elements per sample, "
                    + $"above the limit of {SpecLimits.MaxSampleElements:N0}");
        }
        long total = model.Store.Parameters.Sum(p => (long)p.Length);
        if (total > SpecLimits.MaxParameters)
        {
            int largest = Enumerable.Range(0, model.Layers.Count).MaxBy(i => model.Layers[i].Parameters.Sum(p => (long)p.Length));
            long own = model.Layers[largest].Parameters.Sum(p => (long)p.Length);
            throw new SpecException($"the model has {total:N0} parameters, above the limit of {SpecLimits.MaxParameters:N0}; "
                + $"the largest layer, {specs[largest].Label}, has {own:N0}");
        }
    }
}
