using System.Text.Json.Nodes;
using DistTrain.Engine.Spec;

namespace DistTrain.Engine.Layers;

/// <summary>Random shift by up to heightFactor·H rows and widthFactor·W columns: output(y, x) = input(y − δy, x − δx).</summary>
public sealed class RandomTranslation : ImageAugmentation
{
    public RandomTranslation(float heightFactor, float widthFactor, string fillMode = "reflect", int seed = 0, string? name = null)
        : base(fillMode, seed, name)
    {
        if (!(heightFactor >= 0 && heightFactor <= 1) || !(widthFactor >= 0 && widthFactor <= 1))
            throw new ArgumentException($"translation factors must be in [0, 1], got {heightFactor} and {widthFactor}");
        HeightFactor = heightFactor;
        WidthFactor = widthFactor;
    }

    public float HeightFactor { get; }
    public float WidthFactor { get; }
    public override string TypeName => "random_translation";

    protected override void SampleTransform(LayerRandom rng, int h, int w, Span<float> t)
    {
        float dy = Uniform(rng, HeightFactor * h), dx = Uniform(rng, WidthFactor * w);
        t[0] = 1; t[1] = 0; t[2] = -dy;
        t[3] = 0; t[4] = 1; t[5] = -dx;
    }

    protected override void WriteConfig(JsonObject spec)
    {
        spec["height_factor"] = HeightFactor;
        spec["width_factor"] = WidthFactor;
        base.WriteConfig(spec);
    }

    internal static RandomTranslation FromSpec(SpecReader r) => new(r.Float("height_factor", min: 0, max: 1),
        r.Float("width_factor", min: 0, max: 1), ReadFillMode(r), r.Int("seed", 0), r.OptionalString("name"));
}
