using DistTrain.Data;
using DistTrain.Engine.Model;
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
        if (UploadedDataset.TryParse(spec.Dataset, out string name, out string uploaded))
            return Uploaded(uploaded) ?? throw new ArgumentException(
                $"this coordinator holds no dataset {name} with SHA-256 {uploaded[..12]}…; `submit --data` uploads it before it submits the job");
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
            return _prepared[key] = new PreparedDataset(digest, path, data.TrainCount, data.TestCount, data.TrainX.Shape[1..], LabelStats.Of(data.TrainY));
        }
    }

    /// <summary>
    /// One upload at a time: each may take a gigabyte of disk while it arrives and a pass over it to check, and a
    /// client that opened many at once must not multiply that.
    /// </summary>
    public SemaphoreSlim Uploads { get; } = new(1, 1);

    /// <summary>Disk an upload must leave free beyond its own size.</summary>
    public const long FreeSpaceMargin = 1L << 30;

    /// <summary>
    /// Removes what uploads cut off by a crash left behind (a temporary file an hour old is no upload still running,
    /// which the deadline of <c>DatasetsService</c> ends well before). Called when the coordinator starts.
    /// </summary>
    public static void SweepUploads()
    {
        foreach (string tmp in Directory.EnumerateFiles(Folder, "upload-*.tmp"))
            if (DateTime.UtcNow - File.GetLastWriteTimeUtc(tmp) > TimeSpan.FromHours(1)) File.Delete(tmp);
    }

    /// <summary>The largest dataset file a client may upload: the readers' own cap on values, as float32, and some.</summary>
    public const long MaxUploadBytes = DataLimits.MaxTableValues * 4L + (64L << 20);

    /// <summary>A file a client uploaded, not yet trusted: a temporary file in <see cref="UploadFolder"/>.</summary>
    public static string UploadFolder => Folder;

    /// <summary>
    /// Keeps an uploaded dataset file once it hashes to <paramref name="digest"/> and checks out as a dataset file
    /// (<see cref="DatasetFile.Inspect"/>: its shapes against its bytes, its splits, its labels, without loading it);
    /// deletes it otherwise. Throws <see cref="DataException"/> naming the fault.
    /// </summary>
    public PreparedDataset Store(string uploadedPath, string digest)
    {
        try
        {
            if (DatasetFile.Digest(uploadedPath) != digest) throw new DataException($"the uploaded file does not hash to {digest}; it was damaged on the way");
            int[][] shapes;
            LabelStats labels;
            try
            {
                (shapes, labels) = DatasetFile.Inspect(uploadedPath);
            }
            catch (DataException e)
            {
                // The client is told what is wrong with its file, not where this coordinator keeps it.
                throw new DataException(e.Message.Replace(uploadedPath, "the uploaded dataset file"));
            }
            if (shapes[0][0] == 0) throw new DataException("the uploaded dataset has no training samples");
            string path = Path.Combine(Folder, $"{digest}.dtd");
            File.Move(uploadedPath, path, overwrite: true);
            File.WriteAllText(path + DigestSuffix, digest);
            log($"an uploaded dataset of {shapes[0][0]:N0} training and {shapes[2][0]:N0} test samples, serving it as {digest[..12]}…");
            lock (_lock) return _prepared[digest] = new PreparedDataset(digest, path, shapes[0][0], shapes[2][0], shapes[0][1..], labels);
        }
        finally
        {
            File.Delete(uploadedPath);
        }
    }

    /// <summary>An uploaded dataset this coordinator (or another on this disk) keeps, by digest; null if none.</summary>
    public PreparedDataset? Uploaded(string digest)
    {
        lock (_lock)
            if (_prepared.TryGetValue(digest, out var known)) return known;
        // Kept from an earlier upload (by this coordinator before a restart, or another on this disk): checked again
        // once, its labels counted, so that jobs on it are checked as on a fresh upload.
        if (Find(digest) is not { } found) return null;
        try
        {
            found = found with { TrainLabels = DatasetFile.Inspect(found.Path).TrainLabels };
        }
        catch (DataException e)
        {
            log($"warning: the kept dataset {digest[..12]}… is damaged, and is not served: {e.Message}");
            return null;
        }
        lock (_lock) return _prepared[digest] = found;
    }

    /// <summary>A dataset file prepared earlier, by any coordinator on this disk, found by its digest; null if none.</summary>
    public static PreparedDataset? Find(string digest)
    {
        foreach (string sidecar in Directory.EnumerateFiles(Folder, "*.dtd" + DigestSuffix))
        {
            string path = sidecar[..^DigestSuffix.Length];
            if (File.Exists(path) && File.ReadAllText(sidecar).Trim() == digest)
            {
                try
                {
                    var shapes = DatasetFile.ReadShapes(path);
                    return new PreparedDataset(digest, path, shapes[0][0], shapes[2][0], shapes[0][1..]);
                }
                catch (DataException)
                {
                    return null; // damaged: not served (a caller is told it is not found, never where it lay)
                }
            }
        }
        return null;
    }
}
