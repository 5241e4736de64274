using System.IO.Compression;
using System.Text;
using DistTrain.Data.Arrays;

namespace DistTrain.Data.Tests;

/// <summary>
/// .npz archives written by np.savez and np.savez_compressed must read to the arrays numpy wrote, under the names it
/// gave them. Hostile and broken archives, built here, must be refused with a <see cref="DataException"/> naming the
/// archive and the entry: too many entries, names that are not NAME.npy at the top level, duplicates, and entries
/// that inflate past the bound.
/// </summary>
public class NpzTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dt-npz-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    internal static string Fixture(string name) => NpyTests.Fixture(name);

    // A small valid entry: two float32 values.
    private static readonly byte[] Pair = NpyTests.NpyBytes(NpyTests.Dict("(2,)"), [.. BitConverter.GetBytes(1.5f), .. BitConverter.GetBytes(-2f)]);

    // An archive of the given entries, deflated as np.savez_compressed writes them.
    private string Zip(params (string Name, byte[] Data)[] entries)
    {
        string path = Path.Combine(_dir, "bad.npz");
        using var zip = new ZipArchive(File.Create(path), ZipArchiveMode.Create);
        foreach (var (name, data) in entries)
        {
            using var stream = zip.CreateEntry(name, CompressionLevel.Fastest).Open();
            stream.Write(data);
        }
        return path;
    }

    private string Put(byte[] bytes)
    {
        string path = Path.Combine(_dir, "bad.npz");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Fact]
    public void Reads_np_savez_keyword_arrays_by_name()
    {
        var arrays = Npz.Read(Fixture("savez.npz"));
        Assert.Equal(["x", "y"], arrays.Keys.ToArray());
        Assert.Equal([3, 2], arrays["x"].Shape);
        Assert.Equal([0f, 1f, 2f, 3f, 4f, 5f], arrays["x"].Data);
        Assert.Equal([3], arrays["y"].Shape);
        Assert.Equal([1f, 0f, 1f], arrays["y"].Data);
    }

    [Fact]
    public void Reads_np_savez_compressed_positional_arrays_as_arr_0_and_arr_1()
    {
        var arrays = Npz.Read(Fixture("savez-compressed.npz"));
        Assert.Equal(["arr_0", "arr_1"], arrays.Keys.ToArray());
        Assert.Equal([2, 2, 3], arrays["arr_0"].Shape);
        Assert.Equal(Enumerable.Range(0, 12).Select(i => (float)i), arrays["arr_0"].Data);
        Assert.Equal([2], arrays["arr_1"].Shape);
        Assert.Equal([2f, 7f], arrays["arr_1"].Data);
    }

    [Fact]
    public void Reads_an_archive_written_here_with_a_unicode_name()
    {
        var arrays = Npz.Read(Zip(("données.npy", Pair)));
        Assert.Equal([1.5f, -2f], Assert.Single(arrays, kv => kv.Key == "données").Value.Data);
    }

    [Fact]
    public void More_entries_than_the_limit_are_refused_before_any_is_read()
    {
        string path = Zip([.. Enumerable.Range(0, 65).Select(i => ($"a{i}.npy", Pair))]);
        var e = Assert.Throws<DataException>(() => Npz.Read(path));
        Assert.Contains($"{path}: the archive holds 65 entries; an .npz may hold at most 64 arrays", e.Message);
        Assert.Equal(64, Npz.Read(Zip([.. Enumerable.Range(0, 64).Select(i => ($"a{i}.npy", Pair))])).Count);
    }

    [Theory]
    [InlineData("notes.txt", "the entry 'notes.txt' is not a NAME.npy array")]
    [InlineData(".npy", "the entry '.npy' is not a NAME.npy array")]
    [InlineData("x.NPY", "the entry 'x.NPY' is not a NAME.npy array")]
    [InlineData("a/x.npy", "the entry 'a/x.npy' is in a folder")]
    [InlineData("../x.npy", "the entry '../x.npy' is in a folder")]
    [InlineData("/etc/x.npy", "the entry '/etc/x.npy' is in a folder")]
    [InlineData("a\\x.npy", "the entry 'a\\x.npy' is in a folder")]
    [InlineData("x\u0001.npy", "the entry 'x\\x01.npy' has a name with an unprintable character")]
    [InlineData("x\u202e.npy", "the entry 'x\\u202e.npy' has a name with an unprintable character")]
    public void An_entry_that_is_not_a_top_level_npy_is_refused(string name, string expected)
    {
        string path = Zip(("good.npy", Pair), (name, Pair));
        var e = Assert.Throws<DataException>(() => Npz.Read(path));
        Assert.Contains($"{path}: {expected}", e.Message);
    }

    [Fact]
    public void A_name_too_long_and_a_duplicate_name_are_refused()
    {
        string path = Zip((new string('x', 300) + ".npy", Pair));
        Assert.Contains("has a name of 304 characters; at most 255", Assert.Throws<DataException>(() => Npz.Read(path)).Message);
        path = Zip(("x.npy", Pair), ("y.npy", Pair), ("x.npy", Pair));
        Assert.Contains($"{path}: the entry 'x.npy' appears twice", Assert.Throws<DataException>(() => Npz.Read(path)).Message);
    }

    [Fact]
    public void A_broken_entry_is_refused_naming_the_archive_and_the_entry()
    {
        string path = Zip(("x.npy", Pair), ("y.npy", "not numpy"u8.ToArray()));
        Assert.Contains($"{path}: y.npy: not a .npy file", Assert.Throws<DataException>(() => Npz.Read(path)).Message);
        path = Zip(("x.npy", Pair[..^3]));
        Assert.Contains($"{path}: x.npy: the header says shape (2,) of <f4, which is 8 bytes, but the file holds 5 after its header",
            Assert.Throws<DataException>(() => Npz.Read(path)).Message);
        path = Zip(("x.npy", NpyTests.NpyBytes(NpyTests.Dict("(2,)", "'|O'"), new byte[40])));
        Assert.Contains($"{path}: x.npy: dtype '|O' is an array of Python objects", Assert.Throws<DataException>(() => Npz.Read(path)).Message);
    }

    [Fact]
    public void A_zip_bomb_entry_is_stopped_at_the_bound()
    {
        // 16 MiB of zeros behind an honest header, deflated to a few KB, read with a bound of 1 MiB.
        string path = Path.Combine(_dir, "bomb.npz");
        using (var zip = new ZipArchive(File.Create(path), ZipArchiveMode.Create))
        using (var stream = zip.CreateEntry("x.npy", CompressionLevel.SmallestSize).Open())
        {
            stream.Write(NpyTests.NpyBytes(NpyTests.Dict("(16777216,)", "'|u1'"), []));
            var zeros = new byte[1 << 20];
            for (int i = 0; i < 16; i++) stream.Write(zeros);
        }
        Assert.True(new FileInfo(path).Length < 1 << 16, "the bomb should be a small file");
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<DataException>(() => Npz.Read(path, maxBytes: 1 << 20));
        Assert.Contains($"{path}: entry 'x.npy', decompressed, is larger than the limit of 1,048,576 bytes", e.Message);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 16L << 20, "refusing the bomb allocated more than 16 MiB");
    }

    [Fact]
    public void Entries_that_together_pass_the_bound_are_stopped()
    {
        var big = NpyTests.NpyBytes(NpyTests.Dict("(600000,)", "'|u1'"), new byte[600_000]);
        string path = Zip(("a.npy", big), ("b.npy", big));
        var e = Assert.Throws<DataException>(() => Npz.Read(path, maxBytes: 1 << 20));
        Assert.Contains($"{path}: entry 'b.npy', decompressed after 600,128 bytes of earlier entries (all entries together may hold 1,048,576)", e.Message);
        Assert.Equal(2, Npz.Read(path, maxBytes: 2 * big.Length).Count);
    }

    [Fact]
    public void A_file_that_is_not_a_zip_is_refused()
    {
        string path = Put(Encoding.ASCII.GetBytes("label,x\n1,0.5\n"));
        Assert.Contains($"{path}: not a readable .npz, which is a zip archive of .npy files", Assert.Throws<DataException>(() => Npz.Read(path)).Message);
        path = Put([]);
        Assert.Contains($"{path}: not a readable .npz", Assert.Throws<DataException>(() => Npz.Read(path)).Message);
        path = Put(File.ReadAllBytes(Fixture("f4.npy")));
        Assert.Contains($"{path}: this is a single .npy array, not an .npz archive", Assert.Throws<DataException>(() => Npz.Read(path)).Message);
        var zip = File.ReadAllBytes(Fixture("savez.npz"));
        path = Put(zip[..(zip.Length / 2)]);
        Assert.Contains($"{path}: not a readable .npz", Assert.Throws<DataException>(() => Npz.Read(path)).Message);
        path = Zip();
        Assert.Contains($"{path}: the archive holds no arrays", Assert.Throws<DataException>(() => Npz.Read(path)).Message);
        string absent = Path.Combine(_dir, "absent.npz");
        Assert.Contains($"{absent}: cannot read", Assert.Throws<DataException>(() => Npz.Read(absent)).Message);
    }
}
