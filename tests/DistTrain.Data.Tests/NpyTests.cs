using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using DistTrain.Data.Arrays;

namespace DistTrain.Data.Tests;

/// <summary>
/// .npy files written by numpy 1.24 (Fixtures/numpy; its README holds the Python that made them) must read to exactly
/// the values numpy wrote, converted to float32. Hostile and broken files, built here byte by byte, must be refused
/// with a <see cref="DataException"/> naming the file and the problem: never another exception, a hang, or the memory
/// a header promises.
/// </summary>
public class NpyTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dt-npy-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    internal static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "numpy", name);

    /// <summary>
    /// A .npy laid out as numpy lays it out: magic, version, header length (2 bytes in 1.0, 4 after), the header
    /// padded with spaces to a multiple of 64 bytes and ended by '\n' (Latin-1, or UTF-8 in 3.0), then the data.
    /// </summary>
    internal static byte[] NpyBytes(string header, byte[] data, byte major = 1, byte minor = 0)
    {
        int lengthBytes = major == 1 ? 2 : 4;
        int unpadded = 8 + lengthBytes + header.Length + 1;
        string text = header + new string(' ', (64 - unpadded % 64) % 64) + "\n";
        byte[] encoded = major == 3 ? Encoding.UTF8.GetBytes(text) : Encoding.Latin1.GetBytes(text);
        var length = new byte[lengthBytes];
        if (lengthBytes == 2) BinaryPrimitives.WriteUInt16LittleEndian(length, (ushort)encoded.Length);
        else BinaryPrimitives.WriteUInt32LittleEndian(length, (uint)encoded.Length);
        return [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', major, minor, .. length, .. encoded, .. data];
    }

    /// <summary>The header dict numpy writes, with the given values.</summary>
    internal static string Dict(string shape, string descr = "'<f4'", string fortranOrder = "False") =>
        $"{{'descr': {descr}, 'fortran_order': {fortranOrder}, 'shape': {shape}, }}";

    private static NpyArray ReadBytes(byte[] bytes) => Npy.Read(new MemoryStream(bytes), "bad.npy");

    private string Put(byte[] bytes)
    {
        string path = Path.Combine(_dir, "bad.npy");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    // ---- Files numpy wrote.

    /// <summary>Each fixture, its shape, and its values as numpy wrote them, converted to float32 exactly as a C cast would.</summary>
    public static TheoryData<string, int[], float[]> NumpyFiles => new()
    {
        { "f4.npy", [2, 3], [0f, 0.25f, 0.5f, 0.75f, 1f, 1.25f] },
        // float64 rounds to the nearest float32: 0.1 to 0.1f; 1e10 and 2^-30 are exact.
        { "f8.npy", [4], [0.1f, -1.5f, 1e10f, 1f / (1 << 30)] },
        { "u1.npy", [2, 2, 2], [0, 36, 72, 108, 144, 180, 216, 252] },
        { "i1.npy", [4], [-128, -1, 0, 127] },
        // int32's largest, 2^31 - 1, has no float32; the nearest is 2^31.
        { "i4.npy", [3], [-2147483648f, 0, 2147483648f] },
        { "i8-labels.npy", [5], [0, 9, 3, -1, 1099511627776f] },
        { "b1.npy", [3], [1, 0, 1] },
        { "scalar.npy", [], [3.5f] },
        { "empty.npy", [0, 5], [] },
        { "v2.npy", [3], [7, 8, 9] },
        { "v3.npy", [3], [1, 2, 3] },
    };

    [Theory]
    [MemberData(nameof(NumpyFiles))]
    public void Reads_the_values_numpy_wrote(string name, int[] shape, float[] values)
    {
        var array = Npy.Read(Fixture(name));
        Assert.Equal(shape, array.Shape);
        Assert.Equal(values, array.Data);
    }

    [Theory]
    [MemberData(nameof(NumpyFiles))]
    public void Reads_the_same_from_a_stream_of_unknown_length(string name, int[] shape, float[] values)
    {
        using var stream = new MemoryStream(File.ReadAllBytes(Fixture(name)));
        var array = Npy.Read(stream, name);
        Assert.Equal(shape, array.Shape);
        Assert.Equal(values, array.Data);
    }

    /// <summary>Arrays numpy writes that this reader refuses, each saying how to save the array instead.</summary>
    [Theory]
    [InlineData("fortran.npy", "in Fortran (column-major) order; this reader takes C (row-major) order: save it with np.save(f, np.ascontiguousarray(arr))")]
    [InlineData("big-endian.npy", "dtype '>f4' is big-endian; this reader takes little-endian data: save it with arr.astype('<f4')")]
    [InlineData("object.npy", "dtype '|O' is an array of Python objects, which numpy stores pickled; pickles are never loaded here")]
    [InlineData("structured.npy", "the array has a structured dtype (a list of named fields)")]
    [InlineData("unicode.npy", "dtype '<U3' holds strings")]
    [InlineData("complex.npy", "dtype '<c8' is complex")]
    [InlineData("float16.npy", "dtype '<f2' is not supported; the supported dtypes are float32 '<f4'")]
    public void Refuses_what_numpy_wrote_but_this_reader_does_not_take(string name, string expected)
    {
        var e = Assert.Throws<DataException>(() => Npy.Read(Fixture(name)));
        Assert.StartsWith(Fixture(name) + ": ", e.Message);
        Assert.Contains(expected, e.Message);
    }

    // ---- Headers other writers may produce, which numpy reads too.

    [Theory]
    [InlineData("{'shape': (2, 1), 'descr': '<f4', 'fortran_order': False}")]
    [InlineData("{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2, 1)}")]
    [InlineData("{'descr':'<f4','fortran_order':False,'shape':(2,1,),}")]
    [InlineData("{'descr': '<f4',\n\t'fortran_order': False,\n\t'shape': (2L, 1L), }")]
    [InlineData("{'descr': '=f4', 'fortran_order': False, 'shape': (2, 1), }")]
    [InlineData("{'descr': '<f4', 'fortran_order': True, 'shape': (1, 2), }")]
    [InlineData("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }")]
    public void Accepts_any_key_order_quoting_spacing_and_harmless_fortran_order(string header)
    {
        var array = ReadBytes(NpyBytes(header, [.. BitConverter.GetBytes(1.5f), .. BitConverter.GetBytes(-2f)]));
        Assert.Equal(2, array.Shape.Aggregate(1, (n, d) => n * d));
        Assert.Equal([1.5f, -2f], array.Data);
    }

    [Theory]
    [InlineData("'<u1'")]
    [InlineData("'|u1'")]
    [InlineData("'>u1'")]
    public void Single_byte_elements_take_any_byte_order(string descr)
    {
        Assert.Equal([200f, 7f], ReadBytes(NpyBytes(Dict("(2,)", descr), [200, 7])).Data);
    }

    [Fact]
    public void An_array_larger_than_a_chunk_and_the_first_allocation_reads_whole()
    {
        // (2^20 + 5) int32 elements: 64 chunks of 64 KiB and a bit, and past the first allocation of 2^20 elements.
        int n = (1 << 20) + 5;
        var data = new byte[4 * n];
        for (int i = 0; i < n; i++) BinaryPrimitives.WriteInt32LittleEndian(data.AsSpan(4 * i), i - 3);
        var array = ReadBytes(NpyBytes(Dict($"({n},)", "'<i4'"), data));
        Assert.Equal([n], array.Shape);
        Assert.Equal(n, array.Data.Length);
        Assert.Equal(-3f, array.Data[0]);
        Assert.Equal(n - 4f, array.Data[^1]);
        for (int i = 0; i < n; i++)
            if (array.Data[i] != i - 3) Assert.Fail($"element {i} is {array.Data[i]}, expected {i - 3}");
    }

    [Fact]
    public void A_stream_that_yields_a_few_bytes_at_a_time_reads_whole()
    {
        // Elements split across reads must be reassembled, not misread or dropped.
        int n = 20_000;
        var data = new byte[8 * n];
        for (int i = 0; i < n; i++) BinaryPrimitives.WriteDoubleLittleEndian(data.AsSpan(8 * i), i * 0.5);
        var array = Npy.Read(new TrickleStream(NpyBytes(Dict($"({n / 4}, 4)", "'<f8'"), data), 5), "trickle.npy");
        Assert.Equal([n / 4, 4], array.Shape);
        Assert.Equal(Enumerable.Range(0, n).Select(i => i * 0.5f), array.Data);
    }

    // ---- Hostile and broken headers.

    [Theory]
    [InlineData("[1, 2]", "expected the header to open with '{'")]
    [InlineData("", "expected the header to open with '{'")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, }", "the .npy header has no 'shape'")]
    [InlineData("{'fortran_order': False, 'shape': (2,), }", "the .npy header has no 'descr'")]
    [InlineData("{'descr': '<f4', 'shape': (2,), }", "the .npy header has no 'fortran_order'")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1, }", "unknown key 'extra'")]
    [InlineData("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", "the key 'descr' appears twice")]
    [InlineData("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,), }", "'fortran_order' is 'Maybe'; expected True or False")]
    [InlineData("{'descr': '<f4, 'fortran_order': False, 'shape': (2,), }", "expected ',' or '}' after a value")]
    [InlineData("{'descr': '<f4", "a quoted string is not closed")]
    [InlineData("{'descr': '<f\\4', 'fortran_order': False, 'shape': (2,), }", "a backslash inside a quoted string")]
    [InlineData("{'descr': 5, 'fortran_order': False, 'shape': (2,), }", "'descr' must be a quoted dtype")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': 5, }", "expected 'shape' to be a tuple")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (5), }", "the shape (5) is not a tuple; a one-dimensional shape is written (5,)")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", "expected a whole number for dimension 1 of the shape")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } trailing", "unexpected text after the dict's closing '}'")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }{}", "unexpected text after the dict's closing '}'")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }", "dimension 1 of the shape is -3; dimensions must be 0 or more")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1, 1, 1), }", "the shape has more than 8 dimensions")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (123456789012345678901234567890,), }", "dimension 0 of the shape is 123456789012345678901234567890, beyond any array")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776), }", "the header says shape (1099511627776, 1099511627776) of <f4, which is")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776), }", "elements, above the limit of 268,435,456 elements")]
    [InlineData("{'descr': '<i8', 'fortran_order': False, 'shape': (999999999999999999, 999999999999999999, 999999999999999999, 999999999999999999, 999999999999999999, 999999999999999999, 999999999999999999, 999999999999999999), }", "above the limit of 268,435,456 elements")]
    [InlineData("{'descr': '<f8', 'fortran_order': False, 'shape': (200000000,), }", "which is 1,600,000,000 bytes, above the limit of 1,073,741,824 bytes")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 5000000000), }", "whose dimension 1 is 5,000,000,000, above the limit of 268,435,456")]
    [InlineData("{'descr': '|O', 'fortran_order': False, 'shape': (3,), }", "pickles are never loaded here")]
    [InlineData("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", "dtype '>f4' is big-endian")]
    [InlineData("{'descr': '>i8', 'fortran_order': False, 'shape': (2,), }", "save it with arr.astype('<i8')")]
    [InlineData("{'descr': '|S5', 'fortran_order': False, 'shape': (2,), }", "dtype '|S5' holds strings")]
    [InlineData("{'descr': '<c16', 'fortran_order': False, 'shape': (2,), }", "dtype '<c16' is complex")]
    [InlineData("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", "structured dtype")]
    [InlineData("{'descr': '<M8[ns]', 'fortran_order': False, 'shape': (2,), }", "dtype '<M8[ns]' is not supported")]
    [InlineData("{'descr': 'f4', 'fortran_order': False, 'shape': (2,), }", "dtype 'f4' is not supported")]
    [InlineData("{'descr': '|f4', 'fortran_order': False, 'shape': (2,), }", "dtype '|f4' has no byte order ('|')")]
    [InlineData("{'descr': '<f4\u0001', 'fortran_order': False, 'shape': (2,), }", "dtype '<f4\\x01' is not supported")]
    [InlineData("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", "np.ascontiguousarray(arr)")]
    public void A_bad_header_is_refused_naming_the_problem(string header, string expected)
    {
        var e = Assert.Throws<DataException>(() => ReadBytes(NpyBytes(header, new byte[24])));
        Assert.StartsWith("bad.npy: ", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void A_header_that_fails_to_parse_is_quoted_with_the_place()
    {
        var e = Assert.Throws<DataException>(() => ReadBytes(NpyBytes("{'descr': '<f4', 'fortran_order': Nope, 'shape': (2,), }", [])));
        Assert.Contains("(at character 34, 'Nope, 'shape': (2,), }", e.Message);
        Assert.Contains("The header: {'descr': '<f4', 'fortran_order': Nope, 'shape': (2,), }", e.Message);
    }

    // ---- Hostile and broken files.

    [Fact]
    public void A_file_that_is_not_a_npy_is_refused_naming_its_first_bytes()
    {
        var e = Assert.Throws<DataException>(() => ReadBytes("<html>404</html>"u8.ToArray()));
        Assert.Contains("bad.npy: not a .npy file: it starts with 3c 68 74 6d 6c 3e 34 30, where a .npy starts with 93 4e 55 4d 50 59", e.Message);
        Assert.Contains("it is a zip archive", Assert.Throws<DataException>(() => Npy.Read(NpzTests.Fixture("savez.npz"))).Message);
        Assert.Contains("bad.npy: the file is empty", Assert.Throws<DataException>(() => ReadBytes([])).Message);
        Assert.Contains("bad.npy: not a .npy file: it starts with 93 4e", Assert.Throws<DataException>(() => ReadBytes([0x93, (byte)'N'])).Message);
        Assert.Contains("bad.npy: truncated in its header: the file ends after 6 bytes", Assert.Throws<DataException>(() => ReadBytes(NpyBytes("", [])[..6])).Message);
        Assert.Contains("ends inside the header's length", Assert.Throws<DataException>(() => ReadBytes(NpyBytes(Dict("(2,)"), [], major: 2)[..10])).Message);
    }

    [Theory]
    [InlineData(4, 0)]
    [InlineData(0, 0)]
    [InlineData(1, 1)]
    [InlineData(2, 5)]
    public void An_unknown_version_is_refused(int major, int minor)
    {
        var bytes = NpyBytes(Dict("(2,)"), new byte[8]);
        bytes[6] = (byte)major;
        bytes[7] = (byte)minor;
        var e = Assert.Throws<DataException>(() => ReadBytes(bytes));
        Assert.Contains($"bad.npy: .npy format version {major}.{minor} is not supported; this reader takes 1.0, 2.0 and 3.0", e.Message);
    }

    [Fact]
    public void A_header_length_beyond_the_limit_is_refused_before_it_is_read()
    {
        // Version 2.0's four-byte length claims 2 GiB of header over a file of a few bytes.
        byte[] bytes = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 2, 0, 0xff, 0xff, 0xff, 0x7f, (byte)'{'];
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<DataException>(() => ReadBytes(bytes));
        Assert.Contains("bad.npy: the header length is 2,147,483,647 bytes, above the limit of 65,536", e.Message);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1 << 20, "refusing the header allocated more than 1 MiB");
        // Just over the limit, and the largest that version 1.0 can state, which is under it.
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), (64 << 10) + 1);
        Assert.Contains("the header length is 65,537 bytes, above the limit of 65,536", Assert.Throws<DataException>(() => ReadBytes(bytes)).Message);
        byte[] v1 = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0, 0xff, 0xff, (byte)'{'];
        Assert.Contains("truncated in its header: the header is 65,535 bytes but the file holds 1 after its length", Assert.Throws<DataException>(() => ReadBytes(v1)).Message);
        Assert.Contains("the header is 65,535 bytes but the file holds 1 after its length", Assert.Throws<DataException>(() => Npy.Read(Put(v1))).Message);
    }

    [Fact]
    public void A_version_3_header_that_is_not_utf8_is_refused()
    {
        var bytes = NpyBytes(Dict("(2,)"), new byte[8], major: 3);
        bytes[12 + 3] = 0xff; // the 'e' of 'descr'
        Assert.Contains("bad.npy: the version 3.0 header is not valid UTF-8", Assert.Throws<DataException>(() => ReadBytes(bytes)).Message);
        // The same byte is Latin-1 'ÿ' in version 1.0, and a key no header has.
        var v1 = NpyBytes(Dict("(2,)"), new byte[8]);
        v1[10 + 3] = 0xff;
        Assert.Contains("unknown key 'dÿscr'", Assert.Throws<DataException>(() => ReadBytes(v1)).Message);
    }

    [Fact]
    public void Truncated_data_is_refused_saying_how_much_is_missing()
    {
        var bytes = NpyBytes(Dict("(10,)"), new byte[12]);
        const string expected = "the header says shape (10,) of <f4, which is 40 bytes, but the file holds 12 after its header: it is truncated";
        Assert.Contains($"bad.npy: {expected}", Assert.Throws<DataException>(() => ReadBytes(bytes)).Message);
        string path = Put(bytes);
        Assert.Contains($"{path}: {expected}", Assert.Throws<DataException>(() => Npy.Read(path)).Message);
        // Cut inside an element.
        Assert.Contains("which is 40 bytes, but the file holds 13 after its header", Assert.Throws<DataException>(() => ReadBytes([.. bytes, 1])).Message);
    }

    [Fact]
    public void Trailing_bytes_are_refused_saying_how_many()
    {
        var bytes = NpyBytes(Dict("(2,)", "'|u1'"), [1, 2, 3, 4, 5]);
        const string expected = "the header says shape (2,) of |u1, which is 2 bytes, but 3 more bytes follow them";
        Assert.Contains($"bad.npy: {expected}", Assert.Throws<DataException>(() => ReadBytes(bytes)).Message);
        Assert.Contains(expected, Assert.Throws<DataException>(() => Npy.Read(Put(bytes))).Message);
        var many = NpyBytes(Dict("()", "'|u1'"), new byte[100_000]);
        Assert.Contains("which is 1 bytes, but more than 65,536 more bytes follow them", Assert.Throws<DataException>(() => ReadBytes(many)).Message);
    }

    [Fact]
    public void A_header_that_promises_a_gigabyte_costs_only_what_the_file_holds()
    {
        // 2^28 one-byte elements, the most allowed, over 100 bytes of data.
        var bytes = NpyBytes(Dict("(268435456,)", "'|u1'"), new byte[100]);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<DataException>(() => ReadBytes(bytes));
        Assert.Contains("which is 268,435,456 bytes, but the file holds 100 after its header", e.Message);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 16L << 20, "a stream of unknown length made the reader allocate more than 16 MiB");
        string path = Put(bytes);
        before = GC.GetAllocatedBytesForCurrentThread();
        e = Assert.Throws<DataException>(() => Npy.Read(path));
        Assert.Contains("which is 268,435,456 bytes, but the file holds 100 after its header", e.Message);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1 << 20, "a file of known length made the reader allocate more than 1 MiB");
    }

    [Fact]
    public void Corrupt_compressed_data_and_a_missing_file_are_refused()
    {
        var garbage = new MemoryStream([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        var e = Assert.Throws<DataException>(() => Npy.Read(new GZipStream(garbage, CompressionMode.Decompress), "x.npy.gz"));
        Assert.Contains("x.npy.gz: the compressed data is corrupt", e.Message);
        string absent = Path.Combine(_dir, "absent.npy");
        Assert.Contains($"{absent}: cannot read", Assert.Throws<DataException>(() => Npy.Read(absent)).Message);
    }

    /// <summary>A read-only stream that yields at most <c>most</c> bytes per read, as a network or inflating stream may.</summary>
    private sealed class TrickleStream(byte[] bytes, int most) : Stream
    {
        private int _at;

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            int n = Math.Min(Math.Min(buffer.Length, most), bytes.Length - _at);
            bytes.AsSpan(_at, n).CopyTo(buffer);
            _at += n;
            return n;
        }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _at; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
