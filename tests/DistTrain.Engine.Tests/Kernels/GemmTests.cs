using DistTrain.Engine.Kernels;

namespace DistTrain.Engine.Tests.Kernels;

/// <summary>The packed SGEMM against the double-precision triple loop, at every width, transpose and edge size.</summary>
[Collection(EngineGlobals.Name)]
public class GemmTests
{
    public static IEnumerable<object[]> Widths() =>
        new[] { SimdWidth.Scalar, SimdWidth.V128, SimdWidth.V256, SimdWidth.V512 }.Where(Simd.IsSupported).Select(w => new object[] { w });

    private static void Check(int m, int n, int k, bool ta, bool tb, bool acc, SimdWidth width, int padA = 0, int padB = 0, int padC = 0)
    {
        int lda = (ta ? m : k) + padA, ldb = (tb ? k : n) + padB, ldc = n + padC;
        var a = TestData.Uniform(Math.Max(1, (ta ? k : m) * lda), 1);
        var b = TestData.Uniform(Math.Max(1, (tb ? n : k) * ldb), 2);
        var c = TestData.Uniform(Math.Max(1, m * ldc), 3);
        var expected = (float[])c.Clone();
        GemmReference.Multiply(expected, ldc, a, lda, ta, b, ldb, tb, m, n, k, acc);
        Gemm.Multiply(c, ldc, a, lda, ta, b, ldb, tb, m, n, k, acc, width);
        // Float accumulation over k terms of magnitude ≤ 1: error grows like √k·ε; 1e-5·k is a loose, safe bound.
        TestData.AssertClose(expected, c, 1e-5 * Math.Max(k, 1), 1e-5, $"{m}x{n}x{k} ta={ta} tb={tb} acc={acc} {width}");
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void Matches_reference_at_edge_sizes(SimdWidth width)
    {
        foreach (int m in new[] { 0, 1, 7, 8, 9, 17 })
        foreach (int n in new[] { 1, 15, 16, 17, 33, 65 })
        foreach (int k in new[] { 0, 1, 9, 64 })
            Check(m, n, k, false, false, false, width);
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void Matches_reference_for_every_transpose_and_accumulate(SimdWidth width)
    {
        foreach (bool ta in new[] { false, true })
        foreach (bool tb in new[] { false, true })
        foreach (bool acc in new[] { false, true })
            Check(37, 45, 29, ta, tb, acc, width, padA: 3, padB: 2, padC: 5);
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void Matches_reference_across_block_boundaries(SimdWidth width)
    {
        // K > KC and M > MC exercise the k-slice accumulation and several A blocks; N > 2·NR several B panels.
        Check(Gemm.MaxMC + 9, 2 * 32 + 7, Gemm.KC + 13, false, false, false, width);
        Check(Gemm.MaxMC + 9, 2 * 32 + 7, Gemm.KC + 13, true, true, true, width);
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void Packed_and_in_place_a_paths_both_match_reference(SimdWidth width)
    {
        // N above 4·NR packs A into panels; at or below it the micro-kernel reads A in place. Cover both, both layouts.
        foreach (int n in new[] { 24, 131, 160 })
        foreach (bool ta in new[] { false, true })
            Check(21, n, 37, ta, false, true, width, padA: 1);
    }

    [Fact]
    public void Large_prime_sizes_match_reference()
    {
        Check(513, 65, 257, false, false, false, Simd.Best);
        Check(131, 127, 521, true, false, true, Simd.Best);
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void Packed_b_gives_the_same_bits_as_packing_per_call(SimdWidth width)
    {
        // K over KC (several slices), N over NC (several column blocks) and edges of every NR; both layouts of B.
        foreach (var (m, n, k) in new[] { (7, 33, 9), (32, 512, 128), (13, Gemm.NC + 37, Gemm.KC + 45), (130, 70, 600) })
        foreach (bool tb in new[] { false, true })
        {
            var a = TestData.Uniform(m * k, 1);
            var b = TestData.Uniform(k * n, 2);
            var expected = TestData.Uniform(m * n, 3);
            var actual = (float[])expected.Clone();
            Gemm.Multiply(expected, n, a, k, false, b, tb ? k : n, tb, m, n, k, accumulate: true, width);
            using var packed = new GemmPackedB();
            packed.Pack(b, tb ? k : n, tb, k, n, width);
            Gemm.Multiply(actual, n, a, k, false, packed, m, accumulate: true);
            Assert.True(expected.AsSpan().SequenceEqual(actual), $"{m}x{n}x{k} tb={tb} {width}");
        }
    }

    [Fact]
    public void A_packed_b_is_reused_and_repacked()
    {
        using var packed = new GemmPackedB();
        var a = TestData.Uniform(4 * 6, 1);
        foreach (var (k, n) in new[] { (6, 40), (3, 5), (6, 40) })
        {
            var b = TestData.Uniform(k * n, k + n);
            packed.Pack(b, n, false, k, n);
            var expected = new float[4 * n];
            var actual = new float[4 * n];
            GemmReference.Multiply(expected, n, a, 6, false, b, n, false, 4, n, k, false);
            Gemm.Multiply(actual, n, a, 6, false, packed, 4, accumulate: false);
            TestData.AssertClose(expected, actual, 1e-5, 1e-5, $"repacked {k}x{n}");
        }
        var e = Assert.Throws<ArgumentException>(() => packed.Pack(new float[10], 5, false, 3, 5));
        Assert.Contains("GEMM B is (3, 5)", e.Message);
    }

    [Theory]
    [InlineData(32, 512, 128)]  // one A block: B's panels are split across the threads
    [InlineData(128, 512, 300)] // two A blocks of equal height
    [InlineData(300, 70, 90)]   // several A blocks, one of them short
    [InlineData(8192, 64, 32)]  // many A blocks, narrow B read in place
    public void Two_threads_split_the_work_and_give_the_same_bits(int m, int n, int k)
    {
        var a = TestData.Uniform(m * k, 4);
        var b = TestData.Uniform(k * n, 5);
        var one = new float[m * n];
        var two = new float[m * n];
        Gemm.Multiply(one, n, a, k, false, b, n, false, m, n, k, false);
        int saved = Threading.Threads;
        try
        {
            Threading.Threads = 2;
            Gemm.Multiply(two, n, a, k, false, b, n, false, m, n, k, false);
        }
        finally
        {
            Threading.Threads = saved;
        }
        // Every element is computed by one thread in the same order of k, so the results are bitwise equal.
        Assert.True(one.AsSpan().SequenceEqual(two), $"{m}x{n}x{k}");
    }

    [Fact]
    public void Widths_parse_as_people_write_them_and_refuse_the_rest()
    {
        Assert.Equal(SimdWidth.V256, Simd.Parse("avx2"));
        Assert.Equal(SimdWidth.V512, Simd.Parse(" 512 "));
        Assert.Equal(SimdWidth.Scalar, Simd.Parse("scalar"));
        var e = Assert.Throws<ArgumentException>(() => Simd.Parse("1024"));
        Assert.Contains("'1024'", e.Message);
    }

    [Fact]
    public void Zero_k_clears_or_keeps_c()
    {
        var c = new float[] { 1, 2, 3, 4 };
        Gemm.Multiply(c, 2, [], 1, false, [], 2, false, 2, 2, 0, accumulate: true);
        Assert.Equal(new float[] { 1, 2, 3, 4 }, c);
        Gemm.Multiply(c, 2, [], 1, false, [], 2, false, 2, 2, 0, accumulate: false);
        Assert.Equal(new float[4], c);
    }

    [Fact]
    public void Too_short_operands_are_refused_with_their_shapes()
    {
        var e = Assert.Throws<ArgumentException>(() => Gemm.Multiply(new float[4], 2, new float[3], 2, false, new float[4], 2, false, 2, 2, 2, false));
        Assert.Contains("GEMM A is (2, 2)", e.Message);
        Assert.Throws<ArgumentException>(() => Gemm.Multiply(new float[4], 1, new float[4], 2, false, new float[4], 2, false, 2, 2, 2, false));
    }
}
