using System.Text.Json.Nodes;

namespace DistTrain.Engine.Layers;

/// <summary>What the global 1-D poolings share: a reduction over time, x (B, T, D) → y (B, D), that honours the input's mask.</summary>
public abstract class GlobalPooling1D(string? name) : Layer(name)
{
    protected int Steps => InputShape[0];
    protected int Features => InputShape[1];

    protected override int[] OnBuild(int[] inputShape, ParameterStore store)
    {
        if (inputShape.Length != 2)
            throw new ArgumentException($"{Name}: {GetType().Name} expects sequences (time, features), got {FormatShape(inputShape)}");
        return [inputShape[1]];
    }

    protected override void WriteConfig(JsonObject spec) { }
}
