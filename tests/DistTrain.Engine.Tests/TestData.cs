namespace DistTrain.Engine.Tests;

/// <summary>Seeded random data for tests.</summary>
internal static class TestData
{
    public static float[] Uniform(int n, int seed, float lo = -1, float hi = 1)
    {
        var rng = new Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = lo + (hi - lo) * rng.NextSingle();
        return a;
    }

    public static Tensor Tensor(int seed, params int[] shape)
    {
        var t = new Tensor(shape);
        Uniform(t.Length, seed).CopyTo(t.Span);
        return t;
    }

    /// <summary>
    /// Every vector width this CPU can run, one theory case each, so the test list shows which widths ran here
    /// (an AVX2 machine lists no V512 case rather than passing one quietly).
    /// </summary>
    public static IEnumerable<object[]> VectorWidths() =>
        Engine.Kernels.Simd.Supported.Where(w => w != Engine.Kernels.SimdWidth.Scalar).Select(w => new object[] { w });

    /// <summary>Lengths around every vector width, as kernels are tested at.</summary>
    public static readonly int[] EdgeLengths = [0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 513];

    public static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, double atol, double rtol, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            double diff = Math.Abs(expected[i] - actual[i]);
            double limit = atol + rtol * Math.Abs(expected[i]);
            if (!(diff <= limit))
                Assert.Fail($"{what}: element {i} differs: expected {expected[i]}, got {actual[i]} (|Δ| = {diff:G3} > {limit:G3})");
        }
    }
}
