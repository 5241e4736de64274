using System.Runtime.CompilerServices;
using static DistTrain.Engine.Kernels.VectorMath;

namespace DistTrain.Engine.Kernels;

/// <summary>
/// Zeroes the values below <see cref="VectorMath.FlushLimit"/> in a buffer that decays geometrically, as an optimizer's
/// moving averages do for parameters that get no gradient: an embedding row unused for a few hundred steps has its
/// momentum decay by β = 0.9 per step into the subnormal range, and then every update of it costs Intel CPUs a
/// microcode assist per value. Effectively x[i] = |x[i]| &lt; 2^−80 ? 0 : x[i].
/// </summary>
public static unsafe class FlushToZero
{
    public static void Apply(Span<float> x, SimdWidth width = default)
    {
        fixed (float* p = x)
        {
            var loop = new Loop(p);
            WidthDispatch.Run(ref loop, x.Length, width);
        }
    }

    private readonly struct Loop(float* x) : IWidthLoop
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Run<W, TV>(int from, int to) where W : IVectorOps<TV> where TV : struct
        {
            for (int i = from; i < to; i += W.Count) W.Store(Flush<W, TV>(W.Load(x + i)), x + i);
        }
    }
}
