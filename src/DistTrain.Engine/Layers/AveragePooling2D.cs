using DistTrain.Engine.Kernels;
using DistTrain.Engine.Spec;

namespace DistTrain.Engine.Layers;

/// <summary>
/// Average pooling over NHWC windows: x (B, H, W, C) → y (B, OH, OW, C), y = mean over the window's real pixels
/// (padded positions are not counted, as in Keras). Backward: dx[p] += dy / count for every p in the window.
/// </summary>
public sealed class AveragePooling2D((int H, int W)? poolSize = null, (int H, int W)? strides = null, Padding padding = Padding.Valid, string? name = null)
    : Pooling2D(poolSize, strides, padding, name)
{
    private readonly Tensor _output = new(0), _dx = new(0);

    public override string TypeName => "average_pooling2d";

    // The window of output (oy, ox) clipped to the image: rows [y0, y1), columns [x0, x1).
    private (int Y0, int Y1, int X0, int X1) Window(int oy, int ox)
    {
        var g = Geometry;
        return (Math.Max(oy * g.SH - g.PadTop, 0), Math.Min(oy * g.SH - g.PadTop + g.KH, g.H),
            Math.Max(ox * g.SW - g.PadLeft, 0), Math.Min(ox * g.SW - g.PadLeft + g.KW, g.W));
    }

    public override Tensor Forward(Tensor x, bool training)
    {
        var g = Geometry;
        var y = _output.Resize(x.Batch, OutputShape);
        y.Span.Clear();
        var xs = x.Span;
        var ys = y.Span;
        int c = g.C, o = 0;
        for (int b = 0; b < x.Batch; b++)
        for (int oy = 0; oy < g.OH; oy++)
        for (int ox = 0; ox < g.OW; ox++, o += c)
        {
            var (y0, y1, x0, x1) = Window(oy, ox);
            float share = 1f / ((y1 - y0) * (x1 - x0));
            for (int iy = y0; iy < y1; iy++)
            for (int ix = x0; ix < x1; ix++)
                Rows.MultiplyAddInto(ys.Slice(o, c), xs.Slice(((b * g.H + iy) * g.W + ix) * c, c), share);
        }
        return y;
    }

    public override Tensor Backward(Tensor dy)
    {
        var g = Geometry;
        var dx = _dx.Resize(dy.Batch, InputShape);
        dx.Span.Clear();
        var dys = dy.Span;
        var dxs = dx.Span;
        int c = g.C, o = 0;
        for (int b = 0; b < dy.Batch; b++)
        for (int oy = 0; oy < g.OH; oy++)
        for (int ox = 0; ox < g.OW; ox++, o += c)
        {
            var (y0, y1, x0, x1) = Window(oy, ox);
            float share = 1f / ((y1 - y0) * (x1 - x0));
            for (int iy = y0; iy < y1; iy++)
            for (int ix = x0; ix < x1; ix++)
                Rows.MultiplyAddInto(dxs.Slice(((b * g.H + iy) * g.W + ix) * c, c), dys.Slice(o, c), share);
        }
        return dx;
    }

    internal static AveragePooling2D FromSpec(SpecReader r) => FromSpec(r, (p, s, pad, n) => new AveragePooling2D(p, s, pad, n));
}
