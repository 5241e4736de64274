using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace DistTrain.Engine.Kernels;

/// <summary>
/// Single-precision GEMM: C (M, N) = [C +] op(A) (M, K) · op(B) (K, N), all row-major.
/// <para>
/// The structure is Goto's: for each NC-wide column block and KC-deep slice of K, B is packed once into
/// NR-wide panels (k-major, so the micro-kernel reads NR contiguous floats per k), then each MC-tall block of A
/// is packed into MR-tall panels and swept by an MR × NR register tile. KC is chosen so that one A panel
/// (MR × KC) plus one B panel (KC × NR) stay in L1 while the packed A block lives in L2.
/// </para>
/// <para>
/// The micro-kernel is written once per vector width: with Vector512 the tile is 8 × 32 = 16 zmm accumulators,
/// which keeps both FMA pipes busy through the 4-cycle FMA latency. Narrower widths keep the same 8-row tile
/// with NR = 2 vectors. Parallelism splits the MC blocks of A across <see cref="Threading.Threads"/> workers that
/// share one packed B slice; every worker packs its own A block into a thread-local buffer.
/// </para>
/// </summary>
[SkipLocalsInit]
public static unsafe class Gemm
{
    internal const int MR = 8;
    internal const int KC = 256;
    internal const int MC = 128;  // a multiple of MR
    internal const int NC = 2048; // a multiple of every NR

    [ThreadStatic] private static float* t_packA;
    [ThreadStatic] private static float* t_packB;

    /// <summary>
    /// Computes C = [C +] op(A) · op(B). Effectively C[i,j] = (accumulate ? C[i,j] : 0) + Σ_k op(A)[i,k]·op(B)[k,j].
    /// </summary>
    /// <param name="c">(M, N), leading dimension <paramref name="ldc"/>.</param>
    /// <param name="a">(M, K) with leading dimension lda, or (K, M) when <paramref name="transA"/>.</param>
    /// <param name="b">(K, N) with leading dimension ldb, or (N, K) when <paramref name="transB"/>.</param>
    /// <param name="width">The vector width to run at; default picks the widest the CPU has.</param>
    public static void Multiply(Span<float> c, int ldc, ReadOnlySpan<float> a, int lda, bool transA,
        ReadOnlySpan<float> b, int ldb, bool transB, int m, int n, int k, bool accumulate,
        SimdWidth width = default)
    {
        Validate(c.Length, ldc, a.Length, lda, transA, b.Length, ldb, transB, m, n, k);
        if (width == default) width = Simd.Best;
        if (!Simd.IsSupported(width))
            throw new PlatformNotSupportedException($"this CPU does not accelerate {width} vectors");
        if (m == 0 || n == 0) return;
        if (k == 0)
        {
            if (!accumulate)
                for (int i = 0; i < m; i++) c.Slice(i * ldc, n).Clear();
            return;
        }
        fixed (float* pc = c)
        fixed (float* pa = a)
        fixed (float* pb = b)
        {
            Run(new Operands(pc, ldc, pa, lda, transA, pb, ldb, transB, m, n, k, width), accumulate);
        }
    }

    private static void Validate(int cLen, int ldc, int aLen, int lda, bool transA, int bLen, int ldb, bool transB,
        int m, int n, int k)
    {
        if (m < 0 || n < 0 || k < 0)
            throw new ArgumentException($"GEMM dimensions must be non-negative, got M={m}, N={n}, K={k}");
        int aRows = transA ? k : m, aCols = transA ? m : k;
        int bRows = transB ? n : k, bCols = transB ? k : n;
        Check("A", aLen, lda, aRows, aCols);
        Check("B", bLen, ldb, bRows, bCols);
        Check("C", cLen, ldc, m, n);

        static void Check(string name, int length, int ld, int rows, int cols)
        {
            if (ld < cols)
                throw new ArgumentException($"GEMM {name} is ({rows}, {cols}) but its leading dimension is {ld} < {cols}");
            if (rows > 0 && cols > 0 && (long)(rows - 1) * ld + cols > length)
                throw new ArgumentException(
                    $"GEMM {name} is ({rows}, {cols}) with leading dimension {ld}, which needs {(long)(rows - 1) * ld + cols} floats, but it holds {length}");
        }
    }

