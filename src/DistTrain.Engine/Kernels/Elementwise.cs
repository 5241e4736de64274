using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace DistTrain.Engine.Kernels;

/// <summary>An element-wise operation on two inputs, at every vector width (TensorPrimitives' operator shape).</summary>
public interface IBinaryOperator
{
    static abstract float Invoke(float x, float y);
    static abstract Vector128<float> Invoke(Vector128<float> x, Vector128<float> y);
    static abstract Vector256<float> Invoke(Vector256<float> x, Vector256<float> y);
    static abstract Vector512<float> Invoke(Vector512<float> x, Vector512<float> y);
}

/// <summary>An element-wise operation on one input, at every vector width.</summary>
public interface IUnaryOperator
{
    static abstract float Invoke(float x);
    static abstract Vector128<float> Invoke(Vector128<float> x);
    static abstract Vector256<float> Invoke(Vector256<float> x);
    static abstract Vector512<float> Invoke(Vector512<float> x);
}

/// <summary>
/// Drivers for the engine's own element-wise operators, for the operations TensorPrimitives lacks. Each runs the
/// widest width available (or the one asked for) over the body and the scalar form over the tail; the scalar
/// form alone is the reference the vector paths are tested against.
/// </summary>
public static class Elementwise
{
    /// <summary>Effectively computes destination[i] = TOp(x[i], y[i]).</summary>
    public static void Binary<TOp>(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> destination,
        SimdWidth width = default) where TOp : IBinaryOperator
    {
        if (x.Length != y.Length || x.Length != destination.Length)
            throw new ArgumentException($"element-wise inputs must have equal lengths, got {x.Length}, {y.Length} and {destination.Length}");
        if (width == default) width = Simd.Best;
        ref float px = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(x);
        ref float py = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(y);
        ref float pd = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(destination);
        int n = x.Length, i = 0;
        if (width == SimdWidth.V512)
            for (; i <= n - 16; i += 16)
                TOp.Invoke(Vector512.LoadUnsafe(ref px, (nuint)i), Vector512.LoadUnsafe(ref py, (nuint)i)).StoreUnsafe(ref pd, (nuint)i);
        if (width >= SimdWidth.V256)
            for (; i <= n - 8; i += 8)
                TOp.Invoke(Vector256.LoadUnsafe(ref px, (nuint)i), Vector256.LoadUnsafe(ref py, (nuint)i)).StoreUnsafe(ref pd, (nuint)i);
        if (width >= SimdWidth.V128)
            for (; i <= n - 4; i += 4)
                TOp.Invoke(Vector128.LoadUnsafe(ref px, (nuint)i), Vector128.LoadUnsafe(ref py, (nuint)i)).StoreUnsafe(ref pd, (nuint)i);
        for (; i < n; i++)
            Unsafe.Add(ref pd, i) = TOp.Invoke(Unsafe.Add(ref px, i), Unsafe.Add(ref py, i));
    }

    /// <summary>Effectively computes destination[i] = TOp(x[i]).</summary>
    public static void Unary<TOp>(ReadOnlySpan<float> x, Span<float> destination, SimdWidth width = default)
        where TOp : IUnaryOperator
    {
        if (x.Length != destination.Length)
            throw new ArgumentException($"element-wise input and destination lengths differ: {x.Length} and {destination.Length}");
        if (width == default) width = Simd.Best;
        ref float px = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(x);
        ref float pd = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(destination);
        int n = x.Length, i = 0;
        if (width == SimdWidth.V512)
            for (; i <= n - 16; i += 16) TOp.Invoke(Vector512.LoadUnsafe(ref px, (nuint)i)).StoreUnsafe(ref pd, (nuint)i);
        if (width >= SimdWidth.V256)
            for (; i <= n - 8; i += 8) TOp.Invoke(Vector256.LoadUnsafe(ref px, (nuint)i)).StoreUnsafe(ref pd, (nuint)i);
        if (width >= SimdWidth.V128)
            for (; i <= n - 4; i += 4) TOp.Invoke(Vector128.LoadUnsafe(ref px, (nuint)i)).StoreUnsafe(ref pd, (nuint)i);
        for (; i < n; i++) Unsafe.Add(ref pd, i) = TOp.Invoke(Unsafe.Add(ref px, i));
    }
}
