using System.Runtime.CompilerServices;

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
        fixed (float* s = src, d = dst)
        {
            var loop = new CopyLoop(s, d);
            WidthDispatch.Run(ref loop, src.Length, width);
        }
    }

    private readonly struct CopyLoop(float* s, float* d) : IWidthLoop
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Run<W, TV>(int from, int to) where W : IVectorOps<TV> where TV : struct
        {
            for (int i = from; i < to; i += W.Count) W.Store(W.Load(s + i), d + i);
        }
    }

    /// <summary>dst += src.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void AddInto(Span<float> dst, ReadOnlySpan<float> src) => MultiplyAddInto(dst, src, 1f);

    /// <summary>dst += src · scale.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void MultiplyAddInto(Span<float> dst, ReadOnlySpan<float> src, float scale, SimdWidth width = default)
    {
        if (src.Length != dst.Length) throw new ArgumentException($"row lengths differ: {src.Length} and {dst.Length}");
        fixed (float* s = src, d = dst)
        {
            var loop = new FmaLoop(d, s, scale);
            WidthDispatch.Run(ref loop, src.Length, width);
        }
    }

    private readonly struct FmaLoop(float* d, float* s, float scale) : IWidthLoop
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Run<W, TV>(int from, int to) where W : IVectorOps<TV> where TV : struct
        {
            var k = W.Splat(scale);
            for (int i = from; i < to; i += W.Count) W.Store(W.Fma(W.Load(s + i), k, W.Load(d + i)), d + i);
        }
    }
}
