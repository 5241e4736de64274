using System.Text.Json.Nodes;
using DistTrain.Engine.Kernels;
using DistTrain.Engine.Spec;

namespace DistTrain.Engine.Layers;

/// <summary>
/// Max pooling over NHWC windows: x (B, H, W, C) → y (B, OH, OW, C), y = max over the window (padding never wins).
/// Forward records where each maximum came from, so backward routes dy there: dx[argmax] += dy.
/// </summary>
public sealed class MaxPooling2D : Layer
{
    private ConvGeometry _g;
    private readonly Tensor _output = new(0), _dx = new(0);
    private int[] _argmax = [];

    public MaxPooling2D((int H, int W)? poolSize = null, (int H, int W)? strides = null, Padding padding = Padding.Valid, string? name = null)
        : base(name)
    {
        PoolSize = poolSize ?? (2, 2);
        Strides = strides ?? PoolSize;
        Padding = padding;
    }

    public (int H, int W) PoolSize { get; }
    public (int H, int W) Strides { get; }
    public Padding Padding { get; }
    public override string TypeName => "max_pooling2d";

    protected override int[] OnBuild(int[] inputShape, ParameterStore store)
    {
        if (inputShape.Length != 3)
            throw new ArgumentException($"{Name}: MaxPooling2D expects inputs of shape (height, width, channels), got {FormatShape(inputShape)}");
        _g = ConvGeometry.Create(inputShape[0], inputShape[1], inputShape[2], PoolSize.H, PoolSize.W, Strides.H, Strides.W, Padding, Name!);
        return [_g.OH, _g.OW, _g.C];
    }

    public override Tensor Forward(Tensor x, bool training)
    {
        var y = _output.Resize(x.Batch, OutputShape);
        if (_argmax.Length < y.Length) _argmax = new int[y.Length];
        var xs = x.Span;
        var ys = y.Span;
        var arg = _argmax.AsSpan(0, y.Length);
        int c = _g.C, o = 0;
        for (int b = 0; b < x.Batch; b++)
        for (int oy = 0; oy < _g.OH; oy++)
        for (int ox = 0; ox < _g.OW; ox++, o += c)
        {
            var yo = ys.Slice(o, c);
            var ao = arg.Slice(o, c);
            bool first = true;
            for (int ky = 0; ky < _g.KH; ky++)
            {
                int iy = oy * _g.SH + ky - _g.PadTop;
                if ((uint)iy >= (uint)_g.H) continue;
                for (int kx = 0; kx < _g.KW; kx++)
                {
                    int ix = ox * _g.SW + kx - _g.PadLeft;
                    if ((uint)ix >= (uint)_g.W) continue;
                    int at = ((b * _g.H + iy) * _g.W + ix) * c;
                    var xi = xs.Slice(at, c);
                    if (first)
                    {
                        // Every window holds at least one real pixel (padding is at most KH−1), so seed from it.
                        xi.CopyTo(yo);
                        for (int ch = 0; ch < c; ch++) ao[ch] = at + ch;
                        first = false;
                        continue;
                    }
                    for (int ch = 0; ch < c; ch++)
                        if (xi[ch] > yo[ch])
                        {
                            yo[ch] = xi[ch];
                            ao[ch] = at + ch;
                        }
                }
            }
        }
        return y;
    }

    public override Tensor Backward(Tensor dy)
    {
        var dx = _dx.Resize(dy.Batch, InputShape);
        dx.Span.Clear();
        var dxs = dx.Span;
        var dys = dy.Span;
        var arg = _argmax.AsSpan(0, dy.Length);
        for (int i = 0; i < dys.Length; i++) dxs[arg[i]] += dys[i];
        return dx;
    }

    protected override void WriteConfig(JsonObject spec)
    {
        spec["pool_size"] = new JsonArray(PoolSize.H, PoolSize.W);
        spec["strides"] = new JsonArray(Strides.H, Strides.W);
        spec["padding"] = Padding == Padding.Same ? "same" : "valid";
    }

    internal static MaxPooling2D FromSpec(SpecReader r)
    {
        var pool = r.Pair("pool_size", (2, 2));
        return new MaxPooling2D(pool, r.Pair("strides", pool),
            r.String("padding", "valid", "valid", "same") == "same" ? Padding.Same : Padding.Valid, r.OptionalString("name"));
    }
}
