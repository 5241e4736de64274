using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace DistTrain.Engine.Kernels;

/// <summary>The vector width a hand-written kernel runs at.</summary>
public enum SimdWidth
{
    Scalar = 1,
    V128 = 4,
    V256 = 8,
    V512 = 16,
}

/// <summary>Picks the widest vector width the CPU accelerates; tests and benchmarks may force a narrower one.</summary>
public static class Simd
{
    /// <summary>
    /// The width kernels run at by default: the widest this CPU can run, unless <see cref="Use"/> chose another.
    /// On CPUs whose clock drops under 512-bit work (Intel Skylake-X and Cascade Lake) .NET reports Vector512 as not
    /// accelerated and runs its own library code at 256 bits; the engine's kernels still take 512 there, because on
    /// a Cascade Lake they trained imdb-lstm 1.4× faster than at 256 (BENCHMARKS.md, sitting 6).
    /// </summary>
    public static SimdWidth Best { get; private set; } = Widest;

    /// <summary>The widest width this CPU can run.</summary>
    public static SimdWidth Widest =>
        IsSupported(SimdWidth.V512) ? SimdWidth.V512 :
        Vector256.IsHardwareAccelerated ? SimdWidth.V256 :
        Vector128.IsHardwareAccelerated ? SimdWidth.V128 : SimdWidth.Scalar;

    /// <summary>Makes every kernel's default width <paramref name="width"/>, e.g. to measure a narrower one.</summary>
    public static void Use(SimdWidth width) => Best = Resolve(width);

    /// <summary>The width a kernel asked for <paramref name="width"/> runs at: <see cref="Best"/> for the default,
    /// else the width itself, which this CPU must be able to run.</summary>
    public static SimdWidth Resolve(SimdWidth width)
    {
        if (width == default) return Best;
        if (!IsSupported(width)) throw new PlatformNotSupportedException($"this CPU cannot run {Describe(width)} vectors");
        return width;
    }

    /// <summary>Parses a width as people write it: scalar, 128, 256 or 512.</summary>
    public static SimdWidth Parse(string text) => text.Trim().ToLowerInvariant() switch
    {
        "scalar" or "1" or "32" => SimdWidth.Scalar,
        "128" or "v128" or "sse" or "neon" => SimdWidth.V128,
        "256" or "v256" or "avx2" => SimdWidth.V256,
        "512" or "v512" or "avx512" or "avx-512" => SimdWidth.V512,
        _ => throw new ArgumentException($"a SIMD width is one of scalar, 128, 256 or 512, got '{text}'"),
    };

    /// <summary>"512-bit" and the like.</summary>
    public static string Describe(SimdWidth width) => width == SimdWidth.Scalar ? "scalar" : $"{(int)width * 32}-bit";

    /// <summary>True when this CPU can run kernels at <paramref name="width"/>: the runtime accelerates it, or (for
    /// Vector512) the CPU has AVX-512 even though the runtime prefers narrower vectors there.</summary>
    public static bool IsSupported(SimdWidth width) => width switch
    {
        SimdWidth.V512 => Vector512.IsHardwareAccelerated || Avx512F.IsSupported,
        SimdWidth.V256 => Vector256.IsHardwareAccelerated,
        SimdWidth.V128 => Vector128.IsHardwareAccelerated,
        _ => true,
    };

    /// <summary>Every width this CPU can run, narrowest first (Scalar included).</summary>
    public static IReadOnlyList<SimdWidth> Supported { get; } =
        new[] { SimdWidth.Scalar, SimdWidth.V128, SimdWidth.V256, SimdWidth.V512 }.Where(IsSupported).ToArray();

    /// <summary>How many of n elements a loop at <paramref name="width"/> covers in whole vectors; the scalar tail does the rest.</summary>
    public static int VectorPart(int n, SimdWidth width) => width == SimdWidth.Scalar ? 0 : n / (int)width * (int)width;
}
