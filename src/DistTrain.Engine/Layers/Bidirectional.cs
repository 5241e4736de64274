using System.Numerics.Tensors;
using System.Text.Json.Nodes;
using DistTrain.Engine.Spec;

namespace DistTrain.Engine.Layers;

/// <summary>
/// Runs a recurrent layer forwards and a copy of it backwards over the same input and merges the two:
/// concat → (…, 2U), sum → f + b, mul → f ⊙ b, ave → (f + b)/2. With returnSequences the backward output is
/// reversed in time first, so step t of both refers to input step t (as in Keras).
/// Backward: concat splits dy; sum and ave share it (halved for ave); mul sends dy⊙b forwards and dy⊙f backwards.
/// </summary>
public sealed class Bidirectional : Layer
{
    private static readonly string[] Modes = ["concat", "sum", "mul", "ave"];
    private readonly Tensor _output = new(0), _dx = new(0), _dyf = new(0), _dyb = new(0), _yb = new(0);
    private Tensor _yf = null!;

    public Bidirectional(Recurrent layer, string mergeMode = "concat", string? name = null) : base(name)
    {
        if (!Modes.Contains(mergeMode)) throw new ArgumentException($"merge mode must be one of {string.Join(", ", Modes)}, got '{mergeMode}'");
        Forwards = layer;
        MergeMode = mergeMode;
    }

    public Recurrent Forwards { get; }
    public Recurrent Backwards { get; private set; } = null!;

    public override IEnumerable<LayerRandom> RandomStreams => Backwards is null ? Forwards.RandomStreams : [.. Forwards.RandomStreams, .. Backwards.RandomStreams];

    public string MergeMode { get; }
    public override string TypeName => "bidirectional";

    private bool Sequences => Forwards.ReturnSequences;

    protected override int[] OnBuild(int[] inputShape, ParameterStore store)
    {
        Forwards.Name = $"{Name}/forward_{Forwards.TypeName}";
        Backwards = Forwards.CloneReversed($"{Name}/backward_{Forwards.TypeName}");
        Forwards.Build(inputShape, store);
        Backwards.Build(inputShape, store);
        AdoptParameters(Forwards);
        AdoptParameters(Backwards);
        var shape = (int[])Forwards.OutputShape.Clone();
        if (MergeMode == "concat") shape[^1] *= 2;
        return shape;
    }

    public override Tensor? ComputeMask(Tensor input) => Sequences ? input.Mask : null;

    public override Tensor Forward(Tensor x, bool training)
    {
        _yf = Forwards.Forward(x, training);
        var raw = Backwards.Forward(x, training);
        var yb = _yb.Resize(x.Batch, Backwards.OutputShape);
        if (Sequences) ReverseTime(raw.Span, yb.Span, x.Batch);
        else raw.Span.CopyTo(yb.Span);
        var y = _output.Resize(x.Batch, OutputShape);
        int u = Forwards.Units, rows = _yf.Length / u;
        var f = _yf.Span;
        var b = yb.Span;
        var o = y.Span;
        switch (MergeMode)
        {
            case "concat":
                for (int r = 0; r < rows; r++)
                {
                    f.Slice(r * u, u).CopyTo(o.Slice(2 * r * u, u));
                    b.Slice(r * u, u).CopyTo(o.Slice(2 * r * u + u, u));
                }
                break;
            case "sum": TensorPrimitives.Add(f, b, o); break;
            case "mul": TensorPrimitives.Multiply(f, b, o); break;
            default:
                TensorPrimitives.Add(f, b, o);
                TensorPrimitives.Multiply(o, 0.5f, o);
                break;
        }
        return y;
    }

    public override Tensor Backward(Tensor dy)
    {
        int batch = dy.Batch, u = Forwards.Units, rows = _yf.Length / u;
        var dyf = _dyf.Resize(batch, Forwards.OutputShape);
        var dybAligned = _dyb.Resize(batch, Backwards.OutputShape);
        var d = dy.Span;
        switch (MergeMode)
        {
            case "concat":
                for (int r = 0; r < rows; r++)
                {
                    d.Slice(2 * r * u, u).CopyTo(dyf.Span.Slice(r * u, u));
                    d.Slice(2 * r * u + u, u).CopyTo(dybAligned.Span.Slice(r * u, u));
                }
                break;
            case "sum":
                d.CopyTo(dyf.Span);
                d.CopyTo(dybAligned.Span);
                break;
            case "mul":
                TensorPrimitives.Multiply(d, _yb.Span, dyf.Span);
                TensorPrimitives.Multiply(d, _yf.Span, dybAligned.Span);
                break;
            default:
                TensorPrimitives.Multiply(d, 0.5f, dyf.Span);
                TensorPrimitives.Multiply(d, 0.5f, dybAligned.Span);
                break;
        }
        // Back to the backward layer's processing order.
        if (Sequences) ReverseTimeInPlace(dybAligned.Span, batch);
        Forwards.ComputeInputGradient = Backwards.ComputeInputGradient = ComputeInputGradient;
        var dxf = Forwards.Backward(dyf);
        var dxb = Backwards.Backward(dybAligned);
        if (!ComputeInputGradient) return _dx;
        var dx = _dx.Resize(batch, InputShape);
        TensorPrimitives.Add(dxf.Span, dxb.Span, dx.Span);
        return dx;
    }

    // dst[b, t] = src[b, T − 1 − t] for (B, T, U) sequences.
    private void ReverseTime(ReadOnlySpan<float> src, Span<float> dst, int batch)
    {
        int t = InputShape[0], u = Forwards.Units;
        for (int r = 0; r < batch; r++)
        for (int s = 0; s < t; s++)
            src.Slice((r * t + (t - 1 - s)) * u, u).CopyTo(dst.Slice((r * t + s) * u, u));
    }

    // x[b, t] ↔ x[b, T − 1 − t] for (B, T, U) sequences, swapping step pairs so nothing is allocated.
    private void ReverseTimeInPlace(Span<float> x, int batch)
    {
        int t = InputShape[0], u = Forwards.Units;
        for (int r = 0; r < batch; r++)
        for (int s = 0; s < t / 2; s++)
        {
            var a = x.Slice((r * t + s) * u, u);
            var b = x.Slice((r * t + t - 1 - s) * u, u);
            for (int j = 0; j < u; j++) (a[j], b[j]) = (b[j], a[j]);
        }
    }

    protected override void WriteConfig(JsonObject spec)
    {
        spec["merge_mode"] = MergeMode;
        var inner = Forwards.ToSpec();
        inner.Remove("name");
        spec["layer"] = inner;
    }

    internal static Bidirectional FromSpec(SpecReader r)
    {
        string mode = r.String("merge_mode", "concat", Modes);
        var inner = r.OptionalObject("layer") ?? throw r.Error("layer", "is required (a recurrent layer)");
        if (LayerFactory.Create(inner) is not Recurrent rec)
            throw r.Error("layer", "must be a recurrent layer (simple_rnn, lstm or gru)");
        return new Bidirectional(rec, mode, r.OptionalString("name"));
    }
}
