using DistTrain.Engine.Kernels;

namespace DistTrain.Engine.Tests.Kernels;

/// <summary>Bias passes and max pooling at every vector width this CPU runs, against their scalar twins.</summary>
public class PassKernelTests
{
    [Theory]
    [MemberData(nameof(TestData.VectorWidths), MemberType = typeof(TestData))]
    public void Row_bias_add_and_sum_match_scalar(SimdWidth width)
    {
        foreach (int cols in TestData.EdgeLengths.Where(c => c > 0))
        foreach (bool relu in new[] { false, true })
        {
            int rows = 5;
            var bias = TestData.Uniform(cols, cols);
            var expected = TestData.Uniform(rows * cols, cols + 1);
            var actual = (float[])expected.Clone();
            RowBias.Add(expected, bias, relu, SimdWidth.Scalar);
            RowBias.Add(actual, bias, relu, width);
            Assert.Equal(expected, actual);
            var db1 = TestData.Uniform(cols, cols + 2);
            var db2 = (float[])db1.Clone();
            RowBias.SumInto(db1, actual, SimdWidth.Scalar);
            RowBias.SumInto(db2, actual, width);
            TestData.AssertClose(db1, db2, 1e-6, 1e-6, $"bias sum cols={cols} {width}");
        }
    }

    [Theory]
    [MemberData(nameof(TestData.VectorWidths), MemberType = typeof(TestData))]
    public void Max_pool_matches_reference_with_ties_and_padding(SimdWidth width)
    {
        foreach (int c in new[] { 4, 8, 16, 32, 48, 5 })
        foreach (var (k, stride, same) in new[] { (2, 2, false), (3, 2, true), (3, 1, false) })
        {
            int n = 2, h = 7, w = 6;
            var g = ConvGeometry.Create(h, w, c, k, k, stride, stride, same ? Padding.Same : Padding.Valid, "pool");
            // Values on a coarse grid, so windows hold ties: the first maximum must win at every width.
            var x = TestData.Uniform(n * h * w * c, c + k).Select(v => MathF.Round(v * 3)).ToArray();
            int outs = n * g.OH * g.OW * c;
            float[] y1 = new float[outs], y2 = new float[outs];
            int[] a1 = new int[outs], a2 = new int[outs];
            MaxPool.Reference(y1, a1, x, n, g);
            MaxPool.Forward(y2, a2, x, n, g, width);
            Assert.Equal(y1, y2);
            Assert.Equal(a1, a2);
        }
    }
}