    /// <summary>Raw operands, passed by value so that parallel workers can share them.</summary>
    private readonly struct Operands(float* c, int ldc, float* a, int lda, bool transA,
        float* b, int ldb, bool transB, int m, int n, int k, SimdWidth width)
    {
        public readonly float* C = c, A = a, B = b;
        public readonly int Ldc = ldc, Lda = lda, Ldb = ldb, M = m, N = n, K = k;
        public readonly bool TransA = transA, TransB = transB;
        public readonly SimdWidth Width = width;
        public int NR => Width == SimdWidth.Scalar ? 8 : 2 * (int)Width;
    }

    private static void Run(Operands o, bool accumulate)
    {
        int nr = o.NR;
        float* packB = t_packB != null ? t_packB : (t_packB = Alloc(KC * NC));
        int mBlocks = (o.M + MC - 1) / MC;
        for (int jc = 0; jc < o.N; jc += NC)
        {
            int nc = Math.Min(NC, o.N - jc);
            // Equal K slices of at most KC: K = 288 becomes 2 × 144 rather than 256 + a thin 32.
            int slices = (o.K + KC - 1) / KC, sliceK = (o.K + slices - 1) / slices;
            for (int pc = 0; pc < o.K; pc += sliceK)
            {
                int kc = Math.Min(sliceK, o.K - pc);
                bool acc = accumulate || pc > 0;
                PackB(packB, o, pc, jc, kc, nc, nr);
                if (Threading.Threads == 1 || mBlocks == 1)
                    for (int blk = 0; blk < mBlocks; blk++) Block(o, packB, blk, jc, nc, pc, kc, acc);
                else
                    RunParallel(o, packB, mBlocks, jc, nc, pc, kc, acc);
            }
        }
    }

    // Kept out of Run so that the closure is only allocated when more than one thread is used.
    private static void RunParallel(Operands o, float* packB, int mBlocks, int jc, int nc, int pc, int kc, bool acc)
    {
        nint pb = (nint)packB;
        Threading.For(mBlocks, blk => Block(o, (float*)pb, blk, jc, nc, pc, kc, acc));
    }

    private static void Block(Operands o, float* packB, int blk, int jc, int nc, int pc, int kc, bool acc)
    {
        int ic = blk * MC;
        int mc = Math.Min(MC, o.M - ic);
        int nr = o.NR;
        // With a narrow B (N ≤ 4·NR, e.g. a convolution's 32 or 64 filters) each A element feeds only 2N flops,
        // so packing A would cost as much as the arithmetic: the micro-kernel then reads A in place through its
        // row and k strides. Wide products pack A into MR-tall panels for sequential access.
        bool pack = o.N > 4 * nr;
        float* packA = null;
        if (pack)
        {
            packA = t_packA != null ? t_packA : (t_packA = Alloc(MC * KC));
            PackA(packA, o, ic, pc, mc, kc);
        }
        nint rs = pack ? 1 : o.TransA ? 1 : o.Lda, ks = pack ? MR : o.TransA ? o.Lda : 1;
        for (int jr = 0; jr < nc; jr += nr)
        {
            int cols = Math.Min(nr, nc - jr);
            float* bp = packB + (jr / nr) * kc * nr;
            for (int ir = 0; ir < mc; ir += MR)
            {
                int rows = Math.Min(MR, mc - ir);
                float* ap = pack ? packA + ir * kc
                    : o.TransA ? o.A + (long)pc * o.Lda + ic + ir : o.A + (long)(ic + ir) * o.Lda + pc;
                float* cp = o.C + (long)(ic + ir) * o.Ldc + jc + jr;
                switch (o.Width)
                {
                    case SimdWidth.V512: Kernel512(kc, ap, rs, ks, bp, cp, o.Ldc, acc, rows, cols); break;
                    case SimdWidth.V256: Kernel256(kc, ap, rs, ks, bp, cp, o.Ldc, acc, rows, cols); break;
                    case SimdWidth.V128: Kernel128(kc, ap, rs, ks, bp, cp, o.Ldc, acc, rows, cols); break;
                    default: KernelScalar(kc, ap, rs, ks, bp, cp, o.Ldc, acc, rows, cols, nr); break;
                }
            }
        }
    }

