using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using DistTrain.Engine;
using DistTrain.Engine.Model;

namespace DistTrain.Data;

/// <summary>
/// A prepared dataset (both splits, already tokenized or scaled) in one file, so that a coordinator can hand workers
/// exactly the bytes it trains from, addressed by the file's SHA-256:
/// <code>
/// "DTDATA1\0"           8 bytes magic
/// i32 n, n bytes        UTF-8 JSON header: name, source, details, and the four tensor shapes
/// 4 × float32 blocks    train x, train y, test x, test y, little-endian, in that order
/// </code>
/// </summary>
public static class DatasetFile
{
    private static readonly byte[] Magic = "DTDATA1\0"u8.ToArray();

    private sealed record Header(string Name, string Source, string? Details, int[][] Shapes);

    /// <summary>Writes the dataset (atomically, via a temporary file) and returns the file's SHA-256 in lower-case hex.</summary>
    public static string Write(Dataset data, string path)
    {
        string tmp = path + ".tmp-" + Environment.ProcessId;
        using (var file = File.Create(tmp))
        {
            file.Write(Magic);
            var header = JsonSerializer.SerializeToUtf8Bytes(new Header(data.Name, data.Source, data.Details,
                [data.TrainX.Shape, data.TrainY.Shape, data.TestX.Shape, data.TestY.Shape]));
            file.Write(BitConverter.GetBytes(header.Length));
            file.Write(header);
            foreach (var t in new[] { data.TrainX, data.TrainY, data.TestX, data.TestY }) file.Write(MemoryMarshal.AsBytes(t.Span));
        }
        File.Move(tmp, path, overwrite: true);
        return Digest(path);
    }

    /// <summary>Whether <paramref name="text"/> has the form of a digest <see cref="Digest"/> returns: 64 lower-case hex digits.</summary>
    public static bool IsDigest(string text) => text.Length == 64 && text.All(char.IsAsciiHexDigitLower);

