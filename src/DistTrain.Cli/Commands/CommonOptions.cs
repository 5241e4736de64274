using DistTrain.Data;
using System.CommandLine;

namespace DistTrain.Cli.Commands;

/// <summary>Options several commands share, with their validation in one place.</summary>
public static class CommonOptions
{
    public static Option<string> Dataset() => new Option<string>("--dataset")
    {
        Description = "Dataset to use",
        DefaultValueFactory = _ => "mnist",
    }.AcceptOnlyFromAmong(DatasetCatalog.Names.ToArray());

    public static Option<string?> DataDir() => new("--data-dir")
    {
        Description = "Read the dataset from this directory: MNIST's IDX files, aclImdb, dataset.json, or train.csv|tsv|npz (and test.*); " +
            "its layout says which unless --dataset names it",
    };

    public static Option<string?> Data() => new("--data")
    {
        Description = "Train on your own data: a dataset description (JSON: format, train, test or test_fraction, label) or a .csv, .tsv or .npz file",
    };

    /// <summary>The dataset the user chose with --dataset (null when left at its default), --data and --data-dir.</summary>
    public static DataChoice ReadData(ParseResult p, Option<string> dataset, Option<string?> data, Option<string?> dataDir) =>
        DataChoice.Resolve(p.GetResult(dataset) is { Implicit: false } ? p.GetValue(dataset) : null, p.GetValue(data), p.GetValue(dataDir));

    public static Option<bool> Json() => new("--json") { Description = "Print the result as one JSON line, last on stdout" };

    public static Option<int> Threads() => Positive("--threads", 1, "Engine threads (honoured exactly)", max: 1024);

    public static Option<int> BatchSize(int fallback) => Positive("--batch-size", fallback, "Samples per batch");

    /// <summary>--batch-size whose default depends on the dataset (128 for MNIST, 32 for IMDB).</summary>
    public static Option<int?> OptionalBatchSize()
    {
        var o = new Option<int?>("--batch-size") { Description = "Samples per batch (default: 128 for MNIST, 32 for IMDB)" };
        o.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int?>() is < 1) r.AddError($"--batch-size must be at least 1, got {r.GetValueOrDefault<int?>()}");
        });
        return o;
    }

    public static Option<int> NumWords() => Positive("--num-words", 10_000, "IMDB: ids below this (3 reserved + the most frequent words)");

    public static Option<int> MaxLen() => Positive("--max-len", 256, "IMDB: pad or truncate reviews to this many ids");

    /// <summary>An integer option that must be at least 1.</summary>
    public static Option<int> Positive(string name, int fallback, string description, int max = int.MaxValue) =>
        Bounded(name, fallback, description, 1, max);

    /// <summary>An integer option that must lie in [min, max].</summary>
    public static Option<int> Bounded(string name, int fallback, string description, int min, int max = int.MaxValue)
    {
        var o = new Option<int>(name) { Description = description, DefaultValueFactory = _ => fallback };
        o.Validators.Add(r =>
        {
            int v = r.GetValueOrDefault<int>();
            if (v < min || v > max) r.AddError($"{name} must be between {min} and {max}, got {v}");
        });
        return o;
    }
}
