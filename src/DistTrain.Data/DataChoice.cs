namespace DistTrain.Data;

/// <summary>
/// Which dataset a command trains on, from what the user gave: a built-in by name (`--dataset mnist`), a dataset
/// description or a data file (`--data spec.json`, `--data iris.csv`), or a folder (`--data-dir DIR`), whose layout
/// says what it holds unless `--dataset` names it.
/// </summary>
/// <param name="Name">"mnist", "imdb", or the user's dataset's name (its description's or file's name).</param>
/// <param name="Dir">A built-in's folder in its standard layout, instead of the cache.</param>
/// <param name="Description">The user's dataset, when it is not a built-in.</param>
public sealed record DataChoice(string Name, string? Dir, DatasetDescription? Description)
{
    /// <summary>A folder that holds one of these is a dataset folder of that kind.</summary>
    private static readonly string[] Tables = ["csv", "tsv", "npz"];

    public bool BuiltIn => Description is null;

    /// <summary>Samples per global batch when none is given: the built-ins' own, else Keras's 32.</summary>
    public int DefaultBatchSize => BuiltIn ? DatasetCatalog.DefaultBatchSize(Name) : 32;

    /// <summary>Reads the data (the built-ins from <see cref="Dir"/> or the cache).</summary>
    public Dataset Load(Action<string> log, TokenizerOptions? text = null) =>
        Description?.Read(log) ?? DatasetCatalog.Load(Name, Dir, log, text);

    /// <param name="name">`--dataset` when the user gave it, else null.</param>
    /// <param name="data">`--data`: a description (.json) or one .csv, .tsv or .npz file.</param>
    /// <param name="dir">`--data-dir`.</param>
    public static DataChoice Resolve(string? name, string? data, string? dir)
    {
        if (data is not null)
        {
            if (name is not null || dir is not null) throw new DataException("--data names the dataset itself; give it without --dataset or --data-dir");
            return ForFile(data);
        }
        if (dir is null || name is not null) return new DataChoice(name ?? "mnist", dir, null);
        return Detect(dir);
    }

    /// <summary>A description file, or a bare data file read as an implied one (a CSV or TSV holds out 20% for testing).</summary>
    public static DataChoice ForFile(string path)
    {
        if (!File.Exists(path)) throw new DataException($"--data {path}: no such file");
        string extension = Path.GetExtension(path).TrimStart('.').ToLowerInvariant();
        var description = extension == "json" ? DatasetDescription.Load(path)
            : Tables.Contains(extension) ? DatasetDescription.ForFile(path, extension)
            : throw new DataException($"--data {path}: expected a dataset description (.json) or a .csv, .tsv or .npz file");
        return new DataChoice(Path.GetFileNameWithoutExtension(path), null, description);
    }

    // What a folder holds, by its layout: a description, MNIST's IDX files, aclImdb, or train (and test) files.
    private static DataChoice Detect(string dir)
    {
        if (!Directory.Exists(dir)) throw new DataException($"--data-dir {dir}: no such directory");
        string At(string file) => Path.Combine(dir, file);
        if (File.Exists(At("dataset.json"))) return ForFile(At("dataset.json"));
        if (File.Exists(At("train-images-idx3-ubyte")) || File.Exists(At("train-images-idx3-ubyte.gz"))) return new DataChoice("mnist", dir, null);
        if (Directory.Exists(At(Path.Combine("train", "pos")))) return new DataChoice("imdb", dir, null);
        foreach (string format in Tables)
            if (File.Exists(At("train." + format)))
            {
                string? test = File.Exists(At("test." + format)) ? "test." + format : null;
                var d = DatasetDescription.ForFile(At("train." + format), format) with { Test = test, TestFraction = test is null && format != "npz" ? 0.2 : 0 };
                return new DataChoice(Path.GetFileName(Path.GetFullPath(dir).TrimEnd(Path.DirectorySeparatorChar)), null, d);
            }
        throw new DataException($"--data-dir {dir}: found no dataset: missing train-images-idx3-ubyte (MNIST's IDX files), dataset.json, " +
            "aclImdb's train/pos, and train.csv, train.tsv or train.npz (with test.* beside it, else 20% of the rows are held out); " +
            "or name the dataset with --dataset");
    }
}
