using DistTrain.Engine.Kernels;

namespace DistTrain.Engine.Tests.Kernels;

public class FiniteTests
{
    public static TheoryData<int> Lengths => [0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 513];

    [Theory]
    [MemberData(nameof(Lengths))]
    public void A_single_NaN_or_infinity_anywhere_is_found_by_both_paths(int n)
    {
        var x = Enumerable.Range(0, n).Select(i => (i - n / 2) * 1e30f).ToArray(); // large but finite: x − x must stay 0
        Assert.True(Finite.All(x));
        Assert.True(Finite.AllReference(x));
        foreach (float bad in new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity })
            for (int at = 0; at < n; at++)
            {
                float kept = x[at];
                x[at] = bad;
                Assert.False(Finite.All(x), $"{bad} at {at} of {n}");
                Assert.False(Finite.AllReference(x));
                x[at] = kept;
            }
    }
}
