using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace DistTrain.Engine.Kernels;

/// <summary>
/// Single-precision GEMM: C (M, N) = [C +] op(A) (M, K) · op(B) (K, N), all row-major.
/// <para>
/// The structure is Goto's: for each NC-wide column block and KC-deep slice of K, B is packed once into
/// NR-wide panels (k-major, so the micro-kernel reads NR contiguous floats per k), then each MC-tall block of A
/// is packed into MR-tall panels and swept by an MR × NR register tile. KC is chosen so that one B panel
/// (KC × NR) stays in L1 while the packed A block (MC × KC) lives in L2; both are chosen per width (<see cref="GemmTile"/>).
/// </para>
/// <para>
/// The register tile is chosen per width (<see cref="GemmTile"/>), so that accumulators, two B vectors and an A
/// broadcast fit that width's register file: 8 × 32 on AVX-512 (16 of 32 zmm), 6 × 16 on AVX2 (12 of 16 ymm),
/// 6 × 8 on SSE/NEON. Parallelism splits the MC blocks of A, and when there are fewer blocks than threads (the
/// 32-row recurrent steps) also the NR panels of B, across <see cref="Threading.Threads"/> workers that share one
/// packed B slice; every worker packs its own A block into a thread-local buffer. Every output element is written
/// by exactly one worker, in the same order of k, so any thread count gives the same bits.
/// </para>
/// </summary>
[SkipLocalsInit]
public static unsafe partial class Gemm
{
    internal const int KC = GemmTile.MaxKC; // the packing buffers' depth; each width slices K by its own tile's KC
    internal const int NC = 2048; // a multiple of every NR
    internal const int MaxMC = 128;

    [ThreadStatic] private static float* t_packA;
    [ThreadStatic] private static float* t_packB;
    private static long _flops;

