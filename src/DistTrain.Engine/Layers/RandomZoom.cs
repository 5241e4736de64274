using System.Text.Json.Nodes;
using DistTrain.Engine.Spec;

namespace DistTrain.Engine.Layers;

/// <summary>
/// Random zoom about the centre by 1 + U[−f, f] per axis; as in Keras a positive draw zooms out (the output shows a
/// wider region). widthFactor defaults to heightFactor, which keeps the aspect ratio's range symmetric.
/// </summary>
public sealed class RandomZoom : ImageAugmentation
{
    public RandomZoom(float heightFactor, float? widthFactor = null, string fillMode = "reflect", int seed = 0, string? name = null)
        : base(fillMode, seed, name)
    {
        float wf = widthFactor ?? heightFactor;
        if (!(heightFactor >= 0 && heightFactor < 1) || !(wf >= 0 && wf < 1))
            throw new ArgumentException($"zoom factors must be in [0, 1), got {heightFactor} and {wf}");
        HeightFactor = heightFactor;
        WidthFactor = wf;
    }

    public float HeightFactor { get; }
    public float WidthFactor { get; }
    public override string TypeName => "random_zoom";

    protected override void SampleTransform(LayerRandom rng, int h, int w, Span<float> t)
    {
        float zy = 1 + Uniform(rng, HeightFactor), zx = 1 + Uniform(rng, WidthFactor), cy = (h - 1) / 2f, cx = (w - 1) / 2f;
        t[0] = zy; t[1] = 0; t[2] = cy - zy * cy;
        t[3] = 0; t[4] = zx; t[5] = cx - zx * cx;
    }

    protected override void WriteConfig(JsonObject spec)
    {
        spec["height_factor"] = HeightFactor;
        spec["width_factor"] = WidthFactor;
        base.WriteConfig(spec);
    }

    internal static RandomZoom FromSpec(SpecReader r)
    {
        float hf = r.Float("height_factor", min: 0, max: 0.999);
        return new(hf, r.Has("width_factor") ? r.Float("width_factor", min: 0, max: 0.999) : null, ReadFillMode(r),
            r.Int("seed", 0), r.OptionalString("name"));
    }
}
