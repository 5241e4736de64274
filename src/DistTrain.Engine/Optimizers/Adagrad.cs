using System.Numerics.Tensors;
using System.Text.Json.Nodes;

namespace DistTrain.Engine.Optimizers;

/// <summary>
/// Adagrad (Keras defaults: lr 0.001, accumulator from 0.1, ε 1e-7): a ← a + g², p ← p − lr·g/√(a + ε).
/// ε sits inside the root, as in Keras 3: with an accumulator starting at 0 and small gradients, √a + ε and √(a + ε)
/// differ by most of the update.
/// </summary>
public sealed class Adagrad(float learningRate = 0.001f, float initialAccumulatorValue = 0.1f, float epsilon = 1e-7f)
    : Optimizer(learningRate)
{
    public float InitialAccumulatorValue { get; } = initialAccumulatorValue;
    public float Epsilon { get; } = epsilon;
    public override string Name => "adagrad";
    protected override int SlotCount => 1;
    protected override float InitialSlotValue(int slot) => InitialAccumulatorValue;

    protected override void Update(Span<float> p, ReadOnlySpan<float> g, float[][] slots, Span<float> scratch)
    {
        var a = slots[0].AsSpan();
        TensorPrimitives.MultiplyAdd(g, g, a, a);
        TensorPrimitives.Add(a, Epsilon, scratch);
        TensorPrimitives.Sqrt(scratch, scratch);
        TensorPrimitives.Divide(g, scratch, scratch);
        TensorPrimitives.MultiplyAdd(scratch, -LearningRate, p, p);
    }

    protected override void WriteConfig(JsonObject spec)
    {
        spec["initial_accumulator_value"] = InitialAccumulatorValue;
        spec["epsilon"] = Epsilon;
    }
}
