using System.Text.Json.Nodes;
using DistTrain.Engine.Kernels;
using DistTrain.Engine.Spec;

namespace DistTrain.Engine.Layers;

/// <summary>
/// What the 2-D pooling layers share: a window (pool size), strides (default: the pool size), Keras padding, and the
/// NHWC geometry x (B, H, W, C) → y (B, OH, OW, C).
/// </summary>
public abstract class Pooling2D : Layer
{
    protected Pooling2D((int H, int W)? poolSize, (int H, int W)? strides, Padding padding, string? name) : base(name)
    {
        PoolSize = poolSize ?? (2, 2);
        Strides = strides ?? PoolSize;
        Padding = padding;
    }

    public (int H, int W) PoolSize { get; }
    public (int H, int W) Strides { get; }
    public Padding Padding { get; }

    /// <summary>The window geometry, known once built.</summary>
    protected ConvGeometry Geometry { get; private set; }

    protected override int[] OnBuild(int[] inputShape, ParameterStore store)
    {
        if (inputShape.Length != 3)
            throw new ArgumentException($"{Name}: {GetType().Name} expects inputs of shape (height, width, channels), got {FormatShape(inputShape)}");
        Geometry = ConvGeometry.Create(inputShape[0], inputShape[1], inputShape[2], PoolSize.H, PoolSize.W, Strides.H, Strides.W, Padding, Name!);
        return [Geometry.OH, Geometry.OW, Geometry.C];
    }

    protected override void WriteConfig(JsonObject spec)
    {
        spec["pool_size"] = new JsonArray(PoolSize.H, PoolSize.W);
        spec["strides"] = new JsonArray(Strides.H, Strides.W);
        spec["padding"] = Padding == Padding.Same ? "same" : "valid";
    }

    /// <summary>Reads pool_size, strides and padding from a spec and makes the layer with <paramref name="create"/>.</summary>
    protected static T FromSpec<T>(SpecReader r, Func<(int, int), (int, int), Padding, string?, T> create)
    {
        var pool = r.Pair("pool_size", (2, 2), limit: SpecLimits.MaxKernelSize);
        return create(pool, r.Pair("strides", pool, limit: SpecLimits.MaxKernelSize), r.String("padding", "valid", "valid", "same") == "same" ? Padding.Same : Padding.Valid,
            r.OptionalString("name"));
    }
}
