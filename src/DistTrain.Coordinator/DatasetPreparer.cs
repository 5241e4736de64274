using DistTrain.Data;
using DistTrain.Protos;

namespace DistTrain.Coordinator;

/// <summary>
/// Turns a job's dataset name (and tokenizer settings) into one dataset file that workers fetch by SHA-256. Each
/// distinct setting is prepared once per coordinator; the files live under the data cache's "datasets" folder.
/// </summary>
public sealed class DatasetPreparer(string? dataDir, Action<string> log)
{
    private readonly Dictionary<string, PreparedDataset> _prepared = [];
    private readonly object _lock = new();

    public PreparedDataset Prepare(JobSpec spec)
    {
        var text = new TokenizerOptions(spec.NumWords > 0 ? spec.NumWords : 10_000, spec.MaxLen > 0 ? spec.MaxLen : 256);
        string key = spec.Dataset == "imdb" ? $"imdb-{text.Key}" : spec.Dataset;
        lock (_lock)
        {
            if (_prepared.TryGetValue(key, out var ready)) return ready;
            var data = DatasetCatalog.Load(spec.Dataset, dataDir, log, text);
            string folder = Directory.CreateDirectory(Path.Combine(DataCache.Root, "datasets")).FullName;
            string path = Path.Combine(folder, $"{key}.dtd");
            string digest = DatasetFile.Write(data, path);
            log($"{data.Describe()}; serving it as {digest[..12]}…");
            return _prepared[key] = new PreparedDataset(digest, path, data.TrainCount, data.TestCount, data.TrainX.Shape[1..]);
        }
    }
}
