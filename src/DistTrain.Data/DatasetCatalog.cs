namespace DistTrain.Data;

/// <summary>The datasets known by name, and their defaults.</summary>
public static class DatasetCatalog
{
    public static IEnumerable<string> Names => ["mnist", "imdb"];

    /// <summary>The batch size the workloads are defined with: 128 for MNIST, 32 for IMDB.</summary>
    public static int DefaultBatchSize(string name) => name == "imdb" ? 32 : 128;

    /// <summary>Loads a dataset by name, from <paramref name="dataDir"/> or the cache; progress notes go to <paramref name="log"/>.</summary>
    public static Dataset Load(string name, string? dataDir, Action<string> log, TokenizerOptions? text = null) => name switch
    {
        "mnist" => Mnist.Load(dataDir, log),
        "imdb" => Imdb.Load(dataDir, text ?? new TokenizerOptions(), log),
        _ => throw new ArgumentException($"unknown dataset '{name}'; expected one of {string.Join(", ", Names)}"),
    };
}
