using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace DistTrain.Engine.Kernels;

// The micro-kernels: c (rows ≤ MR, cols ≤ NR) [+]= Σ_p a[i·rs + p·ks] · b[p·NR + j]. Packed A has rs = 1, ks = MR.
// Rows past `rows` re-read the last real row, so an in-place A is never read out of bounds; their results are
// dropped. Full tiles are stored straight from the registers; edge tiles go through a staging tile.
public static unsafe partial class Gemm
{
    /// <summary>One micro-kernel call's operands.</summary>
    private readonly struct MicroTile(int kc, float* a, nint rs, nint ks, float* b, float* c, int ldc, bool acc, int rows, int cols)
    {
        public readonly float* A = a, B = b, C = c;
        public readonly nint Rs = rs, Ks = ks;
        public readonly int Kc = kc, Ldc = ldc, Rows = rows, Cols = cols;
        public readonly bool Acc = acc;

        /// <summary>Row i's A pointer, clamped to the last real row.</summary>
        public float* Row(int i) => A + Math.Min(i, Rows - 1) * Rs;
    }

    // AVX-512: 8 × 32, 16 zmm accumulators.
    private static void Kernel8x32(in MicroTile t)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default,
            c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default,
            c60 = default, c61 = default, c70 = default, c71 = default;
        float* a0 = t.Row(0), a1 = t.Row(1), a2 = t.Row(2), a3 = t.Row(3), a4 = t.Row(4), a5 = t.Row(5), a6 = t.Row(6), a7 = t.Row(7);
        float* b = t.B;
        nint off = 0, ks = t.Ks;
        for (int p = 0; p < t.Kc; p++)
        {
            var b0 = Vector512.LoadAligned(b);
            var b1 = Vector512.LoadAligned(b + 16);
            var av = Vector512.Create(a0[off]); c00 = Vector512.FusedMultiplyAdd(av, b0, c00); c01 = Vector512.FusedMultiplyAdd(av, b1, c01);
            av = Vector512.Create(a1[off]); c10 = Vector512.FusedMultiplyAdd(av, b0, c10); c11 = Vector512.FusedMultiplyAdd(av, b1, c11);
            av = Vector512.Create(a2[off]); c20 = Vector512.FusedMultiplyAdd(av, b0, c20); c21 = Vector512.FusedMultiplyAdd(av, b1, c21);
            av = Vector512.Create(a3[off]); c30 = Vector512.FusedMultiplyAdd(av, b0, c30); c31 = Vector512.FusedMultiplyAdd(av, b1, c31);
            av = Vector512.Create(a4[off]); c40 = Vector512.FusedMultiplyAdd(av, b0, c40); c41 = Vector512.FusedMultiplyAdd(av, b1, c41);
            av = Vector512.Create(a5[off]); c50 = Vector512.FusedMultiplyAdd(av, b0, c50); c51 = Vector512.FusedMultiplyAdd(av, b1, c51);
            av = Vector512.Create(a6[off]); c60 = Vector512.FusedMultiplyAdd(av, b0, c60); c61 = Vector512.FusedMultiplyAdd(av, b1, c61);
            av = Vector512.Create(a7[off]); c70 = Vector512.FusedMultiplyAdd(av, b0, c70); c71 = Vector512.FusedMultiplyAdd(av, b1, c71);
            off += ks;
            b += 32;
        }
        if (t.Rows == 8 && t.Cols == 32)
        {
            float* c = t.C;
            int ldc = t.Ldc;
            StorePair<Ops512, Vector512<float>>(c, t.Acc, c00, c01); StorePair<Ops512, Vector512<float>>(c + ldc, t.Acc, c10, c11);
            StorePair<Ops512, Vector512<float>>(c + 2 * ldc, t.Acc, c20, c21); StorePair<Ops512, Vector512<float>>(c + 3 * ldc, t.Acc, c30, c31);
            StorePair<Ops512, Vector512<float>>(c + 4 * ldc, t.Acc, c40, c41); StorePair<Ops512, Vector512<float>>(c + 5 * ldc, t.Acc, c50, c51);
            StorePair<Ops512, Vector512<float>>(c + 6 * ldc, t.Acc, c60, c61); StorePair<Ops512, Vector512<float>>(c + 7 * ldc, t.Acc, c70, c71);
            return;
        }
        float* s = stackalloc float[8 * 32];
        c00.Store(s); c01.Store(s + 16); c10.Store(s + 32); c11.Store(s + 48);
        c20.Store(s + 64); c21.Store(s + 80); c30.Store(s + 96); c31.Store(s + 112);
        c40.Store(s + 128); c41.Store(s + 144); c50.Store(s + 160); c51.Store(s + 176);
        c60.Store(s + 192); c61.Store(s + 208); c70.Store(s + 224); c71.Store(s + 240);
        StoreEdge(s, 32, t);
    }

    // AVX2 (W = Ops256) and SSE/NEON (W = Ops128): 6 rows × 2 vectors, 12 accumulators.
    private static void Kernel6x2<W, TV>(in MicroTile t) where W : IVectorOps<TV> where TV : struct
    {
        int n = W.Count;
        TV c00 = W.Splat(0f), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00, c40 = c00, c41 = c00,
            c50 = c00, c51 = c00;
        float* a0 = t.Row(0), a1 = t.Row(1), a2 = t.Row(2), a3 = t.Row(3), a4 = t.Row(4), a5 = t.Row(5);
        float* b = t.B;
        nint off = 0, ks = t.Ks;
        for (int p = 0; p < t.Kc; p++)
        {
            var b0 = W.Load(b);
            var b1 = W.Load(b + n);
            var av = W.Splat(a0[off]); c00 = W.Fma(av, b0, c00); c01 = W.Fma(av, b1, c01);
            av = W.Splat(a1[off]); c10 = W.Fma(av, b0, c10); c11 = W.Fma(av, b1, c11);
            av = W.Splat(a2[off]); c20 = W.Fma(av, b0, c20); c21 = W.Fma(av, b1, c21);
            av = W.Splat(a3[off]); c30 = W.Fma(av, b0, c30); c31 = W.Fma(av, b1, c31);
            av = W.Splat(a4[off]); c40 = W.Fma(av, b0, c40); c41 = W.Fma(av, b1, c41);
            av = W.Splat(a5[off]); c50 = W.Fma(av, b0, c50); c51 = W.Fma(av, b1, c51);
            off += ks;
            b += 2 * n;
        }
        if (t.Rows == 6 && t.Cols == 2 * n)
        {
            float* c = t.C;
            int ldc = t.Ldc;
            StorePair<W, TV>(c, t.Acc, c00, c01); StorePair<W, TV>(c + ldc, t.Acc, c10, c11);
            StorePair<W, TV>(c + 2 * ldc, t.Acc, c20, c21); StorePair<W, TV>(c + 3 * ldc, t.Acc, c30, c31);
            StorePair<W, TV>(c + 4 * ldc, t.Acc, c40, c41); StorePair<W, TV>(c + 5 * ldc, t.Acc, c50, c51);
            return;
        }
        float* s = stackalloc float[6 * 2 * 8];
        int ld = 2 * n;
        W.Store(c00, s); W.Store(c01, s + n); W.Store(c10, s + ld); W.Store(c11, s + ld + n);
        W.Store(c20, s + 2 * ld); W.Store(c21, s + 2 * ld + n); W.Store(c30, s + 3 * ld); W.Store(c31, s + 3 * ld + n);
        W.Store(c40, s + 4 * ld); W.Store(c41, s + 4 * ld + n); W.Store(c50, s + 5 * ld); W.Store(c51, s + 5 * ld + n);
        StoreEdge(s, ld, t);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StorePair<W, TV>(float* c, bool acc, TV lo, TV hi) where W : IVectorOps<TV> where TV : struct
    {
        if (acc)
        {
            lo = W.Add(lo, W.Load(c));
            hi = W.Add(hi, W.Load(c + W.Count));
        }
        W.Store(lo, c);
        W.Store(hi, c + W.Count);
    }

    // Scalar: an MR × NR tile in memory, one FMA at a time.
    private static void KernelScalar(in MicroTile t, int mr, int nr)
    {
        float* s = stackalloc float[mr * nr];
        new Span<float>(s, mr * nr).Clear();
        float* b = t.B;
        for (int p = 0; p < t.Kc; p++)
        {
            for (int i = 0; i < t.Rows; i++)
            {
                float av = t.A[i * t.Rs + p * t.Ks];
                for (int j = 0; j < nr; j++) s[i * nr + j] = MathF.FusedMultiplyAdd(av, b[j], s[i * nr + j]);
            }
            b += nr;
        }
        StoreEdge(s, nr, t);
    }

    // Writes the valid rows × cols corner of a staged tile (row stride tileLd) into C.
    private static void StoreEdge(float* tile, int tileLd, in MicroTile t)
    {
        for (int i = 0; i < t.Rows; i++)
        {
            float* src = tile + i * tileLd;
            float* dst = t.C + (long)i * t.Ldc;
            if (t.Acc) for (int j = 0; j < t.Cols; j++) dst[j] += src[j];
            else for (int j = 0; j < t.Cols; j++) dst[j] = src[j];
        }
    }
}
