using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace DistTrain.Engine.Kernels;

/// <summary>
/// Short-row operations (an embedding row, one time step's features: 16 to 128 floats) done inline. At these
/// lengths a library call's set-up costs as much as the work, and these run once per token per step.
/// One generic body at <see cref="Simd.Best"/>; width Scalar runs the tail and is what the vector part is tested against.
/// </summary>
public static unsafe class Rows
{
    /// <summary>dst = src.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Copy(ReadOnlySpan<float> src, Span<float> dst, SimdWidth width = default)
    {
        if (src.Length != dst.Length) throw new ArgumentException($"row lengths differ: {src.Length} and {dst.Length}");
        if (width == default) width = Simd.Best;
        int n = src.Length, vec = Simd.VectorPart(n, width);
        fixed (float* s = src, d = dst)
        {
            switch (width)
            {
                case SimdWidth.V512: CopyRange<Ops512, Vector512<float>>(s, d, 0, vec); break;
                case SimdWidth.V256: CopyRange<Ops256, Vector256<float>>(s, d, 0, vec); break;
                case SimdWidth.V128: CopyRange<Ops128, Vector128<float>>(s, d, 0, vec); break;
            }
            CopyRange<Ops1, float>(s, d, vec, n);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void CopyRange<W, TV>(float* s, float* d, int from, int to) where W : IVectorOps<TV> where TV : struct
    {
        for (int i = from; i < to; i += W.Count) W.Store(W.Load(s + i), d + i);
    }

    /// <summary>dst += src.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void AddInto(Span<float> dst, ReadOnlySpan<float> src) => MultiplyAddInto(dst, src, 1f);

    /// <summary>dst += src · scale.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void MultiplyAddInto(Span<float> dst, ReadOnlySpan<float> src, float scale, SimdWidth width = default)
    {
        if (src.Length != dst.Length) throw new ArgumentException($"row lengths differ: {src.Length} and {dst.Length}");
        if (width == default) width = Simd.Best;
        int n = src.Length, vec = Simd.VectorPart(n, width);
        fixed (float* s = src, d = dst)
        {
            switch (width)
            {
                case SimdWidth.V512: FmaRange<Ops512, Vector512<float>>(d, s, scale, 0, vec); break;
                case SimdWidth.V256: FmaRange<Ops256, Vector256<float>>(d, s, scale, 0, vec); break;
                case SimdWidth.V128: FmaRange<Ops128, Vector128<float>>(d, s, scale, 0, vec); break;
            }
            FmaRange<Ops1, float>(d, s, scale, vec, n);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void FmaRange<W, TV>(float* d, float* s, float scale, int from, int to) where W : IVectorOps<TV> where TV : struct
    {
        var k = W.Splat(scale);
        for (int i = from; i < to; i += W.Count) W.Store(W.Fma(W.Load(s + i), k, W.Load(d + i)), d + i);
    }
}
