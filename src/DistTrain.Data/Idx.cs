using System.Buffers.Binary;
using System.IO.Compression;

namespace DistTrain.Data;

/// <summary>An IDX array of unsigned bytes: its dimensions and its data, row-major.</summary>
public sealed record IdxArray(int[] Dims, byte[] Data);

/// <summary>
/// Reads and writes the IDX format MNIST ships in: two zero bytes, a type byte (0x08 = unsigned byte), the rank,
/// the dimensions as big-endian int32, then the data. Files may be gzipped; that is detected from the gzip magic,
/// not the name. Every malformed file is refused with a one-line message naming the file and the problem.
/// </summary>
public static class Idx
{
    private const byte UnsignedByte = 0x08;

    /// <summary>Reads an IDX file of the given rank (3 for images, 1 for labels).</summary>
    public static IdxArray Read(string path, int expectedRank)
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
        return Parse(bytes, expectedRank, path);
    }

    /// <summary>Parses IDX bytes; <paramref name="name"/> labels errors.</summary>
    public static IdxArray Parse(ReadOnlySpan<byte> bytes, int expectedRank, string name)
    {
        if (bytes.Length < 4) throw new DataException($"{name}: too short to be an IDX file ({bytes.Length} bytes)");
        if (bytes[0] != 0 || bytes[1] != 0)
            throw new DataException($"{name}: bad IDX magic {bytes[0]:x2} {bytes[1]:x2} {bytes[2]:x2} {bytes[3]:x2}; expected 00 00 08 {expectedRank:x2}");
        if (bytes[2] != UnsignedByte)
            throw new DataException($"{name}: IDX element type 0x{bytes[2]:x2} is not supported; expected 0x08 (unsigned byte)");
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
        long actual = bytes.Length - header;
        if (actual < count)
            throw new DataException($"{name}: truncated; the header promises {count} bytes of data ({string.Join("×", dims)}) but the file holds {actual}");
        if (actual > count)
            throw new DataException($"{name}: {actual - count} unexpected bytes after the {string.Join("×", dims)} data");
        return new IdxArray(dims, bytes.Slice(header).ToArray());
    }

    /// <summary>Writes an unsigned-byte IDX file, gzipped when the path ends in .gz. Written to a temporary file first.</summary>
    public static void Write(string path, int[] dims, ReadOnlySpan<byte> data)
    {
        string tmp = path + ".tmp-" + Environment.ProcessId;
        using (var file = File.Create(tmp))
        using (Stream s = path.EndsWith(".gz", StringComparison.Ordinal) ? new GZipStream(file, CompressionLevel.Fastest) : file)
        {
            Span<byte> head = stackalloc byte[4 + 4 * dims.Length];
            head[0] = 0; head[1] = 0; head[2] = UnsignedByte; head[3] = (byte)dims.Length;
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
