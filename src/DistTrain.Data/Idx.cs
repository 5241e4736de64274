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

    /// <summary>Reads an IDX file of the given rank (3 for images, 1 for labels) and element type.</summary>
    public static IdxArray Read(string path, int expectedRank, byte type = UnsignedByte)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
            if (bytes.Length >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b) bytes = Gunzip(bytes);
        }
        catch (InvalidDataException e)
        {
            throw new DataException($"{path}: gzip data is corrupt ({e.Message})");
        }
        catch (IOException e)
        {
            throw new DataException($"{path}: cannot read ({e.Message})");
        }
        return Parse(bytes, expectedRank, path, type);
    }

    /// <summary>Parses IDX bytes; <paramref name="name"/> labels errors.</summary>
    public static IdxArray Parse(ReadOnlySpan<byte> bytes, int expectedRank, string name, byte type = UnsignedByte)
    {
        if (bytes.Length < 4) throw new DataException($"{name}: too short to be an IDX file ({bytes.Length} bytes)");
        if (bytes[0] != 0 || bytes[1] != 0)
            throw new DataException($"{name}: bad IDX magic {bytes[0]:x2} {bytes[1]:x2} {bytes[2]:x2} {bytes[3]:x2}; expected 00 00 {type:x2} {expectedRank:x2}");
        if (bytes[2] != type)
            throw new DataException($"{name}: IDX element type 0x{bytes[2]:x2} is not supported here; expected 0x{type:x2} ({(type == Int32 ? "int32" : "unsigned byte")})");
        int rank = bytes[3];
        if (rank != expectedRank)
            throw new DataException($"{name}: IDX rank is {rank}, expected {expectedRank} ({(expectedRank == 3 ? "images" : "labels")})");
        int header = 4 + 4 * rank;
        if (bytes.Length < header) throw new DataException($"{name}: truncated IDX header");
        var dims = new int[rank];
        long count = 1;
        for (int i = 0; i < rank; i++)
        {
            dims[i] = BinaryPrimitives.ReadInt32BigEndian(bytes.Slice(4 + 4 * i));
            if (dims[i] <= 0) throw new DataException($"{name}: IDX dimension {i} is {dims[i]}; dimensions must be positive");
            count *= dims[i];
        }
        count *= type == Int32 ? 4 : 1;
        long actual = bytes.Length - header;
        if (actual < count)
            throw new DataException($"{name}: truncated; the header promises {count} bytes of data ({string.Join("×", dims)}) but the file holds {actual}");
        if (actual > count)
            throw new DataException($"{name}: {actual - count} unexpected bytes after the {string.Join("×", dims)} data");
        return new IdxArray(dims, bytes.Slice(header).ToArray());
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

    private static byte[] Gunzip(byte[] bytes)
    {
        using var input = new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress);
        using var output = new MemoryStream();
        input.CopyTo(output);
        return output.ToArray();
    }
}
