using DistTrain.Engine.Layers;

namespace DistTrain.Engine.Spec;

/// <summary>Builds a layer from its spec object; the "type" names the layer as Keras' snake_case class name does.</summary>
public static class LayerFactory
{
    private static readonly Dictionary<string, Func<SpecReader, Layer>> Factories = new()
    {
        ["dense"] = Dense.FromSpec,
        ["conv2d"] = Conv2D.FromSpec,
        ["max_pooling2d"] = MaxPooling2D.FromSpec,
        ["average_pooling2d"] = AveragePooling2D.FromSpec,
        ["flatten"] = Flatten.FromSpec,
        ["dropout"] = Dropout.FromSpec,
        ["batch_normalization"] = BatchNormalization.FromSpec,
        ["activation"] = ActivationLayer.FromSpec,
        ["residual"] = Residual.FromSpec,
        ["random_translation"] = RandomTranslation.FromSpec,
        ["random_rotation"] = RandomRotation.FromSpec,
        ["random_zoom"] = RandomZoom.FromSpec,
        ["embedding"] = Embedding.FromSpec,
        ["simple_rnn"] = SimpleRnn.FromSpec,
        ["lstm"] = Lstm.FromSpec,
        ["gru"] = Gru.FromSpec,
        ["bidirectional"] = Bidirectional.FromSpec,
        ["global_average_pooling1d"] = GlobalAveragePooling1D.FromSpec,
        ["global_max_pooling1d"] = GlobalMaxPooling1D.FromSpec,
    };

    /// <summary>The layer types a spec may use.</summary>
    public static IEnumerable<string> Types => Factories.Keys;

    /// <summary>Lets another assembly (the sequence layers) register its layer types.</summary>
    public static void Register(string type, Func<SpecReader, Layer> factory) => Factories[type] = factory;

    /// <summary>Creates the layer a spec object describes, with errors naming the field at fault.</summary>
    public static Layer Create(SpecReader r)
    {
        string type = r.String("type");
        if (!Factories.TryGetValue(type, out var factory))
            throw r.Error("type", $"'{type}' is not a layer type; expected one of {string.Join(", ", Factories.Keys)}");
        Layer layer;
        try
        {
            layer = factory(r);
        }
        catch (ArgumentException e)
        {
            throw new SpecException($"{r.Path}: {e.Message}");
        }
        r.EnsureAllUsed();
        return layer;
    }
}
