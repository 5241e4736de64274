using System.CommandLine;

namespace DistTrain.Cli.Commands;

/// <summary>Options several commands share, with their validation in one place.</summary>
public static class CommonOptions
{
    public static Option<string> Dataset() => new Option<string>("--dataset")
    {
        Description = "Dataset to use",
        DefaultValueFactory = _ => "mnist",
    }.AcceptOnlyFromAmong(Datasets.Names.ToArray());

    public static Option<string?> DataDir() => new("--data-dir")
    {
        Description = "Read the dataset from this directory (standard layout) instead of the cache",
    };

    public static Option<bool> Json() => new("--json") { Description = "Print the result as one JSON line, last on stdout" };

    public static Option<int> Threads() => Positive("--threads", 1, "Engine threads (honoured exactly)", max: 1024);

    public static Option<int> BatchSize(int fallback) => Positive("--batch-size", fallback, "Samples per batch");

    /// <summary>An integer option that must be at least 1.</summary>
    public static Option<int> Positive(string name, int fallback, string description, int max = int.MaxValue)
    {
        var o = new Option<int>(name) { Description = description, DefaultValueFactory = _ => fallback };
        o.Validators.Add(r =>
        {
            int v = r.GetValueOrDefault<int>();
            if (v < 1 || v > max) r.AddError($"{name} must be between 1 and {max}, got {v}");
        });
        return o;
    }
}
