using System.Runtime.Intrinsics;
using static DistTrain.Engine.Kernels.VectorMath;

namespace DistTrain.Engine.Kernels;

/// <summary>SimpleRNN's step in one pass: h = tanh(zx + zh); backward dz = dh⊙(1 − h²). Width Scalar is the reference.</summary>
public static unsafe class RnnGates
{
    public static void Forward(ReadOnlySpan<float> zx, ReadOnlySpan<float> zh, Span<float> h, SimdWidth width = default)
    {
        if (width == default) width = Simd.Best;
        int n = h.Length, vec = width == SimdWidth.V512 ? n / 16 * 16 : 0, j = 0;
        fixed (float* px = zx, pr = zh, ph = h)
        {
            for (; j < vec; j += 16) Tanh(Vector512.Load(px + j) + Vector512.Load(pr + j)).Store(ph + j);
            for (; j < n; j++) ph[j] = Tanh(px[j] + pr[j]);
        }
    }

    public static void Backward(ReadOnlySpan<float> h, ReadOnlySpan<float> dh, Span<float> dz, SimdWidth width = default)
    {
        if (width == default) width = Simd.Best;
        int n = h.Length, vec = width == SimdWidth.V512 ? n / 16 * 16 : 0, j = 0;
        fixed (float* ph = h, pd = dh, pz = dz)
        {
            for (; j < vec; j += 16)
            {
                var hv = Vector512.Load(ph + j);
                (Vector512.Load(pd + j) * (Vector512<float>.One - hv * hv)).Store(pz + j);
            }
            for (; j < n; j++) pz[j] = pd[j] * (1 - ph[j] * ph[j]);
        }
    }
}
