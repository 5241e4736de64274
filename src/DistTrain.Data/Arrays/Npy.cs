using System.Buffers.Binary;
using System.Text;

namespace DistTrain.Data.Arrays;

/// <summary>An n-dimensional array read from a .npy file, converted to float32.</summary>
/// <param name="Shape">Each dimension, as numpy's arr.shape; empty for a 0-d array, which holds one element.</param>
/// <param name="Data">(product of Shape) elements, row-major (C order): the last index varies fastest.</param>
public sealed record NpyArray(int[] Shape, float[] Data);

/// <summary>
/// Reads NumPy's .npy format (numpy.lib.format, NEP 1), as np.save writes it:
/// <code>
///   \x93NUMPY | major | minor | header length                      | header                     | data
///   6 bytes   | 1     | 1     | uint16 (1.0), uint32 (2.0 and 3.0) | a Python dict, Latin-1     | the elements, packed,
///             |       |       | little-endian                      | (UTF-8 in 3.0), padded     | in C order
///             |       |       |                                    | with spaces and a '\n'     |
/// </code>
/// The header is a dict such as <c>{'descr': '&lt;f4', 'fortran_order': False, 'shape': (60000, 28, 28), }</c>.
/// float32, float64, uint8, int8, int32, int64 and bool elements are converted to float32: float64 beyond float32's
/// range becomes ±infinity, and integers beyond 2^24 in magnitude round to the nearest float32, which is exact for
/// class labels but not for identifiers. Everything else (big-endian data, Fortran order, strings, complex numbers,
/// structured dtypes, and pickled object arrays, which are never unpickled) is refused with a message saying how to
/// save the array instead. Sizes are checked before anything is allocated, against <see cref="DataLimits"/>, and the
/// data is read in chunks as it arrives, so a hostile header costs at most what its file holds.
/// </summary>
public static class Npy
{
    // The data is read and converted this many bytes at a time; a multiple of every element size.
    private const int ChunkBytes = 1 << 16;

    // Elements allocated before any data arrives; the array doubles from there up to what the header promises.
    private const int FirstAllocation = 1 << 20;

    /// <summary>The six bytes every .npy starts with: \x93NUMPY.</summary>
    internal static ReadOnlySpan<byte> Magic => new byte[] { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y' };

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Reads a .npy file. Every problem with it is a <see cref="DataException"/> naming the file.</summary>
    public static NpyArray Read(string path)
    {
        try
        {
            using var file = File.OpenRead(path);
            return Read(file, path, file.Length);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DataException($"{path}: cannot read ({e.Message})");
        }
    }

    /// <summary>
    /// Reads one .npy from the stream's current position to its end (bytes after the data are an error).
    /// </summary>
    /// <param name="source">Names the data in errors: a path, or an archive and entry.</param>
    /// <param name="length">The bytes from the current position to the end, when known (a file's length): a file
    /// whose size disagrees with its header is then refused before its data is read.</param>
    public static NpyArray Read(Stream stream, string source, long? length = null) => Read(stream, source, length, DataLimits.MaxArrayElements, null);

    /// <summary>As <see cref="Read(Stream, string, long?)"/>, with at most <paramref name="maxElements"/> elements, which
    /// <paramref name="limitName"/> names in the refusal (an .npz's budget for its remaining entries).</summary>
    internal static NpyArray Read(Stream stream, string source, long? length, long maxElements, string? limitName)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (length < 0) throw new ArgumentOutOfRangeException(nameof(length), length, "a length is 0 or more");
        try
        {
            var (header, headerBytes) = ReadHeader(stream, source, length);
            var dtype = NpyDtype.Parse(header.Descr, source);
            string what = $"shape {NpyHeader.ShapeText(header.Shape)} of {dtype.Descr}";
            // C order varies the last index fastest and Fortran order the first; they lay out the same bytes when at
            // most one dimension exceeds 1, so only then is Fortran order harmless.
            if (header.FortranOrder && header.Shape.Count(d => d > 1) > 1)
                throw new DataException($"{source}: the header says {what} in Fortran (column-major) order; this reader takes C (row-major) order: " +
                    "save it with np.save(f, np.ascontiguousarray(arr)), or arr.copy(order='C')");
            long count = ElementCount(header.Shape, dtype, source, what);
            if (count > maxElements)
                throw new DataException($"{source}: the header says {what}, which is {count:N0} elements, above {limitName ?? "the limit"} of {maxElements:N0}");
            long dataBytes = count * dtype.Size;
            if (length is { } total)
            {
                long held = total - headerBytes;
                if (held < dataBytes) throw Truncated(source, what, dataBytes, held);
                if (held > dataBytes) throw Trailing(source, what, dataBytes, $"{held - dataBytes:N0}");
            }
            var data = ReadData(stream, dtype, count, source, what);
            return new NpyArray([.. header.Shape.Select(d => (int)d)], data);
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or IndexOutOfRangeException or ArgumentOutOfRangeException)
        {
            // A corrupt deflate stream under an .npz entry: .NET's decompressors have thrown each of these on fuzzed input.
            throw new DataException($"{source}: the compressed data is corrupt ({e.Message})");
        }
    }