    /// <summary>The file's SHA-256, lower-case hex.</summary>
    public static string Digest(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    /// <summary>The file's four tensor shapes from its header alone (train x, train y, test x, test y), without reading the data.</summary>
    public static int[][] ReadShapes(string path)
    {
        using var file = File.OpenRead(path);
        return ReadShapes(file, path);
    }

    /// <summary>
    /// Checks a dataset file without loading it: its header, that its length is exactly what the shapes say, that the
    /// splits match, and the training labels' <see cref="LabelStats"/>, read past the inputs in small pieces. Memory
    /// stays small whatever the file claims. Throws <see cref="DataException"/> naming the fault.
    /// </summary>
    public static (int[][] Shapes, LabelStats TrainLabels) Inspect(string path)
    {
        using var file = File.OpenRead(path);
        var shapes = ReadShapes(file, path);
        long data = shapes.Sum(shape => Elements(shape, path)) * sizeof(float);
        if (file.Length - file.Position != data)
            throw new DataException($"{path}: its shapes need {data:N0} bytes of data, but it holds {file.Length - file.Position:N0}");
        CheckSplits(shapes, path);
        var stats = new LabelStats(shapes[1][0] == 0 ? 0 : (int)(Elements(shapes[1], path) / shapes[1][0]));
        file.Seek(Elements(shapes[0], path) * sizeof(float), SeekOrigin.Current);
        var buffer = new float[1 << 16];
        for (long left = Elements(shapes[1], path); left > 0;)
        {
            var piece = buffer.AsSpan(0, (int)Math.Min(left, buffer.Length));
            file.ReadExactly(MemoryMarshal.AsBytes(piece));
            stats.Add(piece);
            left -= piece.Length;
        }
        return (shapes, stats);
    }

    // Inputs and targets hold the same number of samples on each side, and both sides have the same sample shape.
    private static void CheckSplits(int[][] s, string path)
    {
        if (s[1][0] != s[0][0] || s[3][0] != s[2][0] || !s[0].AsSpan(1).SequenceEqual(s[2].AsSpan(1)) || !s[1].AsSpan(1).SequenceEqual(s[3].AsSpan(1)))
            throw new DataException($"{path}: the splits do not match: inputs {ShapeText(s[0])} and {ShapeText(s[2])}, targets {ShapeText(s[1])} and {ShapeText(s[3])}");
    }

    private static int[][] ReadShapes(FileStream file, string path)
    {
        var start = new byte[Magic.Length + 4];
        if (file.ReadAtLeast(start, start.Length, throwOnEndOfStream: false) < start.Length || !start.AsSpan(0, Magic.Length).SequenceEqual(Magic))
            throw new DataException($"{path}: not a DistTrain dataset file (bad magic)");
        int headerLength = BitConverter.ToInt32(start, Magic.Length);
        if (headerLength is < 2 or > MaxHeaderBytes || headerLength > file.Length - start.Length) throw new DataException($"{path}: truncated header");
        var header = new byte[headerLength];
        file.ReadExactly(header);
        return ParseHeader(header, path).Shapes;
    }

    // A header is a few hundred bytes; anything past this is not one.
    private const int MaxHeaderBytes = 1 << 20;

    private static Header ParseHeader(ReadOnlySpan<byte> json, string path)
    {
        Header? header;
        try
        {
            header = JsonSerializer.Deserialize<Header>(json);
        }
        catch (JsonException e)
        {
            throw new DataException($"{path}: the header is not valid ({e.Message})");
        }
        if (header is not { Shapes: { Length: 4 } shapes } || shapes.Any(s => s is null || s.Length is < 1 or > 8 || s.Any(d => d < 0)))
            throw new DataException($"{path}: the header must hold four shapes (train x, train y, test x, test y) of 1 to 8 dimensions, none negative");
        return header with { Name = header.Name ?? "dataset", Source = header.Source ?? "" };
    }

    private static long Elements(int[] shape, string path)
    {
        long n = 1;
        foreach (int d in shape)
        {
            n *= d;
            if (n > int.MaxValue) throw new DataException($"{path}: a tensor of shape {ShapeText(shape)} is larger than one array can hold");
        }
        return n;
    }

    private static string ShapeText(int[] shape) => "(" + string.Join(", ", shape) + ")";

    /// <summary>Reads a dataset file, checking it against <paramref name="expectedDigest"/> when given.</summary>
    public static Dataset Read(string path, string? expectedDigest = null)
    {
        if (expectedDigest is not null && Digest(path) != expectedDigest)
            throw new DataException($"{path}: SHA-256 is not {expectedDigest}; the dataset file is corrupt or not the job's");
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < Magic.Length + 4 || !bytes.AsSpan(0, Magic.Length).SequenceEqual(Magic))
            throw new DataException($"{path}: not a DistTrain dataset file (bad magic)");
        int headerLength = BitConverter.ToInt32(bytes, Magic.Length);
        int at = Magic.Length + 4;
        if (headerLength is < 2 or > MaxHeaderBytes || (long)at + headerLength > bytes.Length) throw new DataException($"{path}: truncated header");
        var header = ParseHeader(bytes.AsSpan(at, headerLength), path);
        at += headerLength;
        CheckSplits(header.Shapes, path);
        var tensors = new Tensor[4];
        for (int i = 0; i < 4; i++)
        {
            // The shape is checked against the bytes that are there before anything is allocated for it.
            long n = Elements(header.Shapes[i], path) * sizeof(float);
            if (at + n > bytes.Length) throw new DataException($"{path}: truncated; tensor {i} needs {n} more bytes");
            var t = new Tensor(header.Shapes[i]);
            MemoryMarshal.Cast<byte, float>(bytes.AsSpan(at, (int)n)).CopyTo(t.Span);
            tensors[i] = t;
            at += (int)n;
        }
        if (at != bytes.Length) throw new DataException($"{path}: {bytes.Length - at} unexpected bytes at the end");
        return new Dataset(header.Name, tensors[0], tensors[1], tensors[2], tensors[3], header.Source) { Details = header.Details };
    }
}
