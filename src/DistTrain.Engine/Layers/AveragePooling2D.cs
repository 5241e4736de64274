using System.Numerics.Tensors;
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

    // Visits every (output position, input pixel in its window) pair with the window's pixel count.
    private void ForEachWindow(int batch, Action<int, int, int> visit)
    {
        int c = Geometry.C, o = 0;
        for (int b = 0; b < batch; b++)
        for (int oy = 0; oy < Geometry.OH; oy++)
        for (int ox = 0; ox < Geometry.OW; ox++, o += c)
        {
            int y0 = Math.Max(oy * Geometry.SH - Geometry.PadTop, 0), y1 = Math.Min(oy * Geometry.SH - Geometry.PadTop + Geometry.KH, Geometry.H);
            int x0 = Math.Max(ox * Geometry.SW - Geometry.PadLeft, 0), x1 = Math.Min(ox * Geometry.SW - Geometry.PadLeft + Geometry.KW, Geometry.W);
            int count = (y1 - y0) * (x1 - x0);
            for (int iy = y0; iy < y1; iy++)
            for (int ix = x0; ix < x1; ix++)
                visit(o, ((b * Geometry.H + iy) * Geometry.W + ix) * c, count);
        }
    }

    public override Tensor Forward(Tensor x, bool training)
    {
        var y = _output.Resize(x.Batch, OutputShape);
        y.Span.Clear();
        float[] xd = x.Data, yd = y.Data;
        int c = Geometry.C;
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
        int c = Geometry.C;
        ForEachWindow(dy.Batch, (o, i, count) =>
        {
            var di = dxd.AsSpan(i, c);
            TensorPrimitives.MultiplyAdd(dyd.AsSpan(o, c), 1f / count, di, di);
        });
        return dx;
    }

    internal static AveragePooling2D FromSpec(SpecReader r) => FromSpec(r, (p, s, pad, n) => new AveragePooling2D(p, s, pad, n));
}
