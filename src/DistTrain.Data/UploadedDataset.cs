namespace DistTrain.Data;

/// <summary>
/// How a job names a dataset a client uploaded to the coordinator (`submit --data`): "NAME@sha256:DIGEST", the name
/// for people (jobs, status, the page) and the digest for the file, which workers fetch by it.
/// </summary>
public static class UploadedDataset
{
    private const string Separator = "@sha256:";

    public static string Reference(string name, string digest)
    {
        var clean = new string([.. name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '-')]);
        return (clean.Length == 0 ? "data" : clean[..Math.Min(clean.Length, 64)]) + Separator + digest;
    }

    /// <summary>The name and digest of a reference; false for a built-in's name such as "mnist".</summary>
    public static bool TryParse(string dataset, out string name, out string digest)
    {
        int at = dataset.IndexOf(Separator, StringComparison.Ordinal);
        (name, digest) = at < 0 ? (dataset, "") : (dataset[..at], dataset[(at + Separator.Length)..]);
        if (at < 0) return false;
        if (!DatasetFile.IsDigest(digest))
            throw new ArgumentException($"dataset '{DataText.Show(dataset)}': an uploaded dataset's digest is 64 lower-case hex digits");
        return true;
    }

    /// <summary>What to show for a job's dataset: an upload's name, or the built-in's.</summary>
    public static string DisplayName(string dataset)
    {
        int at = dataset.IndexOf(Separator, StringComparison.Ordinal);
        return at < 0 ? dataset : dataset[..at];
    }
}
