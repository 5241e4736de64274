using DistTrain.Engine.Kernels;
using DistTrain.Engine.Spec;

namespace DistTrain.Engine.Layers;

/// <summary>
/// Max pooling over NHWC windows: x (B, H, W, C) → y (B, OH, OW, C), y = max over the window (padding never wins).
/// Forward records where each maximum came from, so backward routes dy there: dx[argmax] += dy.
/// </summary>
public sealed class MaxPooling2D((int H, int W)? poolSize = null, (int H, int W)? strides = null, Padding padding = Padding.Valid, string? name = null)
    : Pooling2D(poolSize, strides, padding, name)
{
    private readonly Tensor _output = new(0), _dx = new(0);
    private int[] _argmax = [];

    public override string TypeName => "max_pooling2d";

    public override Tensor Forward(Tensor x, bool training)
    {
        var y = _output.Resize(x.Batch, OutputShape);
        if (_argmax.Length < y.Length) _argmax = new int[y.Length];
        MaxPool.Forward(y.Span, _argmax.AsSpan(0, y.Length), x.Span, x.Batch, Geometry);
        return y;
    }

    public override Tensor Backward(Tensor dy)
    {
        var dx = _dx.Resize(dy.Batch, InputShape);
        dx.Span.Clear();
        MaxPool.Backward(dx.Span, _argmax.AsSpan(0, dy.Length), dy.Span);
        return dx;
    }

    internal static MaxPooling2D FromSpec(SpecReader r) => FromSpec(r, (p, s, pad, n) => new MaxPooling2D(p, s, pad, n));
}
