using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace DistTrain.Engine.Kernels;

/// <summary>
/// Whether a buffer holds only finite values: what a data-parallel step checks of its reduced gradient before applying
/// it. Effectively computes <c>all(isfinite(x[i]))</c>. The vector path accumulates x − x, which is 0 for every finite x
/// and NaN for NaN and ±Inf, and NaN sticks; one compare at the end, no branch per element.
/// </summary>
public static class Finite
{
    public static bool All(ReadOnlySpan<float> x)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated && x.Length >= Vector256<float>.Count)
        {
            ref float start = ref MemoryMarshal.GetReference(x);
            var acc = Vector256<float>.Zero;
            for (; i <= x.Length - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var v = Vector256.LoadUnsafe(ref start, (nuint)i);
                acc += v - v;
            }
            if (!Vector256.EqualsAll(acc, Vector256<float>.Zero)) return false;
        }
        return AllReference(x[i..]);
    }

    /// <summary>The scalar twin, and the tail of <see cref="All"/>.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static bool AllReference(ReadOnlySpan<float> x)
    {
        foreach (float v in x)
            if (!float.IsFinite(v)) return false;
        return true;
    }
}
