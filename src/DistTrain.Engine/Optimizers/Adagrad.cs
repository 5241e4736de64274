using System.Numerics.Tensors;
using System.Text.Json.Nodes;

namespace DistTrain.Engine.Optimizers;

/// <summary>Adagrad (Keras defaults: lr 0.001, accumulator from 0.1, ε 1e-7): a ← a + g², p ← p − lr·g/(√a + ε).</summary>
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
        TensorPrimitives.Sqrt(a, scratch);
        TensorPrimitives.Add(scratch, Epsilon, scratch);
        TensorPrimitives.Divide(g, scratch, scratch);
        TensorPrimitives.MultiplyAdd(scratch, -LearningRate, p, p);
    }

    protected override void WriteConfig(JsonObject spec)
    {
        spec["initial_accumulator_value"] = InitialAccumulatorValue;
        spec["epsilon"] = Epsilon;
    }
}
