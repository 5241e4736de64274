using System.Runtime.CompilerServices;
using static DistTrain.Engine.Kernels.VectorMath;

namespace DistTrain.Engine.Kernels;

/// <summary>
/// SimpleRNN's step in one pass: h = tanh(zx + zh); backward dz = dh⊙(1 − h²), flushed below
/// <see cref="VectorMath.FlushLimit"/>. One generic loop at every width; width Scalar is the twin the vector widths
/// are tested against, and it runs the tail.
/// </summary>
public static unsafe class RnnGates
{
    /// <param name="zx">(B·U) input pre-activations</param>
    /// <param name="zh">(B·U) recurrent pre-activations</param>
    /// <param name="h">(B·U) out</param>
    public static void Forward(ReadOnlySpan<float> zx, ReadOnlySpan<float> zh, Span<float> h, SimdWidth width = default)
    {
        fixed (float* px = zx, pr = zh, ph = h)
        {
            var loop = new ForwardLoop(px, pr, ph);
            WidthDispatch.Run(ref loop, h.Length, width);
        }
    }

    private readonly struct ForwardLoop(float* zx, float* zh, float* h) : IWidthLoop
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Run<W, TV>(int from, int to) where W : IVectorOps<TV> where TV : struct
        {
            for (int j = from; j < to; j += W.Count) W.Store(Tanh<W, TV>(W.Add(W.Load(zx + j), W.Load(zh + j))), h + j);
        }
    }

    /// <param name="h">(B·U) forward output</param>
    /// <param name="dh">(B·U) dL/dh</param>
    /// <param name="dz">(B·U) out: dL/dz</param>
    public static void Backward(ReadOnlySpan<float> h, ReadOnlySpan<float> dh, Span<float> dz, SimdWidth width = default)
    {
        fixed (float* ph = h, pd = dh, pz = dz)
        {
            var loop = new BackwardLoop(ph, pd, pz);
            WidthDispatch.Run(ref loop, h.Length, width);
        }
    }

    private readonly struct BackwardLoop(float* h, float* dh, float* dz) : IWidthLoop
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Run<W, TV>(int from, int to) where W : IVectorOps<TV> where TV : struct
        {
            var one = W.Splat(1f);
            for (int j = from; j < to; j += W.Count)
            {
                var hv = W.Load(h + j);
                W.Store(Flush<W, TV>(W.Mul(W.Load(dh + j), W.Sub(one, W.Mul(hv, hv)))), dz + j);
            }
        }
    }
}