    // The magic, version, header length and header; returns the parsed header and the bytes all of them took.
    private static (NpyHeader Header, long Bytes) ReadHeader(Stream s, string source, long? length)
    {
        Span<byte> prefix = stackalloc byte[12];
        int got = s.ReadAtLeast(prefix[..8], 8, throwOnEndOfStream: false);
        if (got == 0) throw new DataException($"{source}: the file is empty, not a .npy array");
        if (got < 6 || !prefix[..6].SequenceEqual(Magic))
        {
            string opening = string.Join(" ", prefix[..got].ToArray().Select(b => b.ToString("x2")));
            bool zip = got >= 4 && prefix[..4].SequenceEqual("PK\u0003\u0004"u8);
            throw new DataException($"{source}: not a .npy file: it starts with {opening}, where a .npy starts with 93 4e 55 4d 50 59 (\\x93NUMPY)" +
                (zip ? "; it is a zip archive, which is what an .npz is: read it as an .npz" : ""));
        }
        if (got < 8) throw new DataException($"{source}: truncated in its header: the file ends after {got} bytes");
        byte major = prefix[6], minor = prefix[7];
        if (major is < 1 or > 3 || minor != 0)
            throw new DataException($"{source}: .npy format version {major}.{minor} is not supported; this reader takes 1.0, 2.0 and 3.0");
        int lengthBytes = major == 1 ? 2 : 4;
        if (s.ReadAtLeast(prefix.Slice(8, lengthBytes), lengthBytes, throwOnEndOfStream: false) < lengthBytes)
            throw new DataException($"{source}: truncated in its header: the file ends inside the header's length");
        long headerLength = major == 1 ? BinaryPrimitives.ReadUInt16LittleEndian(prefix[8..]) : BinaryPrimitives.ReadUInt32LittleEndian(prefix[8..]);
        if (headerLength > DataLimits.MaxNpyHeaderBytes)
            throw new DataException($"{source}: the header length is {headerLength:N0} bytes, above the limit of {DataLimits.MaxNpyHeaderBytes:N0} " +
                "(numpy writes about 128, and refuses over 10,000 unless told otherwise)");
        long start = 8 + lengthBytes;
        if (length is { } total && start + headerLength > total)
            throw new DataException($"{source}: truncated in its header: the header is {headerLength:N0} bytes but the file holds {total - start:N0} after its length");
        var bytes = new byte[headerLength];
        int read = s.ReadAtLeast(bytes, bytes.Length, throwOnEndOfStream: false);
        if (read < bytes.Length)
            throw new DataException($"{source}: truncated in its header: the header is {headerLength:N0} bytes but the file holds {read:N0} after its length");
        string text;
        try
        {
            text = major == 3 ? StrictUtf8.GetString(bytes) : Encoding.Latin1.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw new DataException($"{source}: the version 3.0 header is not valid UTF-8");
        }
        return (NpyHeader.Parse(text, source), start + headerLength);
    }

    // The number of elements the shape holds, refused when it or its bytes exceed the limits.
    private static long ElementCount(long[] shape, NpyDtype dtype, string source, string what)
    {
        // In a double: eight dimensions of up to 18 digits cannot overflow it, nor wrap around as a long would, and it
        // is exact up to 2^53, far above the limits it is compared with. A 0-d array, shape (), holds one element.
        double elements = 1;
        foreach (long d in shape) elements *= d;
        if (elements > DataLimits.MaxArrayElements)
            throw new DataException($"{source}: the header says {what}, which is {elements:N0} elements, above the limit of {DataLimits.MaxArrayElements:N0} elements");
        if (elements * dtype.Size > DataLimits.MaxArrayBytes)
            throw new DataException($"{source}: the header says {what}, which is {elements * dtype.Size:N0} bytes, above the limit of {DataLimits.MaxArrayBytes:N0} bytes");
        // Only an empty array can get here with a dimension this large, but its shape must still fit an int.
        for (int i = 0; i < shape.Length; i++)
            if (shape[i] > DataLimits.MaxArrayElements)
                throw new DataException($"{source}: the header says {what}, whose dimension {i} is {shape[i]:N0}, above the limit of {DataLimits.MaxArrayElements:N0}");
        return (long)elements;
    }

    // Reads and converts the data a chunk at a time, growing the result as the data arrives: a header that promises a
    // gigabyte over a short stream costs what the stream holds, not what the header promises.
    private static float[] ReadData(Stream s, NpyDtype dtype, long count, string source, string what)
    {
        long dataBytes = count * dtype.Size;
        var data = new float[Math.Min(count, FirstAllocation)]; // (count) once complete
        var chunk = new byte[ChunkBytes + 1]; // one byte over, to see past the end when looking for trailing bytes
        long done = 0;
        while (done < count)
        {
            int want = (int)Math.Min(ChunkBytes, (count - done) * dtype.Size);
            int got = s.ReadAtLeast(chunk.AsSpan(0, want), want, throwOnEndOfStream: false);
            if (got < want) throw Truncated(source, what, dataBytes, done * dtype.Size + got);
            int n = want / dtype.Size;
            if (done + n > data.Length) Array.Resize(ref data, (int)Math.Min(count, Math.Max(2L * data.Length, done + n)));
            dtype.Convert(chunk.AsSpan(0, want), data.AsSpan((int)done, n));
            done += n;
        }
        // What follows the data is counted up to a chunk: a bomb's trailing gigabyte is not inflated to be counted.
        int extra = s.ReadAtLeast(chunk, chunk.Length, throwOnEndOfStream: false);
        if (extra > ChunkBytes) throw Trailing(source, what, dataBytes, $"more than {ChunkBytes:N0}");
        if (extra > 0) throw Trailing(source, what, dataBytes, $"{extra:N0}");
        return data;
    }

    private static DataException Truncated(string source, string what, long dataBytes, long held) =>
        new($"{source}: the header says {what}, which is {dataBytes:N0} bytes, but the file holds {held:N0} after its header: it is truncated");

    private static DataException Trailing(string source, string what, long dataBytes, string extra) =>
        new($"{source}: the header says {what}, which is {dataBytes:N0} bytes, but {extra} more bytes follow them: the file is longer than its header says");
}
