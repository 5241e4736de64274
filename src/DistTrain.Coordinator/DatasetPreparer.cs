using DistTrain.Data;
using DistTrain.Protos;

namespace DistTrain.Coordinator;

/// <summary>
/// Turns a job's dataset name (and tokenizer settings) into one dataset file that workers fetch by SHA-256. Each
/// distinct setting is prepared once per coordinator; the files live under the data cache's "datasets" folder, each
/// with its digest beside it, so that a restarted coordinator (or another one on the same disk) finds them again.
/// </summary>
public sealed class DatasetPreparer(string? dataDir, Action<string> log)
{
    private const string DigestSuffix = ".sha256";
    private readonly Dictionary<string, PreparedDataset> _prepared = [];
    private readonly object _lock = new();

    private static string Folder => Directory.CreateDirectory(Path.Combine(DataCache.Root, "datasets")).FullName;

    public PreparedDataset Prepare(JobSpec spec)
    {
        var text = new TokenizerOptions(spec.NumWords > 0 ? spec.NumWords : 10_000, spec.MaxLen > 0 ? spec.MaxLen : 256);
        string key = spec.Dataset == "imdb" ? $"imdb-{text.Key}" : spec.Dataset;
        lock (_lock)
        {
            if (_prepared.TryGetValue(key, out var ready)) return ready;
            var data = DatasetCatalog.Load(spec.Dataset, dataDir, log, text);
            string path = Path.Combine(Folder, $"{key}.dtd");
            string digest = DatasetFile.Write(data, path);
            File.WriteAllText(path + DigestSuffix, digest);
            log($"{data.Describe()}; serving it as {digest[..12]}…");
            return _prepared[key] = new PreparedDataset(digest, path, data.TrainCount, data.TestCount, data.TrainX.Shape[1..]);
        }
    }

    /// <summary>A dataset file prepared earlier, by any coordinator on this disk, found by its digest; null if none.</summary>
    public static PreparedDataset? Find(string digest)
    {
        foreach (string sidecar in Directory.EnumerateFiles(Folder, "*.dtd" + DigestSuffix))
        {
            string path = sidecar[..^DigestSuffix.Length];
            if (File.Exists(path) && File.ReadAllText(sidecar).Trim() == digest)
                return new PreparedDataset(digest, path, 0, 0, []); // serving needs only the file; its counts are in the job's record
        }
        return null;
    }
}
