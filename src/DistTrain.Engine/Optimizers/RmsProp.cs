using System.Numerics.Tensors;
using System.Text.Json.Nodes;
using DistTrain.Engine.Kernels;

namespace DistTrain.Engine.Optimizers;

/// <summary>
/// RMSprop as Keras 3 defines it (lr 0.001, ρ 0.9, momentum 0, ε 1e-7, not centered):
/// v ← ρv + (1 − ρ)g²; d = v + ε (centered: v − ḡ² + ε, with ḡ ← ρḡ + (1 − ρ)g); inc = lr·g/√d;
/// with momentum m ← μm + inc and p ← p − m, else p ← p − inc.
/// </summary>
public sealed class RmsProp(float learningRate = 0.001f, float rho = 0.9f, float momentum = 0f, float epsilon = 1e-7f, bool centered = false)
    : Optimizer(learningRate)
{
    public float Rho { get; } = rho;
    public float Momentum { get; } = momentum;
    public float Epsilon { get; } = epsilon;
    public bool Centered { get; } = centered;
    public override string Name => "rmsprop";
    protected override int SlotCount => 1 + (Momentum > 0 ? 1 : 0) + (Centered ? 1 : 0);

    protected override void Update(Span<float> p, ReadOnlySpan<float> g, float[][] slots, Span<float> scratch)
    {
        var v = slots[0].AsSpan();
        TensorPrimitives.Multiply(g, g, scratch);
        TensorPrimitives.Multiply(scratch, 1 - Rho, scratch);
        TensorPrimitives.MultiplyAdd(v, Rho, scratch, v);
        FlushToZero.Apply(v); // moving averages of unused parameters decay into subnormals (see FlushToZero)
        if (Centered)
        {
            var mg = slots[^1].AsSpan();
            TensorPrimitives.Multiply(g, 1 - Rho, scratch);
            TensorPrimitives.MultiplyAdd(mg, Rho, scratch, mg);
            FlushToZero.Apply(mg);
            TensorPrimitives.Multiply(mg, mg, scratch);
            TensorPrimitives.Subtract(v, scratch, scratch);
            TensorPrimitives.Add(scratch, Epsilon, scratch);
        }
        else
        {
            TensorPrimitives.Add(v, Epsilon, scratch);
        }
        TensorPrimitives.Sqrt(scratch, scratch);
        TensorPrimitives.Divide(g, scratch, scratch);
        TensorPrimitives.Multiply(scratch, LearningRate, scratch); // inc
        if (Momentum > 0)
        {
            var m = slots[1].AsSpan();
            TensorPrimitives.MultiplyAdd(m, Momentum, scratch, m);
            FlushToZero.Apply(m);
            TensorPrimitives.Subtract(p, m, p);
        }
        else
        {
            TensorPrimitives.Subtract(p, scratch, p);
        }
    }

    protected override void WriteConfig(JsonObject spec)
    {
        spec["rho"] = Rho;
        spec["momentum"] = Momentum;
        spec["epsilon"] = Epsilon;
        spec["centered"] = Centered;
    }
}
