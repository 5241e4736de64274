using DistTrain.Engine.Kernels;
using System.Text.Json.Nodes;

namespace DistTrain.Engine.Optimizers;

/// <summary>
/// Adam as Keras 3 defines it (lr 0.001, β1 0.9, β2 0.999, ε 1e-7): m ← m + (g − m)(1 − β1),
/// v ← v + (g² − v)(1 − β2), α = lr·√(1 − β2^t)/(1 − β1^t), p ← p − α·m/(√v + ε).
/// </summary>
public sealed class Adam(float learningRate = 0.001f, float beta1 = 0.9f, float beta2 = 0.999f, float epsilon = 1e-7f)
    : Optimizer(learningRate)
{
    public float Beta1 { get; } = beta1;
    public float Beta2 { get; } = beta2;
    public float Epsilon { get; } = epsilon;
    public override string Name => "adam";
    protected override int SlotCount => 2;

    protected override void Update(Span<float> p, ReadOnlySpan<float> g, float[][] slots, Span<float> scratch)
    {
        var m = slots[0].AsSpan();
        var v = slots[1].AsSpan();
        long t = Iterations;
        float alpha = (float)(LearningRate * Math.Sqrt(1 - Math.Pow(Beta2, t)) / (1 - Math.Pow(Beta1, t)));
        AdamKernel.Update(p, g, m, v, alpha, Beta1, Beta2, Epsilon);
    }

    protected override void WriteConfig(JsonObject spec)
    {
        spec["beta_1"] = Beta1;
        spec["beta_2"] = Beta2;
        spec["epsilon"] = Epsilon;
    }
}
