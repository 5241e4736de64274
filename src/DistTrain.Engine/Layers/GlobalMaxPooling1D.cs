using DistTrain.Engine.Spec;

namespace DistTrain.Engine.Layers;

/// <summary>
/// Max over time: x (B, T, D) → y (B, D), over the steps the mask keeps. A row with every step masked gives zeros
/// and no gradient. Backward routes dy to the step that won: dx[b, argmax, d] = dy[b, d].
/// </summary>
public sealed class GlobalMaxPooling1D(string? name = null) : GlobalPooling1D(name)
{
    private readonly Tensor _output = new(0), _dx = new(0);
    private int[] _argmax = [];

    public override string TypeName => "global_max_pooling1d";

    public override Tensor Forward(Tensor x, bool training)
    {
        int b = x.Batch, t = Steps, d = Features;
        var y = _output.Resize(b, OutputShape);
        if (_argmax.Length < b * d) _argmax = new int[b * d];
        var xs = x.Span;
        for (int r = 0; r < b; r++)
        for (int j = 0; j < d; j++)
        {
            float best = 0;
            int at = -1;
            for (int s = 0; s < t; s++)
            {
                if (x.Mask is { } m && m.Span[r * t + s] == 0) continue;
                float v = xs[(r * t + s) * d + j];
                if (at < 0 || v > best) { best = v; at = s; }
            }
            y.Span[r * d + j] = best;
            _argmax[r * d + j] = at;
        }
        return y;
    }

    public override Tensor Backward(Tensor dy)
    {
        int b = dy.Batch, t = Steps, d = Features;
        var dx = _dx.Resize(b, InputShape);
        dx.Span.Clear();
        for (int r = 0; r < b; r++)
        for (int j = 0; j < d; j++)
        {
            int at = _argmax[r * d + j];
            if (at >= 0) dx.Span[(r * t + at) * d + j] = dy.Span[r * d + j];
        }
        return dx;
    }

    internal static GlobalMaxPooling1D FromSpec(SpecReader r) => new(r.OptionalString("name"));
}
