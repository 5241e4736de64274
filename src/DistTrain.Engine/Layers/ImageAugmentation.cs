using System.Text.Json.Nodes;
using DistTrain.Engine.Spec;

namespace DistTrain.Engine.Layers;

/// <summary>
/// Base of the training-only image augmentations (random translation, rotation, zoom). Each sample gets a random
/// affine map from output pixel (y, x) to source point (sy, sx) = (t0·y + t1·x + t2, t3·y + t4·x + t5), read by
/// bilinear interpolation; points outside the image follow the fill mode (Keras' constant, nearest, reflect,
/// wrap). At inference the layer is the identity. Backward scatters dy through the same bilinear weights, so the
/// layer is differentiable like any other. Draws come from a seeded stream, so a run repeats.
/// </summary>
public abstract class ImageAugmentation : Layer
{
    private static readonly string[] FillModes = ["reflect", "constant", "nearest", "wrap"];
    private readonly Tensor _output = new(0), _dx = new(0);
    private readonly LayerRandom _rng;
    private float[] _transforms = [];
    private bool _lastTraining;
    private int _h, _w, _c;

    protected ImageAugmentation(string fillMode, int seed, string? name) : base(name)
    {
        if (!FillModes.Contains(fillMode))
            throw new ArgumentException($"fill mode must be one of {string.Join(", ", FillModes)}, got '{fillMode}'");
        FillMode = fillMode;
        Seed = seed;
        _rng = new LayerRandom(seed);
    }

    public string FillMode { get; }
    public int Seed { get; }

    public override IEnumerable<LayerRandom> RandomStreams => [_rng];

    /// <summary>Draws one sample's map into t (6 floats) for an h × w image.</summary>
    protected abstract void SampleTransform(LayerRandom rng, int h, int w, Span<float> t);

    protected override int[] OnBuild(int[] inputShape, ParameterStore store)
    {
        if (inputShape.Length != 3)
            throw new ArgumentException($"{Name}: {GetType().Name} expects images (height, width, channels), got {FormatShape(inputShape)}");
        (_h, _w, _c) = (inputShape[0], inputShape[1], inputShape[2]);
        return inputShape;
    }

    public override Tensor Forward(Tensor x, bool training)
    {
        _lastTraining = training;
        if (!training) return x;
        int batch = x.Batch, image = _h * _w * _c;
        if (_transforms.Length < batch * 6) _transforms = new float[batch * 6];
        var y = _output.Resize(batch, OutputShape);
        y.Span.Clear();
        for (int b = 0; b < batch; b++)
        {
            var t = _transforms.AsSpan(b * 6, 6);
            SampleTransform(_rng, _h, _w, t);
            Sweep(t, x.Span.Slice(b * image, image), y.Span.Slice(b * image, image), gather: true);
        }
        return y;
    }

    public override Tensor Backward(Tensor dy)
    {
        if (!_lastTraining) return dy;
        int batch = dy.Batch, image = _h * _w * _c;
        var dx = _dx.Resize(batch, InputShape);
        dx.Span.Clear();
        for (int b = 0; b < batch; b++)
            Sweep(_transforms.AsSpan(b * 6, 6), dx.Span.Slice(b * image, image), dy.Span.Slice(b * image, image), gather: false);
        return dx;
    }

    // For every output pixel and each of its four bilinear taps: gather adds w·src[tap] to out[pixel];
    // scatter (the transpose) adds w·out[pixel] to src[tap].
    private void Sweep(ReadOnlySpan<float> t, Span<float> src, Span<float> outp, bool gather)
    {
        for (int oy = 0; oy < _h; oy++)
        for (int ox = 0; ox < _w; ox++)
        {
            float sy = t[0] * oy + t[1] * ox + t[2], sx = t[3] * oy + t[4] * ox + t[5];
            int y0 = (int)MathF.Floor(sy), x0 = (int)MathF.Floor(sx);
            float fy = sy - y0, fx = sx - x0;
            int o = (oy * _w + ox) * _c;
            for (int tap = 0; tap < 4; tap++)
            {
                int dyi = tap >> 1, dxi = tap & 1;
                float weight = (dyi == 1 ? fy : 1 - fy) * (dxi == 1 ? fx : 1 - fx);
                if (weight == 0) continue;
                int iy = Map(y0 + dyi, _h), ix = Map(x0 + dxi, _w);
                if (iy < 0 || ix < 0) continue; // constant fill contributes zero
                int s = (iy * _w + ix) * _c;
                for (int ch = 0; ch < _c; ch++)
                {
                    if (gather) outp[o + ch] += weight * src[s + ch];
                    else src[s + ch] += weight * outp[o + ch];
                }
            }
        }
    }

    // Maps a possibly out-of-range index into [0, n), or −1 for constant fill.
    private int Map(int i, int n)
    {
        if ((uint)i < (uint)n) return i;
        switch (FillMode)
        {
            case "nearest": return Math.Clamp(i, 0, n - 1);
            case "wrap": return ((i % n) + n) % n;
            case "reflect":
                // Keras' reflect mirrors about the edge and repeats it: (d c b a | a b c d | d c b a).
                int period = 2 * n, m = ((i % period) + period) % period;
                return m < n ? m : period - 1 - m;
            default: return -1;
        }
    }

    /// <summary>A uniform draw in [−f, f].</summary>
    protected static float Uniform(LayerRandom rng, float f) => (float)((rng.NextDouble() * 2 - 1) * f);

    protected override void WriteConfig(JsonObject spec)
    {
        spec["fill_mode"] = FillMode;
        spec["seed"] = Seed;
    }

    protected static string ReadFillMode(SpecReader r) => r.String("fill_mode", "reflect", FillModes);
}
