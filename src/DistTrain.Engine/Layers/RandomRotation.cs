using System.Text.Json.Nodes;
using DistTrain.Engine.Spec;

namespace DistTrain.Engine.Layers;

/// <summary>Random rotation about the image centre by θ ∈ [−factor·2π, factor·2π] (Keras' factor is a fraction of a turn).</summary>
public sealed class RandomRotation : ImageAugmentation
{
    public RandomRotation(float factor, string fillMode = "reflect", int seed = 0, string? name = null) : base(fillMode, seed, name)
    {
        if (!(factor >= 0 && factor <= 1)) throw new ArgumentOutOfRangeException(nameof(factor), factor, "rotation factor must be in [0, 1]");
        Factor = factor;
    }

    public float Factor { get; }
    public override string TypeName => "random_rotation";

    protected override void SampleTransform(LayerRandom rng, int h, int w, Span<float> t)
    {
        float theta = Uniform(rng, Factor * 2 * MathF.PI);
        float cos = MathF.Cos(theta), sin = MathF.Sin(theta), cy = (h - 1) / 2f, cx = (w - 1) / 2f;
        // (sy, sx) = c + R(θ)·((y, x) − c)
        t[0] = cos; t[1] = sin; t[2] = cy - cos * cy - sin * cx;
        t[3] = -sin; t[4] = cos; t[5] = cx + sin * cy - cos * cx;
    }

    protected override void WriteConfig(JsonObject spec)
    {
        spec["factor"] = Factor;
        base.WriteConfig(spec);
    }

    internal static RandomRotation FromSpec(SpecReader r) =>
        new(r.Float("factor", min: 0, max: 1), ReadFillMode(r), r.Int("seed", 0), r.OptionalString("name"));
}
