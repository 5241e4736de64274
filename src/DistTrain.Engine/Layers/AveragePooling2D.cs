using System.Numerics.Tensors;
using System.Text.Json.Nodes;
using DistTrain.Engine.Kernels;
using DistTrain.Engine.Spec;

namespace DistTrain.Engine.Layers;

/// <summary>
/// Average pooling over NHWC windows: x (B, H, W, C) → y (B, OH, OW, C), y = mean over the window's real pixels
/// (padded positions are not counted, as in Keras). Backward: dx[p] += dy / count for every p in the window.
/// </summary>
public sealed class AveragePooling2D : Layer
{
    private ConvGeometry _g;
    private readonly Tensor _output = new(0), _dx = new(0);

    public AveragePooling2D((int H, int W)? poolSize = null, (int H, int W)? strides = null, Padding padding = Padding.Valid, string? name = null)
        : base(name)
    {
        PoolSize = poolSize ?? (2, 2);
        Strides = strides ?? PoolSize;
        Padding = padding;
    }

    public (int H, int W) PoolSize { get; }
    public (int H, int W) Strides { get; }
    public Padding Padding { get; }
    public override string TypeName => "average_pooling2d";

    protected override int[] OnBuild(int[] inputShape, ParameterStore store)
    {
        if (inputShape.Length != 3)
            throw new ArgumentException($"{Name}: AveragePooling2D expects inputs of shape (height, width, channels), got {FormatShape(inputShape)}");
        _g = ConvGeometry.Create(inputShape[0], inputShape[1], inputShape[2], PoolSize.H, PoolSize.W, Strides.H, Strides.W, Padding, Name!);
        return [_g.OH, _g.OW, _g.C];
    }

    // Visits every (output position, input pixel in its window) pair with the window's pixel count.
    private void ForEachWindow(int batch, Action<int, int, int> visit)
    {
        int c = _g.C, o = 0;
        for (int b = 0; b < batch; b++)
        for (int oy = 0; oy < _g.OH; oy++)
        for (int ox = 0; ox < _g.OW; ox++, o += c)
        {
            int y0 = Math.Max(oy * _g.SH - _g.PadTop, 0), y1 = Math.Min(oy * _g.SH - _g.PadTop + _g.KH, _g.H);
            int x0 = Math.Max(ox * _g.SW - _g.PadLeft, 0), x1 = Math.Min(ox * _g.SW - _g.PadLeft + _g.KW, _g.W);
            int count = (y1 - y0) * (x1 - x0);
            for (int iy = y0; iy < y1; iy++)
            for (int ix = x0; ix < x1; ix++)
                visit(o, ((b * _g.H + iy) * _g.W + ix) * c, count);
        }
    }

    public override Tensor Forward(Tensor x, bool training)
    {
        var y = _output.Resize(x.Batch, OutputShape);
        y.Span.Clear();
        float[] xd = x.Data, yd = y.Data;
        int c = _g.C;
        ForEachWindow(x.Batch, (o, i, count) =>
        {
            var yo = yd.AsSpan(o, c);
            TensorPrimitives.MultiplyAdd(xd.AsSpan(i, c), 1f / count, yo, yo);
        });
        return y;
    }

    public override Tensor Backward(Tensor dy)
    {
        var dx = _dx.Resize(dy.Batch, InputShape);
        dx.Span.Clear();
        float[] dyd = dy.Data, dxd = dx.Data;
        int c = _g.C;
        ForEachWindow(dy.Batch, (o, i, count) =>
        {
            var di = dxd.AsSpan(i, c);
            TensorPrimitives.MultiplyAdd(dyd.AsSpan(o, c), 1f / count, di, di);
        });
        return dx;
    }

    protected override void WriteConfig(JsonObject spec)
    {
        spec["pool_size"] = new JsonArray(PoolSize.H, PoolSize.W);
        spec["strides"] = new JsonArray(Strides.H, Strides.W);
        spec["padding"] = Padding == Padding.Same ? "same" : "valid";
    }

    internal static AveragePooling2D FromSpec(SpecReader r)
    {
        var pool = r.Pair("pool_size", (2, 2));
        return new AveragePooling2D(pool, r.Pair("strides", pool),
            r.String("padding", "valid", "valid", "same") == "same" ? Padding.Same : Padding.Valid, r.OptionalString("name"));
    }
}
