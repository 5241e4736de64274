using DistTrain.Data;

namespace DistTrain.Cli.Tests;

/// <summary>
/// A small dataset in the MNIST IDX layout (gzipped) that a network can learn: class c is a bright 6×6 square at a
/// position of its own, on noise. It stands in for "another dataset in the IDX layout".
/// </summary>
internal static class SyntheticDigits
{
    public static void Write(string dir, int train = 600, int test = 200)
    {
        var rng = new Random(3);
        foreach (var (prefix, n) in new[] { ("train", train), ("t10k", test) })
        {
            var images = new byte[n * 28 * 28];
            var labels = new byte[n];
            for (int i = 0; i < n; i++)
            {
                int c = rng.Next(10);
                labels[i] = (byte)c;
                var img = images.AsSpan(i * 784, 784);
                for (int p = 0; p < 784; p++) img[p] = (byte)rng.Next(60);
                int top = 2 + (c / 5) * 12 + rng.Next(3), left = 1 + (c % 5) * 5 + rng.Next(2);
                for (int y = top; y < top + 6; y++)
                for (int x = left; x < Math.Min(left + 6, 28); x++) img[y * 28 + x] = 255;
            }
            Idx.Write(Path.Combine(dir, $"{prefix}-images-idx3-ubyte.gz"), [n, 28, 28], images);
            Idx.Write(Path.Combine(dir, $"{prefix}-labels-idx1-ubyte.gz"), [n], labels);
        }
    }
}
