using System.Buffers.Binary;
using System.IO.Compression;

namespace DistTrain.Data;

/// <summary>An IDX array: its dimensions and its raw data, row-major (one byte per element, or four big-endian for int32).</summary>
public sealed record IdxArray(int[] Dims, byte[] Data)
{
    /// <summary>The elements of an int32 array, converted from big-endian.</summary>
    public int[] ToInt32()
    {
        var values = new int[Data.Length / 4];
        for (int i = 0; i < values.Length; i++) values[i] = BinaryPrimitives.ReadInt32BigEndian(Data.AsSpan(4 * i));
        return values;
    }
}

/// <summary>
/// Reads and writes the IDX format MNIST ships in: two zero bytes, a type byte (0x08 = unsigned byte, 0x0C = int32), the rank,
/// the dimensions as big-endian int32, then the data. Files may be gzipped; that is detected from the gzip magic,
/// not the name. Every malformed file is refused with a one-line message naming the file and the problem.
/// </summary>
public static class Idx
{
    public const byte UnsignedByte = 0x08, Int32 = 0x0C;

    /// <summary>
    /// Reads an IDX file of the given rank (3 for images, 1 for labels) and element type. The header is read first and
    /// the data only as far as it promises (at most <see cref="DataLimits.MaxIdxBytes"/>), so a gzip bomb is refused
    /// having inflated no more than the header's promise and a little over.
    /// </summary>
    public static IdxArray Read(string path, int expectedRank, byte type = UnsignedByte)
    {
        try
        {
            using var file = File.OpenRead(path);
            Span<byte> magic = stackalloc byte[2];
            bool gzip = file.ReadAtLeast(magic, 2, throwOnEndOfStream: false) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
            file.Position = 0;
            using Stream data = gzip ? new GZipStream(file, CompressionMode.Decompress, leaveOpen: true) : file;
            return Read(data, expectedRank, gzip ? $"{path} (decompressed)" : path, type);
        }
        catch (InvalidDataException e)
        {
            throw new DataException($"{path}: gzip data is corrupt ({e.Message})");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DataException($"{path}: cannot read ({e.Message})");
        }
    }

    /// <summary>Parses IDX bytes; <paramref name="name"/> labels errors.</summary>
    public static IdxArray Parse(ReadOnlySpan<byte> bytes, int expectedRank, string name, byte type = UnsignedByte) =>
        Read(new MemoryStream(bytes.ToArray(), writable: false), expectedRank, name, type);

    // Reads header, data and end from a stream that may be inflating as it goes.
    private static IdxArray Read(Stream s, int expectedRank, string name, byte type)
    {
        Span<byte> head = stackalloc byte[4];
        int got = s.ReadAtLeast(head, 4, throwOnEndOfStream: false);
        if (got < 4) throw new DataException($"{name}: too short to be an IDX file ({got} bytes)");
        if (head[0] != 0 || head[1] != 0)
            throw new DataException($"{name}: bad IDX magic {head[0]:x2} {head[1]:x2} {head[2]:x2} {head[3]:x2}; expected 00 00 {type:x2} {expectedRank:x2}");
        if (head[2] != type)
            throw new DataException($"{name}: IDX element type 0x{head[2]:x2} is not supported here; expected 0x{type:x2} ({(type == Int32 ? "int32" : "unsigned byte")})");
        int rank = head[3];
        if (rank != expectedRank)
            throw new DataException($"{name}: IDX rank is {rank}, expected {expectedRank} ({expectedRank switch { 3 => "images", 1 => "labels", _ => "sequences" }})");
        var dimBytes = new byte[4 * rank];
        if (s.ReadAtLeast(dimBytes, dimBytes.Length, throwOnEndOfStream: false) < dimBytes.Length)
            throw new DataException($"{name}: truncated IDX header");
        var dims = new int[rank];
        for (int i = 0; i < rank; i++)
        {
            dims[i] = BinaryPrimitives.ReadInt32BigEndian(dimBytes.AsSpan(4 * i));
            if (dims[i] <= 0) throw new DataException($"{name}: IDX dimension {i} is {dims[i]}; dimensions must be positive");
        }
        // In a double: the product of up to 255 dimensions near 2^31 overflows a long, and must not wrap around.
        double promised = dims.Aggregate(type == Int32 ? 4.0 : 1.0, (n, d) => n * d);
        if (promised > DataLimits.MaxIdxBytes)
            throw new DataException($"{name}: the header promises {promised:N0} bytes of data ({string.Join("×", dims)}), above the limit of {DataLimits.MaxIdxBytes:N0}");
        long count = (long)promised;
        // Grown as the data arrives, so a short file that promises a gigabyte costs what it holds, not what it promises.
        var data = new byte[Math.Min(count, 1 << 20)];
        long at = 0;
        while (at < count)
        {
            if (at == data.Length) Array.Resize(ref data, (int)Math.Min(count, 2L * data.Length));
            int n = s.Read(data, (int)at, data.Length - (int)at);
            if (n == 0)
                throw new DataException($"{name}: truncated; the header promises {count} bytes of data ({string.Join("×", dims)}) but the file holds {at}");
            at += n;
        }
        // Counts what follows, but at most a window of it: a bomb's trailing gigabyte is not inflated to be counted.
        const int window = 1 << 16;
        int extra = s.ReadAtLeast(new byte[window + 1], window + 1, throwOnEndOfStream: false);
        if (extra > window)
            throw new DataException($"{name}: more than {window:N0} unexpected bytes after the {string.Join("×", dims)} data");
        if (extra > 0)
            throw new DataException($"{name}: {extra} unexpected bytes after the {string.Join("×", dims)} data");
        return new IdxArray(dims, data);
    }

    /// <summary>Writes an int32 IDX file (big-endian elements).</summary>
    public static void WriteInt32(string path, int[] dims, ReadOnlySpan<int> values)
    {
        var data = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteInt32BigEndian(data.AsSpan(4 * i), values[i]);
        Write(path, dims, data, Int32);
    }

    /// <summary>Writes an IDX file, gzipped when the path ends in .gz. Written to a temporary file first.</summary>
    public static void Write(string path, int[] dims, ReadOnlySpan<byte> data, byte type = UnsignedByte)
    {
        string tmp = path + ".tmp-" + Environment.ProcessId;
        using (var file = File.Create(tmp))
        using (Stream s = path.EndsWith(".gz", StringComparison.Ordinal) ? new GZipStream(file, CompressionLevel.Fastest) : file)
        {
            Span<byte> head = stackalloc byte[4 + 4 * dims.Length];
            head[0] = 0; head[1] = 0; head[2] = type; head[3] = (byte)dims.Length;
            for (int i = 0; i < dims.Length; i++) BinaryPrimitives.WriteInt32BigEndian(head.Slice(4 + 4 * i), dims[i]);
            s.Write(head);
            s.Write(data);
        }
        File.Move(tmp, path, overwrite: true);
    }
}
