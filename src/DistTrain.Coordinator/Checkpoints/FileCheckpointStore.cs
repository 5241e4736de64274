using System.Security.Cryptography;
using DistTrain.Engine.Model;

namespace DistTrain.Coordinator.Checkpoints;

/// <summary>
/// Checkpoints as files named by their SHA-256 under one folder (<c>sha256/ab/abcdef….dtm</c>, two hex digits of fan-out
/// so that no directory grows huge). A file is written under a temporary name, flushed to the disk and renamed, so a
/// crash leaves either the whole file or none.
/// </summary>
public sealed class FileCheckpointStore(string root) : ICheckpointStore
{
    public string Root { get; } = Path.GetFullPath(root);

    public async Task<string> PutAsync(byte[] content, CancellationToken cancellationToken)
    {
        string digest = Convert.ToHexStringLower(SHA256.HashData(content));
        string path = Locate(digest);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await Task.Run(() => ModelFile.WriteDurably(path, content), cancellationToken);
        return digest;
    }

    public async Task<byte[]?> GetAsync(string digest, CancellationToken cancellationToken)
    {
        if (!IsDigest(digest)) throw new ArgumentException($"'{digest}' is not a SHA-256 digest (64 lower-case hex digits)");
        string path = Locate(digest);
        byte[] bytes;
        try
        {
            bytes = await File.ReadAllBytesAsync(path, cancellationToken);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        string actual = Convert.ToHexStringLower(SHA256.HashData(bytes));
        if (actual != digest)
            throw new CorruptCheckpointException($"checkpoint {path} is corrupt: its {bytes.Length} bytes hash to {actual[..12]}…, not to its name");
        return bytes;
    }

    public Task DeleteAsync(string digest)
    {
        if (IsDigest(digest)) File.Delete(Locate(digest));
        return Task.CompletedTask;
    }

    public string Locate(string digest) => Path.Combine(Root, "sha256", digest[..2], digest + ".dtm");

    public static bool IsDigest(string s) => s.Length == 64 && s.All(c => char.IsAsciiDigit(c) || c is >= 'a' and <= 'f');
}
