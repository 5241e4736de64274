using System.Globalization;
using System.IO.Compression;

namespace DistTrain.Data.Arrays;

/// <summary>
/// Reads NumPy's .npz format: a zip archive, stored (np.savez) or deflated (np.savez_compressed), whose entries are
/// NAME.npy files, one per array. np.savez(f, x=a, y=b) names them x.npy and y.npy, and positional arrays arr_0.npy,
/// arr_1.npy and so on. Only such archives are taken: at most <see cref="DataLimits.MaxNpzEntries"/> entries, each a
/// .npy at the top level under a printable name, none twice. Every entry is read through a bound on what all of them
/// may inflate to together (<see cref="DataLimits.MaxNpzBytes"/>), whatever the zip's directory claims, so a zip bomb
/// is stopped at the bound.
/// </summary>
public static class Npz
{
    /// <summary>
    /// Reads every array of an .npz file, keyed by its name without ".npy", in the archive's order. Every problem with
    /// the file is a <see cref="DataException"/> naming it, and the entry when it concerns one.
    /// </summary>
    public static IReadOnlyDictionary<string, NpyArray> Read(string path) => Read(path, DataLimits.MaxNpzBytes);

    /// <summary>Reads an .npz whose entries may decompress to at most <paramref name="maxBytes"/> together (tests use a small bound).</summary>
    internal static IReadOnlyDictionary<string, NpyArray> Read(string path, long maxBytes)
    {
        try
        {
            using var file = File.OpenRead(path);
            RefuseNpy(file, path);
            using var zip = new ZipArchive(file, ZipArchiveMode.Read);
            // The central directory is read whole before it can be counted; its size, and so what it costs, is bounded
            // by the file's.
            var entries = zip.Entries;
            if (entries.Count > DataLimits.MaxNpzEntries)
                throw new DataException($"{path}: the archive holds {entries.Count:N0} entries; an .npz may hold at most {DataLimits.MaxNpzEntries} arrays");
            if (entries.Count == 0) throw new DataException($"{path}: the archive holds no arrays");
            // Every name is checked before any data is read.
            var keys = new string[entries.Count];
            var seen = new HashSet<string>(StringComparer.Ordinal);
            for (int i = 0; i < entries.Count; i++)
            {
                keys[i] = KeyOf(entries[i].FullName, path);
                if (!seen.Add(keys[i]))
                    throw new DataException($"{path}: the entry '{DataText.Show(entries[i].FullName)}' appears twice; each array of an .npz has a name of its own");
            }
            var arrays = new Dictionary<string, NpyArray>(StringComparer.Ordinal);
            long used = 0, elements = 0;
            for (int i = 0; i < entries.Count; i++)
            {
                var entry = entries[i];
                string name = DataText.Show(entry.FullName);
                string what = i == 0
                    ? $"entry '{name}', decompressed,"
                    : $"entry '{name}', decompressed after {used:N0} bytes of earlier entries (all entries together may hold {maxBytes:N0}),";
                using var data = new BoundedReadStream(Open(entry, path, name), maxBytes - used, path, what);
                // The directory's length is passed so that an entry whose size disagrees with its header is refused
                // before its data is read; the bound holds whether the directory tells the truth or not.
                var array = Npy.Read(data, $"{path}: {name}", entry.Length >= 0 ? entry.Length : (long?)null,
                    Math.Min(DataLimits.MaxArrayElements, DataLimits.MaxNpzElements - elements), $"what the archive's limit of {DataLimits.MaxNpzElements:N0} elements leaves");
                arrays.Add(keys[i], array);
                used += data.BytesRead;
                elements += array.Data.Length;
            }
            return arrays;
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or ArgumentException or IndexOutOfRangeException or OverflowException
            or NotSupportedException)
        {
            // .NET's zip reader has thrown each of these on malformed archives, not only InvalidDataException.
            throw new DataException($"{path}: not a readable .npz, which is a zip archive of .npy files as np.savez writes ({e.Message})");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DataException($"{path}: cannot read ({e.Message})");
        }
    }

    // A single .npy given where an .npz is expected gets a message that says so, rather than the zip reader's.
    private static void RefuseNpy(FileStream file, string path)
    {
        Span<byte> start = stackalloc byte[6];
        bool npy = file.ReadAtLeast(start, start.Length, throwOnEndOfStream: false) == start.Length && start.SequenceEqual(Npy.Magic);
        file.Position = 0;
        if (npy) throw new DataException($"{path}: this is a single .npy array, not an .npz archive; read it as a .npy");
    }

    // An entry's stream; an unsupported compression method or encryption is refused naming the entry.
    private static Stream Open(ZipArchiveEntry entry, string path, string name)
    {
        try
        {
            return entry.Open();
        }
        catch (Exception e) when (e is InvalidDataException or NotSupportedException)
        {
            throw new DataException($"{path}: the entry '{name}' cannot be opened ({e.Message}); np.savez stores or deflates its entries");
        }
    }

    // The array's name: the entry's name without ".npy". np.savez writes no folders, and a name that climbs out of
    // the archive or hides characters has no business in one.
    private static string KeyOf(string entryName, string path)
    {
        string shown = DataText.Show(entryName);
        if (entryName.Length > 255)
            throw new DataException($"{path}: the entry '{shown}' has a name of {entryName.Length:N0} characters; at most 255");
        foreach (char c in entryName)
            if (char.GetUnicodeCategory(c) is UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.LineSeparator
                or UnicodeCategory.ParagraphSeparator or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned)
                throw new DataException($"{path}: the entry '{shown}' has a name with an unprintable character; np.savez names entries after the arrays");
        if (entryName.Contains('/') || entryName.Contains('\\'))
            throw new DataException($"{path}: the entry '{shown}' is in a folder; an .npz holds NAME.npy entries at its top level, as np.savez writes");
        if (!entryName.EndsWith(".npy", StringComparison.Ordinal) || entryName.Length == ".npy".Length)
            throw new DataException($"{path}: the entry '{shown}' is not a NAME.npy array; an .npz holds only those, as np.savez writes");
        return entryName[..^".npy".Length];
    }
}