    private static float* Alloc(int floats) => (float*)NativeMemory.AlignedAlloc((nuint)floats * sizeof(float), 64);

    // packA: MR-tall panels, k-major: panel[p * MR + ii] = op(A)[ic + ir + ii, pc + p]; rows past M are zero.
    private static void PackA(float* dst, in Operands o, int ic, int pc, int mc, int kc)
    {
        for (int ir = 0; ir < mc; ir += MR)
        {
            int rows = Math.Min(MR, mc - ir);
            float* panel = dst + ir * kc;
            if (o.TransA)
            {
                // A is (K, M): the MR values of one k are contiguous.
                for (int p = 0; p < kc; p++)
                {
                    float* src = o.A + (long)(pc + p) * o.Lda + ic + ir;
                    float* d = panel + p * MR;
                    int ii = 0;
                    for (; ii < rows; ii++) d[ii] = src[ii];
                    for (; ii < MR; ii++) d[ii] = 0;
                }
            }
            else
            {
                for (int ii = 0; ii < MR; ii++)
                {
                    if (ii < rows)
                    {
                        float* src = o.A + (long)(ic + ir + ii) * o.Lda + pc;
                        for (int p = 0; p < kc; p++) panel[p * MR + ii] = src[p];
                    }
                    else
                    {
                        for (int p = 0; p < kc; p++) panel[p * MR + ii] = 0;
                    }
                }
            }
        }
    }

    // packB: NR-wide panels, k-major: panel[p * NR + jj] = op(B)[pc + p, jc + jr + jj]; columns past N are zero.
    private static void PackB(float* dst, in Operands o, int pc, int jc, int kc, int nc, int nr)
    {
        for (int jr = 0; jr < nc; jr += nr)
        {
            int cols = Math.Min(nr, nc - jr);
            float* panel = dst + (jr / nr) * kc * nr;
            if (o.TransB)
            {
                // B is (N, K): each column of op(B) is a contiguous row of B.
                for (int jj = 0; jj < nr; jj++)
                {
                    if (jj < cols)
                    {
                        float* src = o.B + (long)(jc + jr + jj) * o.Ldb + pc;
                        for (int p = 0; p < kc; p++) panel[p * nr + jj] = src[p];
                    }
                    else
                    {
                        for (int p = 0; p < kc; p++) panel[p * nr + jj] = 0;
                    }
                }
            }
            else
            {
                for (int p = 0; p < kc; p++)
                {
                    float* src = o.B + (long)(pc + p) * o.Ldb + jc + jr;
                    float* d = panel + p * nr;
                    Buffer.MemoryCopy(src, d, cols * sizeof(float), cols * sizeof(float));
                    for (int jj = cols; jj < nr; jj++) d[jj] = 0;
                }
            }
        }
    }

    // Micro-kernels: c (rows ≤ 8, cols ≤ NR) [+]= Σ_p a[i·rs + p·ks] · b[p·NR + j]. Packed A has rs = 1, ks = MR.
    // Rows past `rows` re-read the last real row, so an in-place A is never read out of bounds.

