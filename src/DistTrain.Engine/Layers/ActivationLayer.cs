using System.Text.Json.Nodes;
using DistTrain.Engine.Spec;

namespace DistTrain.Engine.Layers;

/// <summary>Applies an activation on its own: y = f(x), softmax along the last axis. Backward: dx = f'(x) ⊙ dy.</summary>
public sealed class ActivationLayer : Layer, IActivated
{
    private readonly Tensor _output = new(0);
    private int _cols;

    public ActivationLayer(string activation, string? name = null) : base(name) => Activation = Activations.Parse(activation);

    public ActivationKind Activation { get; }
    public override string TypeName => "activation";

    protected override int[] OnBuild(int[] inputShape, ParameterStore store)
    {
        _cols = inputShape.Length == 0 ? 1 : inputShape[^1];
        return inputShape;
    }

    public override Tensor Forward(Tensor x, bool training)
    {
        var y = _output.Resize(x.Batch, OutputShape);
        x.Span.CopyTo(y.Span);
        Activations.Forward(Activation, y.Span, _cols);
        return y;
    }

    // dy belongs to the next layer and is consumed here, so the derivative is applied in place and dy returned.
    public override Tensor Backward(Tensor dy)
    {
        Activations.Backward(Activation, _output.Span, dy.Span, _cols);
        return dy;
    }

    public Tensor BackwardFromPreActivation(Tensor dz) => dz;

    /// <summary>Works step by step, so a sequence mask passes through.</summary>
    public override Tensor? ComputeMask(Tensor input) => input.Mask;

    protected override void WriteConfig(JsonObject spec) => spec["activation"] = Activations.Name(Activation);

    internal static ActivationLayer FromSpec(SpecReader r) => new(r.String("activation"), r.OptionalString("name"));
}
