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
        MaxPool.Forward(y.Span, _argmax.AsSpan(0, y.Length), x.Span, x.Batch, _g);
        return y;
    }

    public override Tensor Backward(Tensor dy)
    {
        var dx = _dx.Resize(dy.Batch, InputShape);
        dx.Span.Clear();
        MaxPool.Backward(dx.Span, _argmax.AsSpan(0, dy.Length), dy.Span);
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
