namespace DistTrain.Engine.Tests.Model;

public class InitializerTests
{
    [Theory]
    [InlineData("glorot_uniform", 2.0 / (300 + 200))]
    [InlineData("glorot_normal", 2.0 / (300 + 200))]
    [InlineData("he_uniform", 2.0 / 300)]
    [InlineData("he_normal", 2.0 / 300)]
    public void Variance_follows_the_keras_definition(string name, double variance)
    {
        var w = new float[300 * 200];
        Initializer.FromName(name).Fill(w, [300, 200], 1);
        double mean = w.Average(v => (double)v), var = w.Average(v => (v - mean) * (v - mean));
        Assert.InRange(var, variance * 0.95, variance * 1.05);
        Assert.InRange(mean, -0.002, 0.002);
    }

    [Fact]
    public void Convolution_fans_count_the_receptive_field()
    {
        Assert.Equal((3 * 3 * 32.0, 3 * 3 * 64.0), Initializer.Fans([3, 3, 32, 64]));
    }

    [Fact]
    public void The_same_seed_gives_the_same_weights()
    {
        var a = new float[100];
        var b = new float[100];
        Initializer.HeNormal.Fill(a, [10, 10], 42);
        Initializer.HeNormal.Fill(b, [10, 10], 42);
        Assert.Equal(a, b);
    }

    [Fact]
    public void Truncated_normals_stay_within_two_deviations()
    {
        var w = new float[10000];
        Initializer.GlorotNormal.Fill(w, [100, 100], 3);
        double std = Math.Sqrt(2.0 / 200) / 0.87962566103423978;
        Assert.All(w, v => Assert.InRange(v, -2 * std - 1e-6, 2 * std + 1e-6));
    }
}
