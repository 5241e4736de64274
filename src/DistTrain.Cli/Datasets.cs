using DistTrain.Data;

namespace DistTrain.Cli;

/// <summary>The datasets the CLI knows by name.</summary>
public static class Datasets
{
    public static IEnumerable<string> Names => ["mnist"];

    /// <summary>Loads a dataset by name, from <paramref name="dataDir"/> or the cache; progress notes go to <paramref name="log"/>.</summary>
    public static Dataset Load(string name, string? dataDir, Action<string> log) => name switch
    {
        "mnist" => Mnist.Load(dataDir, log),
        _ => throw new ArgumentException($"unknown dataset '{name}'; expected one of {string.Join(", ", Names)}"),
    };
}