    private static void Kernel512(int kc, float* a, nint rs, nint ks, float* b, float* c, int ldc, bool acc, int rows, int cols)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default,
            c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default,
            c60 = default, c61 = default, c70 = default, c71 = default;
        nint r = rows - 1;
        float* a0 = a, a1 = a + Math.Min(1, r) * rs, a2 = a + Math.Min(2, r) * rs, a3 = a + Math.Min(3, r) * rs,
            a4 = a + Math.Min(4, r) * rs, a5 = a + Math.Min(5, r) * rs, a6 = a + Math.Min(6, r) * rs, a7 = a + Math.Min(7, r) * rs;
        nint off = 0;
        for (int p = 0; p < kc; p++)
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
        if (rows == 8 && cols == 32)
        {
            Store512(c, acc, c00, c01); Store512(c + ldc, acc, c10, c11);
            Store512(c + 2 * ldc, acc, c20, c21); Store512(c + 3 * ldc, acc, c30, c31);
            Store512(c + 4 * ldc, acc, c40, c41); Store512(c + 5 * ldc, acc, c50, c51);
            Store512(c + 6 * ldc, acc, c60, c61); Store512(c + 7 * ldc, acc, c70, c71);
            return;
        }
        float* t = stackalloc float[8 * 32];
        c00.Store(t); c01.Store(t + 16); c10.Store(t + 32); c11.Store(t + 48);
        c20.Store(t + 64); c21.Store(t + 80); c30.Store(t + 96); c31.Store(t + 112);
        c40.Store(t + 128); c41.Store(t + 144); c50.Store(t + 160); c51.Store(t + 176);
        c60.Store(t + 192); c61.Store(t + 208); c70.Store(t + 224); c71.Store(t + 240);
        StoreEdge(t, 32, c, ldc, acc, rows, cols);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store512(float* c, bool acc, Vector512<float> lo, Vector512<float> hi)
    {
        if (acc)
        {
            lo += Vector512.Load(c);
            hi += Vector512.Load(c + 16);
        }
        lo.Store(c);
        hi.Store(c + 16);
    }