    /// <summary>Floating-point operations (2·M·N·K per call) done by every GEMM in this process so far, for benchmarks.</summary>
    public static long FlopsDone => Interlocked.Read(ref _flops);

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
        Validate(c.Length, ldc, a.Length, lda, transA, m, n, k);
        Check("B", b.Length, ldb, transB ? n : k, transB ? k : n);
        width = Simd.Resolve(width);
        if (Trivial(c, ldc, m, n, k, accumulate)) return;
        fixed (float* pc = c)
        fixed (float* pa = a)
        fixed (float* pb = b)
        {
            Run(new Operands(pc, ldc, pa, lda, transA, pb, ldb, transB, m, n, k, GemmTile.For(width)), null, accumulate);
        }
    }

    /// <summary>
    /// Computes C = [C +] op(A) · B with B packed once by <see cref="GemmPackedB.Pack"/>: for a B that many products
    /// share, such as a recurrent kernel used at every time step. Runs at the width B was packed for.
    /// </summary>
    public static void Multiply(Span<float> c, int ldc, ReadOnlySpan<float> a, int lda, bool transA, GemmPackedB b, int m,
        bool accumulate)
    {
        int n = b.N, k = b.K;
        Validate(c.Length, ldc, a.Length, lda, transA, m, n, k);
        if (Trivial(c, ldc, m, n, k, accumulate)) return;
        fixed (float* pc = c)
        fixed (float* pa = a)
        {
            Run(new Operands(pc, ldc, pa, lda, transA, null, 0, false, m, n, k, b.Tile), b.Panels, accumulate);
        }
    }

    // M = 0, N = 0 or K = 0: nothing to multiply, and with K = 0 C becomes 0 unless accumulating.
    private static bool Trivial(Span<float> c, int ldc, int m, int n, int k, bool accumulate)
    {
        if (m == 0 || n == 0) return true;
        if (k != 0) return false;
        if (!accumulate)
            for (int i = 0; i < m; i++) c.Slice(i * ldc, n).Clear();
        return true;
    }

    private static void Validate(int cLen, int ldc, int aLen, int lda, bool transA, int m, int n, int k)
    {
        if (m < 0 || n < 0 || k < 0)
            throw new ArgumentException($"GEMM dimensions must be non-negative, got M={m}, N={n}, K={k}");
        Check("A", aLen, lda, transA ? k : m, transA ? m : k);
        Check("C", cLen, ldc, m, n);
    }

    internal static void Check(string name, int length, int ld, int rows, int cols)
    {
        if (ld < cols)
            throw new ArgumentException($"GEMM {name} is ({rows}, {cols}) but its leading dimension is {ld} < {cols}");
        if (rows > 0 && cols > 0 && (long)(rows - 1) * ld + cols > length)
            throw new ArgumentException(
                $"GEMM {name} is ({rows}, {cols}) with leading dimension {ld}, which needs {(long)(rows - 1) * ld + cols} floats, but it holds {length}");
    }

    /// <summary>Raw operands, passed by value so that parallel workers can share them.</summary>
    internal readonly struct Operands(float* c, int ldc, float* a, int lda, bool transA,
        float* b, int ldb, bool transB, int m, int n, int k, GemmTile tile)
    {
        public readonly float* C = c, A = a, B = b;
        public readonly int Ldc = ldc, Lda = lda, Ldb = ldb, M = m, N = n, K = k;
        public readonly bool TransA = transA, TransB = transB;
        public readonly GemmTile Tile = tile;
    }

    /// <summary>K is cut into equal slices of at most kc: K = 288 becomes 2 × 144 rather than 256 + a thin 32.</summary>
    internal static int SliceDepth(int k, int kc) => (k + (k + kc - 1) / kc - 1) / ((k + kc - 1) / kc);

    private static void Run(Operands o, float* prepacked, bool accumulate)
    {
        Interlocked.Add(ref _flops, 2L * o.M * o.N * o.K);
        int nr = o.Tile.NR, mc = o.Tile.MC;
        int sliceK = SliceDepth(o.K, o.Tile.KC), panelsN = (o.N + nr - 1) / nr;
        float* packB = prepacked != null ? null : t_packB != null ? t_packB : (t_packB = Alloc(KC * NC));
        // Blocks of equal height (a multiple of MR): M = 128 is two blocks of 66 and 62 rows, not 120 and a runt of 8,
        // which would leave one of two threads idle.
        int mBlocks = (o.M + mc - 1) / mc;
        int mr = o.Tile.MR, blockM = ((o.M + mBlocks - 1) / mBlocks + mr - 1) / mr * mr;
        mBlocks = (o.M + blockM - 1) / blockM;
        for (int jc = 0; jc < o.N; jc += NC)
        {
            int nc = Math.Min(NC, o.N - jc);
            for (int pc = 0; pc < o.K; pc += sliceK)
            {
                int kc = Math.Min(sliceK, o.K - pc);
                bool acc = accumulate || pc > 0;
                float* bp;
                if (prepacked != null) bp = prepacked + (long)pc * panelsN * nr + (long)(jc / nr) * kc * nr;
                else PackB(bp = packB, o, pc, jc, kc, nc, nr);
                // Fewer A blocks than threads: split B's panels too, so that every thread has work.
                int panels = (nc + nr - 1) / nr;
                int nSplits = Math.Min(panels, Math.Max(1, (Threading.Threads + mBlocks - 1) / mBlocks));
                int work = mBlocks * nSplits;
                var step = new Step(bp, jc, nc, pc, kc, acc, panels, nSplits, blockM);
                if (Threading.Threads == 1 || work == 1)
                    for (int w = 0; w < work; w++) Block(o, step, w);
                else
                    RunParallel(o, step, work);
            }
        }
    }

    /// <summary>One (jc, pc) step of the loop nest: the packed B slice and where it sits in C.</summary>
    private readonly struct Step(float* packB, int jc, int nc, int pc, int kc, bool acc, int panels, int nSplits, int blockM)
    {
        public readonly float* PackB = packB;
        public readonly int Jc = jc, Nc = nc, Pc = pc, Kc = kc, Panels = panels, NSplits = nSplits, BlockM = blockM;
        public readonly bool Acc = acc;
    }

    // Kept out of Run so that the closure is only allocated when more than one thread is used.
    private static void RunParallel(Operands o, Step step, int work) => Threading.For(work, w => Block(o, step, w));

    // Work item w: A block w / NSplits against its share w % NSplits of B's panels.
    private static void Block(Operands o, Step s, int w)
    {
        var tile = o.Tile;
        int mr = tile.MR, nr = tile.NR;
        int blk = w / s.NSplits, split = w % s.NSplits;
        int ic = blk * s.BlockM;
        int mc = Math.Min(s.BlockM, o.M - ic);
        int jrFrom = s.Panels * split / s.NSplits * nr, jrTo = Math.Min(s.Nc, s.Panels * (split + 1) / s.NSplits * nr);
        int kc = s.Kc, pc = s.Pc;
        // With a narrow B (N ≤ 4·NR, e.g. a convolution's 32 or 64 filters) each A element feeds only 2N flops,
        // so packing A would cost as much as the arithmetic: the micro-kernel then reads A in place through its
        // row and k strides. So it does for a short A (a recurrent step's 32 rows), whose rows stay in L1 across
        // B's panels anyway. Tall, wide products pack A into MR-tall panels for sequential access.
        bool pack = o.N > 4 * nr && o.M > 64;
        float* packA = null;
        if (pack)
        {
            packA = t_packA != null ? t_packA : (t_packA = Alloc(MaxMC * KC));
            PackA(packA, o, ic, pc, mc, kc, mr);
        }
        nint rs = pack ? 1 : o.TransA ? 1 : o.Lda, ks = pack ? mr : o.TransA ? o.Lda : 1;
        for (int jr = jrFrom; jr < jrTo; jr += nr)
        {
            int cols = Math.Min(nr, s.Nc - jr);
            float* bp = s.PackB + (jr / nr) * kc * nr;
            for (int ir = 0; ir < mc; ir += mr)
            {
                int rows = Math.Min(mr, mc - ir);
                float* ap = pack ? packA + ir * kc
                    : o.TransA ? o.A + (long)pc * o.Lda + ic + ir : o.A + (long)(ic + ir) * o.Lda + pc;
                float* cp = o.C + (long)(ic + ir) * o.Ldc + s.Jc + jr;
                var k = new MicroTile(kc, ap, rs, ks, bp, cp, o.Ldc, s.Acc, rows, cols);
                switch (tile.Width)
                {
                    case SimdWidth.V512: Kernel8x32(k); break;
                    case SimdWidth.V256: Kernel6x2<Ops256, Vector256<float>>(k); break;
                    case SimdWidth.V128: Kernel6x2<Ops128, Vector128<float>>(k); break;
                    default: KernelScalar(k, mr, nr); break;
                }
            }
        }
    }

    internal static float* Alloc(long floats) => (float*)NativeMemory.AlignedAlloc((nuint)floats * sizeof(float), 64);

    // packA: MR-tall panels, k-major: panel[p * MR + ii] = op(A)[ic + ir + ii, pc + p]; rows past M are zero.
    private static void PackA(float* dst, in Operands o, int ic, int pc, int mc, int kc, int mr)
    {
        for (int ir = 0; ir < mc; ir += mr)
        {
            int rows = Math.Min(mr, mc - ir);
            float* panel = dst + ir * kc;
            if (o.TransA)
            {
                // A is (K, M): the MR values of one k are contiguous.
                for (int p = 0; p < kc; p++)
                {
                    float* src = o.A + (long)(pc + p) * o.Lda + ic + ir;
                    float* d = panel + p * mr;
                    int ii = 0;
                    for (; ii < rows; ii++) d[ii] = src[ii];
                    for (; ii < mr; ii++) d[ii] = 0;
                }
            }
            else
            {
                for (int ii = 0; ii < mr; ii++)
                {
                    if (ii < rows)
                    {
                        float* src = o.A + (long)(ic + ir + ii) * o.Lda + pc;
                        for (int p = 0; p < kc; p++) panel[p * mr + ii] = src[p];
                    }
                    else
                    {
                        for (int p = 0; p < kc; p++) panel[p * mr + ii] = 0;
                    }
                }
            }
        }
    }

    // packB: NR-wide panels, k-major: panel[p * NR + jj] = op(B)[pc + p, jc + jr + jj]; columns past N are zero.
    internal static void PackB(float* dst, in Operands o, int pc, int jc, int kc, int nc, int nr)
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
                    // Inline: a library copy call per 64-byte row cost 8% of imdb-lstm's step.
                    int jj = 0;
                    for (; jj + 4 <= cols; jj += 4) Vector128.Load(src + jj).Store(d + jj);
                    for (; jj < cols; jj++) d[jj] = src[jj];
                    for (; jj < nr; jj++) d[jj] = 0;
                }
            }
        }
    }
}
