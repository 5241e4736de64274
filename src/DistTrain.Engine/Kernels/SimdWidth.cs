using System.Runtime.Intrinsics;

namespace DistTrain.Engine.Kernels;

/// <summary>The vector width a hand-written kernel runs at.</summary>
public enum SimdWidth
{
    Scalar = 1,
    V128 = 4,
    V256 = 8,
    V512 = 16,
}

/// <summary>Picks the widest vector width the CPU accelerates; tests may force a narrower one.</summary>
public static class Simd
{
    /// <summary>The widest width this CPU runs natively.</summary>
    public static SimdWidth Best { get; } =
        Vector512.IsHardwareAccelerated ? SimdWidth.V512 :
        Vector256.IsHardwareAccelerated ? SimdWidth.V256 :
        Vector128.IsHardwareAccelerated ? SimdWidth.V128 : SimdWidth.Scalar;

    /// <summary>True when this CPU can run kernels at <paramref name="width"/>.</summary>
    public static bool IsSupported(SimdWidth width) => width switch
    {
        SimdWidth.V512 => Vector512.IsHardwareAccelerated,
        SimdWidth.V256 => Vector256.IsHardwareAccelerated,
        SimdWidth.V128 => Vector128.IsHardwareAccelerated,
        _ => true,
    };
}
