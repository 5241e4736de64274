using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using static DistTrain.Engine.Kernels.VectorMath;

namespace DistTrain.Engine.Kernels;

/// <summary>
/// SimpleRNN's step in one pass: h = tanh(zx + zh); backward dz = dh⊙(1 − h²), flushed below
/// <see cref="VectorMath.FlushLimit"/>. One generic body at every width;
/// width Scalar is the twin the vector widths are tested against, and it runs the tail.
/// </summary>
public static unsafe class RnnGates
{
    /// <param name="zx">(B·U) input pre-activations</param>
    /// <param name="zh">(B·U) recurrent pre-activations</param>
    /// <param name="h">(B·U) out</param>
    public static void Forward(ReadOnlySpan<float> zx, ReadOnlySpan<float> zh, Span<float> h, SimdWidth width = default)
    {
        if (width == default) width = Simd.Best;
        int n = h.Length, vec = Simd.VectorPart(n, width);
        fixed (float* px = zx, pr = zh, ph = h)
        {
            switch (width)
            {
                case SimdWidth.V512: ForwardRange<Ops512, Vector512<float>>(px, pr, ph, 0, vec); break;
                case SimdWidth.V256: ForwardRange<Ops256, Vector256<float>>(px, pr, ph, 0, vec); break;
                case SimdWidth.V128: ForwardRange<Ops128, Vector128<float>>(px, pr, ph, 0, vec); break;
            }
            ForwardRange<Ops1, float>(px, pr, ph, vec, n);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ForwardRange<W, TV>(float* zx, float* zh, float* h, int from, int to) where W : IVectorOps<TV> where TV : struct
    {
        for (int j = from; j < to; j += W.Count) W.Store(Tanh<W, TV>(W.Add(W.Load(zx + j), W.Load(zh + j))), h + j);
    }

    /// <param name="h">(B·U) forward output</param>
    /// <param name="dh">(B·U) dL/dh</param>
    /// <param name="dz">(B·U) out: dL/dz</param>
    public static void Backward(ReadOnlySpan<float> h, ReadOnlySpan<float> dh, Span<float> dz, SimdWidth width = default)
    {
        if (width == default) width = Simd.Best;
        int n = h.Length, vec = Simd.VectorPart(n, width);
        fixed (float* ph = h, pd = dh, pz = dz)
        {
            switch (width)
            {
                case SimdWidth.V512: BackwardRange<Ops512, Vector512<float>>(ph, pd, pz, 0, vec); break;
                case SimdWidth.V256: BackwardRange<Ops256, Vector256<float>>(ph, pd, pz, 0, vec); break;
                case SimdWidth.V128: BackwardRange<Ops128, Vector128<float>>(ph, pd, pz, 0, vec); break;
            }
            BackwardRange<Ops1, float>(ph, pd, pz, vec, n);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void BackwardRange<W, TV>(float* h, float* dh, float* dz, int from, int to) where W : IVectorOps<TV> where TV : struct
    {
        var one = W.Splat(1f);
        for (int j = from; j < to; j += W.Count)
        {
            var hv = W.Load(h + j);
            W.Store(Flush<W, TV>(W.Mul(W.Load(dh + j), W.Sub(one, W.Mul(hv, hv)))), dz + j);
        }
    }
}
