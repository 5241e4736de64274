using System.Numerics.Tensors;
using System.Text.Json.Nodes;
using DistTrain.Engine.Spec;

namespace DistTrain.Engine.Layers;

/// <summary>
/// Inverted dropout: in training y = x ⊙ m with m_i = 0 with probability rate, else 1/(1 − rate); at inference
/// y = x. Backward: dx = dy ⊙ m. The mask stream is seeded, so a run repeats.
/// </summary>
public sealed class Dropout : Layer
{
    private readonly Tensor _output = new(0), _dx = new(0);
    private float[] _mask = [];
    private readonly LayerRandom _rng;
    private bool _lastTraining;

    public Dropout(float rate, int seed = 0, string? name = null) : base(name)
    {
        if (!(rate >= 0 && rate < 1)) throw new ArgumentOutOfRangeException(nameof(rate), rate, "dropout rate must be in [0, 1)");
        Rate = rate;
        Seed = seed;
        _rng = new LayerRandom(seed);
    }

    public float Rate { get; }
    public int Seed { get; }

    public override IEnumerable<LayerRandom> RandomStreams => [_rng];
    public override string TypeName => "dropout";

    protected override int[] OnBuild(int[] inputShape, ParameterStore store) => inputShape;

    public override Tensor Forward(Tensor x, bool training)
    {
        _lastTraining = training && Rate > 0;
        if (!_lastTraining) return x;
        var y = _output.Resize(x.Batch, OutputShape);
        if (_mask.Length < x.Length) _mask = new float[x.Length];
        var mask = _mask.AsSpan(0, x.Length);
        float keep = 1f / (1 - Rate);
        for (int i = 0; i < mask.Length; i++) mask[i] = _rng.NextSingle() < Rate ? 0f : keep;
        TensorPrimitives.Multiply(x.Span, mask, y.Span);
        return y;
    }

    public override Tensor Backward(Tensor dy)
    {
        if (!_lastTraining) return dy;
        var dx = _dx.Resize(dy.Batch, InputShape);
        TensorPrimitives.Multiply(dy.Span, _mask.AsSpan(0, dy.Length), dx.Span);
        return dx;
    }

    /// <summary>Works step by step, so a sequence mask passes through.</summary>
    public override Tensor? ComputeMask(Tensor input) => input.Mask;

    protected override void WriteConfig(JsonObject spec)
    {
        spec["rate"] = Rate;
        spec["seed"] = Seed;
    }

    internal static Dropout FromSpec(SpecReader r) => new(r.Float("rate", min: 0, max: 0.999999), r.Int("seed", 0), r.OptionalString("name"));
}
