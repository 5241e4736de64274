using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace DistTrain.Engine.Kernels;

/// <summary>
/// Measures this machine's fused multiply-add throughput: the ceiling every FLOP-bound kernel is judged against.
/// Each thread runs 12 independent FMA chains on registers only (12 covers the FMA latency × pipes of every
/// current x86 and Arm core, and with the two operands fits AVX2's 16 registers), so nothing but the FMA units
/// limits it. A figure below the vendor's peak means the clock is lower than its nominal value, or the core is shared.
/// </summary>
public static class FmaPeak
{
    private const int Chains = 12;

    /// <summary>GFLOP/s (2 per lane per FMA) at <paramref name="width"/> with <paramref name="threads"/> threads
    /// running at once; the best of <paramref name="rounds"/> rounds of about 0.2 s.</summary>
    public static double Measure(SimdWidth width, int threads = 1, int rounds = 3)
    {
        width = Simd.Resolve(width);
        if (threads < 1) throw new ArgumentOutOfRangeException(nameof(threads), threads, "threads must be at least 1");
        long iterations = 1 << 20;
        while (Time(width, 1, iterations) < 0.05) iterations *= 2; // calibrate one thread to about 0.2 s
        iterations *= 4;
        double best = 0;
        for (int r = 0; r < rounds; r++)
        {
            double seconds = Time(width, threads, iterations);
            best = Math.Max(best, threads * iterations * Chains * (int)width * 2.0 / seconds / 1e9);
        }
        return best;
    }

    // Wall time for `threads` threads to each run `iterations` rounds of the chains, started together.
    private static double Time(SimdWidth width, int threads, long iterations)
    {
        using var start = new Barrier(threads + 1);
        var workers = Enumerable.Range(0, threads).Select(_ => new Thread(() =>
        {
            start.SignalAndWait();
            Run(width, iterations);
        })).ToArray();
        foreach (var w in workers) w.Start();
        start.SignalAndWait();
        var clock = Stopwatch.StartNew();
        foreach (var w in workers) w.Join();
        return clock.Elapsed.TotalSeconds;
    }

    private static float Run(SimdWidth width, long iterations) => width switch
    {
        SimdWidth.V512 => Vector512.Sum(Chain<Ops512, Vector512<float>>(iterations)),
        SimdWidth.V256 => Vector256.Sum(Chain<Ops256, Vector256<float>>(iterations)),
        SimdWidth.V128 => Vector128.Sum(Chain<Ops128, Vector128<float>>(iterations)),
        _ => Chain<Ops1, float>(iterations),
    };

    // c ← c·a + b on 12 independent accumulators; a ≈ 1 and b tiny keep the values finite and normal.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static TV Chain<W, TV>(long iterations) where W : IVectorOps<TV> where TV : struct
    {
        TV a = W.Splat(0.9999999f), b = W.Splat(1e-7f);
        TV c0 = W.Splat(1f), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
        for (long i = 0; i < iterations; i++)
        {
            c0 = W.Fma(c0, a, b); c1 = W.Fma(c1, a, b); c2 = W.Fma(c2, a, b); c3 = W.Fma(c3, a, b);
            c4 = W.Fma(c4, a, b); c5 = W.Fma(c5, a, b); c6 = W.Fma(c6, a, b); c7 = W.Fma(c7, a, b);
            c8 = W.Fma(c8, a, b); c9 = W.Fma(c9, a, b); c10 = W.Fma(c10, a, b); c11 = W.Fma(c11, a, b);
        }
        return W.Add(W.Add(W.Add(c0, c1), W.Add(c2, c3)), W.Add(W.Add(W.Add(c4, c5), W.Add(c6, c7)), W.Add(W.Add(c8, c9), W.Add(c10, c11))));
    }
}
