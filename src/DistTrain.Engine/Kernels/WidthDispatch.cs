using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace DistTrain.Engine.Kernels;

/// <summary>A kernel's loop over elements [from, to) in steps of W.Count, written once for every width.</summary>
public interface IWidthLoop
{
    void Run<W, TV>(int from, int to) where W : IVectorOps<TV> where TV : struct;
}

/// <summary>
/// The one driver of every <see cref="IWidthLoop"/>: whole vectors at the chosen width, then the remainder at
/// width Scalar (which alone is the reference the vector widths are tested against).
/// </summary>
public static class WidthDispatch
{
    /// <summary>Runs <paramref name="loop"/> over [0, n) at <paramref name="width"/> (default: <see cref="Simd.Best"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Run<TLoop>(ref TLoop loop, int n, SimdWidth width = default) where TLoop : struct, IWidthLoop
    {
        if (width == default) width = Simd.Best;
        int vec = Simd.VectorPart(n, width);
        switch (width)
        {
            case SimdWidth.V512: loop.Run<Ops512, Vector512<float>>(0, vec); break;
            case SimdWidth.V256: loop.Run<Ops256, Vector256<float>>(0, vec); break;
            case SimdWidth.V128: loop.Run<Ops128, Vector128<float>>(0, vec); break;
        }
        loop.Run<Ops1, float>(vec, n);
    }
}
