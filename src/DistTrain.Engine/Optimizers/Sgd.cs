using System.Numerics.Tensors;
using System.Text.Json.Nodes;
using DistTrain.Engine.Kernels;

namespace DistTrain.Engine.Optimizers;

/// <summary>
/// Stochastic gradient descent (Keras defaults: lr 0.01, momentum 0). With momentum μ: v ← μv − lr·g, then
/// p ← p + v, or with Nesterov p ← p + μv − lr·g.
/// </summary>
public sealed class Sgd(float learningRate = 0.01f, float momentum = 0f, bool nesterov = false) : Optimizer(learningRate)
{
    public float Momentum { get; } = momentum;
    public bool Nesterov { get; } = nesterov;
    public override string Name => "sgd";
    protected override int SlotCount => Momentum > 0 ? 1 : 0;

    protected override void Update(Span<float> p, ReadOnlySpan<float> g, float[][] slots, Span<float> scratch)
    {
        if (Momentum == 0)
        {
            TensorPrimitives.MultiplyAdd(g, -LearningRate, p, p);
            return;
        }
        var v = slots[0].AsSpan();
        TensorPrimitives.Multiply(g, -LearningRate, scratch);
        TensorPrimitives.MultiplyAdd(v, Momentum, scratch, v);       // v = μv − lr·g
        FlushToZero.Apply(v); // the velocity of unused parameters decays into subnormals (see FlushToZero)
        if (Nesterov)
        {
            TensorPrimitives.MultiplyAdd(v, Momentum, scratch, scratch); // μv − lr·g
            TensorPrimitives.Add(p, scratch, p);
        }
        else
        {
            TensorPrimitives.Add(p, v, p);
        }
    }

    protected override void WriteConfig(JsonObject spec)
    {
        spec["momentum"] = Momentum;
        spec["nesterov"] = Nesterov;
    }
}
