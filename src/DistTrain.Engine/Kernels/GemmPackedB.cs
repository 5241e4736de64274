namespace DistTrain.Engine.Kernels;

/// <summary>
/// The B operand of <see cref="Gemm"/> packed once, for a B that many products share before it changes: a recurrent
/// layer multiplies every time step's state by the same U_rec (a forward pass of 256 steps packed a 256 KiB matrix
/// 256 times). The layout is the one <see cref="Gemm"/> packs per call, for all of K and N at once: for each K slice,
/// the NR-wide panels of every column, each KC × NR, k-major. Repack with <see cref="Pack"/> whenever B changes.
/// </summary>
public sealed unsafe class GemmPackedB : IDisposable
{
    private float* _panels;
    private long _capacity;

    /// <summary>Rows of op(B).</summary>
    public int K { get; private set; }

    /// <summary>Columns of op(B).</summary>
    public int N { get; private set; }

    internal GemmTile Tile { get; private set; }
    internal float* Panels => _panels;

    /// <summary>Packs op(B) (K, N) for <see cref="Gemm.Multiply(Span{float}, int, ReadOnlySpan{float}, int, bool, GemmPackedB, int, bool)"/>.</summary>
    /// <param name="b">(K, N) with leading dimension ldb, or (N, K) when <paramref name="transB"/>.</param>
    public void Pack(ReadOnlySpan<float> b, int ldb, bool transB, int k, int n, SimdWidth width = default)
    {
        ObjectDisposedException.ThrowIf(_capacity < 0, this);
        if (k < 0 || n < 0) throw new ArgumentException($"GEMM dimensions must be non-negative, got N={n}, K={k}");
        Gemm.Check("B", b.Length, ldb, transB ? n : k, transB ? k : n);
        var tile = GemmTile.For(Simd.Resolve(width));
        int nr = tile.NR;
        long panelsN = (n + nr - 1) / nr, size = Math.Max(1, panelsN * nr * k);
        if (size > _capacity)
        {
            Free();
            _panels = Gemm.Alloc(size);
            _capacity = size;
        }
        K = k;
        N = n;
        Tile = tile;
        if (k == 0 || n == 0) return;
        fixed (float* pb = b)
        {
            var o = new Gemm.Operands(null, 0, null, 0, false, pb, ldb, transB, 0, n, k, tile);
            int sliceK = Gemm.SliceDepth(k, tile.KC);
            for (int pc = 0; pc < k; pc += sliceK)
                Gemm.PackB(_panels + pc * panelsN * nr, o, pc, 0, Math.Min(sliceK, k - pc), n, nr);
        }
    }

    private void Free()
    {
        if (_panels != null) System.Runtime.InteropServices.NativeMemory.AlignedFree(_panels);
        _panels = null;
    }

    public void Dispose()
    {
        Free();
        _capacity = -1;
        GC.SuppressFinalize(this);
    }

    ~GemmPackedB() => Free();
}
