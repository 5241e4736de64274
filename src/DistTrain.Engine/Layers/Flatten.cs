using System.Text.Json.Nodes;
using DistTrain.Engine.Spec;

namespace DistTrain.Engine.Layers;

/// <summary>Flattens each sample: x (B, d1, ..., dn) → y (B, d1·…·dn). A view: no data moves either way.</summary>
public sealed class Flatten(string? name = null) : Layer(name)
{
    private readonly Tensor _output = new(0), _dx = new(0);

    public override string TypeName => "flatten";

    protected override int[] OnBuild(int[] inputShape, ParameterStore store) => [Tensor.Count(inputShape)];

    public override Tensor Forward(Tensor x, bool training) => _output.ViewOf(x, x.Batch, OutputShape);

    public override Tensor Backward(Tensor dy) => _dx.ViewOf(dy, dy.Batch, InputShape);

    protected override void WriteConfig(JsonObject spec) { }

    internal static Flatten FromSpec(SpecReader r) => new(r.OptionalString("name"));
}
