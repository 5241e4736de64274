using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using DistTrain.Engine;

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

    /// <summary>The file's SHA-256, lower-case hex.</summary>
    public static string Digest(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

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
        if (headerLength < 0 || at + headerLength > bytes.Length) throw new DataException($"{path}: truncated header");
        var header = JsonSerializer.Deserialize<Header>(bytes.AsSpan(at, headerLength))
            ?? throw new DataException($"{path}: empty header");
        at += headerLength;
        var tensors = new Tensor[4];
        for (int i = 0; i < 4; i++)
        {
            var t = new Tensor(header.Shapes[i]);
            int n = t.Length * sizeof(float);
            if (at + n > bytes.Length) throw new DataException($"{path}: truncated; tensor {i} needs {n} more bytes");
            MemoryMarshal.Cast<byte, float>(bytes.AsSpan(at, n)).CopyTo(t.Span);
            tensors[i] = t;
            at += n;
        }
        if (at != bytes.Length) throw new DataException($"{path}: {bytes.Length - at} unexpected bytes at the end");
        return new Dataset(header.Name, tensors[0], tensors[1], tensors[2], tensors[3], header.Source) { Details = header.Details };
    }
}
