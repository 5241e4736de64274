namespace DistTrain.Data.Tests;

public class IdxTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dt-idx-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("images-idx3-ubyte")]
    [InlineData("images-idx3-ubyte.gz")]
    public void Round_trips_raw_and_gzipped(string name)
    {
        string path = Path.Combine(_dir, name);
        var data = Enumerable.Range(0, 2 * 3 * 4).Select(i => (byte)i).ToArray();
        Idx.Write(path, [2, 3, 4], data);
        var read = Idx.Read(path, 3);
        Assert.Equal([2, 3, 4], read.Dims);
        Assert.Equal(data, read.Data);
        Assert.Equal(name.EndsWith(".gz"), File.ReadAllBytes(path)[0] == 0x1f);
    }

    private string Write(byte[] bytes)
    {
        string path = Path.Combine(_dir, "bad-idx");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static byte[] Header(byte type, byte rank, params int[] dims) =>
        [0, 0, type, rank, .. dims.SelectMany(d => BitConverter.GetBytes(d).Reverse())];

    [Theory]
    [InlineData(new byte[] { 1, 2, 3, 4, 5, 6, 7, 8 }, "bad IDX magic")]
    [InlineData(new byte[] { 0, 0 }, "too short")]
    public void Malformed_headers_are_refused(byte[] bytes, string expected)
    {
        string path = Write(bytes);
        var e = Assert.Throws<DataException>(() => Idx.Read(path, 1));
        Assert.Contains(path, e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Wrong_type_rank_truncation_and_trailing_bytes_are_named()
    {
        Assert.Contains("element type 0x0d", Assert.Throws<DataException>(() => Idx.Read(Write([.. Header(0x0d, 1, 2), 1, 2]), 1)).Message);
        Assert.Contains("rank is 1, expected 3", Assert.Throws<DataException>(() => Idx.Read(Write([.. Header(8, 1, 2), 1, 2]), 3)).Message);
        Assert.Contains("truncated; the header promises 6 bytes", Assert.Throws<DataException>(() => Idx.Read(Write([.. Header(8, 3, 1, 2, 3), 1, 2]), 3)).Message);
        Assert.Contains("2 unexpected bytes", Assert.Throws<DataException>(() => Idx.Read(Write([.. Header(8, 1, 2), 1, 2, 3, 4]), 1)).Message);
        Assert.Contains("dimension 0 is 0", Assert.Throws<DataException>(() => Idx.Read(Write(Header(8, 1, 0)), 1)).Message);
    }

    [Fact]
    public void Corrupt_gzip_is_refused()
    {
        string path = Path.Combine(_dir, "x.gz");
        Idx.Write(path, [100], new byte[100]);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
        var e = Assert.Throws<DataException>(() => Idx.Read(path, 1));
        Assert.Contains(path, e.Message);
    }
}

public class DatasetFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dt-dsf-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Round_trips_and_is_addressed_by_its_sha256()
    {
        MnistTests.WriteDataset(_dir, 12, 5, 4, 3);
        var data = Mnist.LoadDirectory(_dir);
        string path = Path.Combine(_dir, "d.dtd");
        string digest = DatasetFile.Write(data, path);
        Assert.Equal(64, digest.Length);
        var back = DatasetFile.Read(path, digest);
        Assert.Equal(data.TrainX.Span.ToArray(), back.TrainX.Span.ToArray());
        Assert.Equal(data.TestY.Shape, back.TestY.Shape);
        Assert.Equal(digest, DatasetFile.Write(back, Path.Combine(_dir, "again.dtd")));
        File.AppendAllText(path, "x");
        Assert.Contains("SHA-256 is not", Assert.Throws<DataException>(() => DatasetFile.Read(path, digest)).Message);
        Assert.Contains("unexpected bytes", Assert.Throws<DataException>(() => DatasetFile.Read(path)).Message);
    }
}
