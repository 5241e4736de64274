using System.Numerics.Tensors;
using DistTrain.Engine.Kernels;
using DistTrain.Engine.Spec;

namespace DistTrain.Engine.Layers;

/// <summary>
/// Mean over time: x (B, T, D) → y (B, D), y[b] = Σ_t m[b,t]·x[b,t] / Σ_t m[b,t], with m the input's mask (all ones
/// without one). A row whose steps are all masked gives zeros. Backward: dx[b,t] = m[b,t]·dy[b] / Σ_t m[b,t].
/// </summary>
public sealed class GlobalAveragePooling1D(string? name = null) : GlobalPooling1D(name)
{
    private readonly Tensor _output = new(0), _dx = new(0);
    private float[] _weights = [];

    public override string TypeName => "global_average_pooling1d";

    public override Tensor Forward(Tensor x, bool training)
    {
        int b = x.Batch, t = Steps, d = Features;
        if (_weights.Length < b * t) _weights = new float[b * t];
        var y = _output.Resize(b, OutputShape);
        y.Span.Clear();
        for (int r = 0; r < b; r++)
        {
            // w[b, t] = m[b, t] / Σ_t m[b, t]: the step's share of the mean.
            var w = _weights.AsSpan(r * t, t);
            if (x.Mask is { } mask) mask.Span.Slice(r * t, t).CopyTo(w);
            else w.Fill(1);
            float count = TensorPrimitives.Sum(w);
            if (count > 0) TensorPrimitives.Divide(w, count, w);
            var yr = y.Span.Slice(r * d, d);
            for (int s = 0; s < t; s++)
                if (w[s] != 0) Rows.MultiplyAddInto(yr, x.Span.Slice((r * t + s) * d, d), w[s]);
        }
        return y;
    }

    public override Tensor Backward(Tensor dy)
    {
        int b = dy.Batch, t = Steps, d = Features;
        var dx = _dx.Resize(b, InputShape);
        dx.Span.Clear();
        for (int r = 0; r < b; r++)
        for (int s = 0; s < t; s++)
            Rows.MultiplyAddInto(dx.Span.Slice((r * t + s) * d, d), dy.Span.Slice(r * d, d), _weights[r * t + s]);
        return dx;
    }

    internal static GlobalAveragePooling1D FromSpec(SpecReader r) => new(r.OptionalString("name"));
}