    private static void Kernel256(int kc, float* a, nint rs, nint ks, float* b, float* c, int ldc, bool acc, int rows, int cols)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default,
            c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default,
            c60 = default, c61 = default, c70 = default, c71 = default;
        nint r = rows - 1;
        float* a0 = a, a1 = a + Math.Min(1, r) * rs, a2 = a + Math.Min(2, r) * rs, a3 = a + Math.Min(3, r) * rs,
            a4 = a + Math.Min(4, r) * rs, a5 = a + Math.Min(5, r) * rs, a6 = a + Math.Min(6, r) * rs, a7 = a + Math.Min(7, r) * rs;
        nint off = 0;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector256.Load(b);
            var b1 = Vector256.Load(b + 8);
            var av = Vector256.Create(a0[off]); c00 = Vector256.FusedMultiplyAdd(av, b0, c00); c01 = Vector256.FusedMultiplyAdd(av, b1, c01);
            av = Vector256.Create(a1[off]); c10 = Vector256.FusedMultiplyAdd(av, b0, c10); c11 = Vector256.FusedMultiplyAdd(av, b1, c11);
            av = Vector256.Create(a2[off]); c20 = Vector256.FusedMultiplyAdd(av, b0, c20); c21 = Vector256.FusedMultiplyAdd(av, b1, c21);
            av = Vector256.Create(a3[off]); c30 = Vector256.FusedMultiplyAdd(av, b0, c30); c31 = Vector256.FusedMultiplyAdd(av, b1, c31);
            av = Vector256.Create(a4[off]); c40 = Vector256.FusedMultiplyAdd(av, b0, c40); c41 = Vector256.FusedMultiplyAdd(av, b1, c41);
            av = Vector256.Create(a5[off]); c50 = Vector256.FusedMultiplyAdd(av, b0, c50); c51 = Vector256.FusedMultiplyAdd(av, b1, c51);
            av = Vector256.Create(a6[off]); c60 = Vector256.FusedMultiplyAdd(av, b0, c60); c61 = Vector256.FusedMultiplyAdd(av, b1, c61);
            av = Vector256.Create(a7[off]); c70 = Vector256.FusedMultiplyAdd(av, b0, c70); c71 = Vector256.FusedMultiplyAdd(av, b1, c71);
            off += ks;
            b += 16;
        }
        float* t = stackalloc float[8 * 16];
        c00.Store(t); c01.Store(t + 8); c10.Store(t + 16); c11.Store(t + 24);
        c20.Store(t + 32); c21.Store(t + 40); c30.Store(t + 48); c31.Store(t + 56);
        c40.Store(t + 64); c41.Store(t + 72); c50.Store(t + 80); c51.Store(t + 88);
        c60.Store(t + 96); c61.Store(t + 104); c70.Store(t + 112); c71.Store(t + 120);
        StoreEdge(t, 16, c, ldc, acc, rows, cols);
    }

    private static void Kernel128(int kc, float* a, nint rs, nint ks, float* b, float* c, int ldc, bool acc, int rows, int cols)
    {
        Vector128<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default,
            c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default,
            c60 = default, c61 = default, c70 = default, c71 = default;
        nint r = rows - 1;
        float* a0 = a, a1 = a + Math.Min(1, r) * rs, a2 = a + Math.Min(2, r) * rs, a3 = a + Math.Min(3, r) * rs,
            a4 = a + Math.Min(4, r) * rs, a5 = a + Math.Min(5, r) * rs, a6 = a + Math.Min(6, r) * rs, a7 = a + Math.Min(7, r) * rs;
        nint off = 0;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector128.Load(b);
            var b1 = Vector128.Load(b + 4);
            var av = Vector128.Create(a0[off]); c00 = Vector128.FusedMultiplyAdd(av, b0, c00); c01 = Vector128.FusedMultiplyAdd(av, b1, c01);
            av = Vector128.Create(a1[off]); c10 = Vector128.FusedMultiplyAdd(av, b0, c10); c11 = Vector128.FusedMultiplyAdd(av, b1, c11);
            av = Vector128.Create(a2[off]); c20 = Vector128.FusedMultiplyAdd(av, b0, c20); c21 = Vector128.FusedMultiplyAdd(av, b1, c21);
            av = Vector128.Create(a3[off]); c30 = Vector128.FusedMultiplyAdd(av, b0, c30); c31 = Vector128.FusedMultiplyAdd(av, b1, c31);
            av = Vector128.Create(a4[off]); c40 = Vector128.FusedMultiplyAdd(av, b0, c40); c41 = Vector128.FusedMultiplyAdd(av, b1, c41);
            av = Vector128.Create(a5[off]); c50 = Vector128.FusedMultiplyAdd(av, b0, c50); c51 = Vector128.FusedMultiplyAdd(av, b1, c51);
            av = Vector128.Create(a6[off]); c60 = Vector128.FusedMultiplyAdd(av, b0, c60); c61 = Vector128.FusedMultiplyAdd(av, b1, c61);
            av = Vector128.Create(a7[off]); c70 = Vector128.FusedMultiplyAdd(av, b0, c70); c71 = Vector128.FusedMultiplyAdd(av, b1, c71);
            off += ks;
            b += 8;
        }
        float* t = stackalloc float[8 * 8];
        c00.Store(t); c01.Store(t + 4); c10.Store(t + 8); c11.Store(t + 12);
        c20.Store(t + 16); c21.Store(t + 20); c30.Store(t + 24); c31.Store(t + 28);
        c40.Store(t + 32); c41.Store(t + 36); c50.Store(t + 40); c51.Store(t + 44);
        c60.Store(t + 48); c61.Store(t + 52); c70.Store(t + 56); c71.Store(t + 60);
        StoreEdge(t, 8, c, ldc, acc, rows, cols);
    }

    private static void KernelScalar(int kc, float* a, nint rs, nint ks, float* b, float* c, int ldc, bool acc, int rows, int cols, int nr)
    {
        float* t = stackalloc float[MR * nr];
        new Span<float>(t, MR * nr).Clear();
        for (int p = 0; p < kc; p++)
        {
            for (int i = 0; i < rows; i++)
            {
                float av = a[i * rs + p * ks];
                for (int j = 0; j < nr; j++) t[i * nr + j] = MathF.FusedMultiplyAdd(av, b[j], t[i * nr + j]);
            }
            b += nr;
        }
        StoreEdge(t, nr, c, ldc, acc, rows, cols);
    }

    // Writes the valid rows × cols corner of a staged tile (row stride tileLd) into C.
    private static void StoreEdge(float* tile, int tileLd, float* c, int ldc, bool acc, int rows, int cols)
    {
        for (int i = 0; i < rows; i++)
        {
            float* src = tile + i * tileLd;
            float* dst = c + (long)i * ldc;
            if (acc) for (int j = 0; j < cols; j++) dst[j] += src[j];
            else for (int j = 0; j < cols; j++) dst[j] = src[j];
        }
    }
}
