using System.Numerics.Tensors;
using System.Text.Json.Nodes;
using DistTrain.Engine.Spec;

namespace DistTrain.Engine.Layers;

/// <summary>
/// A residual block: y = x + body(x), where body is a sequence of layers whose output shape equals its input's.
/// This is the Add of a ResNet block expressed inside a Sequential. Backward: dx = dy + body'(dy).
/// </summary>
public sealed class Residual : Layer
{
    private readonly Tensor _output = new(0), _dx = new(0), _dyCopy = new(0);

    public Residual(IEnumerable<Layer> body, string? name = null) : base(name)
    {
        Body = body.ToList();
        if (Body.Count == 0) throw new ArgumentException("a residual block needs at least one layer in its body");
    }

    public IReadOnlyList<Layer> Body { get; }

    public override IEnumerable<LayerRandom> RandomStreams => Body.SelectMany(l => l.RandomStreams);

    public override string TypeName => "residual";

    protected override int[] OnBuild(int[] inputShape, ParameterStore store)
    {
        var shape = inputShape;
        for (int i = 0; i < Body.Count; i++)
        {
            Body[i].Name ??= $"{Name}/{Body[i].TypeName}_{i}";
            Body[i].Build(shape, store);
            AdoptParameters(Body[i]);
            shape = Body[i].OutputShape;
        }
        if (!shape.SequenceEqual(inputShape))
            throw new ArgumentException(
                $"{Name}: a residual body must keep the shape, but it maps {FormatShape(inputShape)} to {FormatShape(shape)}");
        return inputShape;
    }

    public override Tensor Forward(Tensor x, bool training)
    {
        var h = x;
        foreach (var layer in Body) h = layer.Forward(h, training);
        var y = _output.Resize(x.Batch, OutputShape);
        TensorPrimitives.Add(x.Span, h.Span, y.Span);
        return y;
    }

    public override Tensor Backward(Tensor dy)
    {
        // The body may overwrite the gradient it is given, and the skip path still needs dy.
        var g = _dyCopy.Resize(dy.Batch, OutputShape);
        dy.Span.CopyTo(g.Span);
        for (int i = Body.Count - 1; i >= 0; i--) g = Body[i].Backward(g);
        var dx = _dx.Resize(dy.Batch, InputShape);
        TensorPrimitives.Add(dy.Span, g.Span, dx.Span);
        return dx;
    }

    protected override void WriteConfig(JsonObject spec) =>
        spec["layers"] = new JsonArray(Body.Select(l => (JsonNode)l.ToSpec()).ToArray());

    internal static Residual FromSpec(SpecReader r) =>
        new(r.Objects("layers").Select(LayerFactory.Create), r.OptionalString("name"));
}
