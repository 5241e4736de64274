using DistTrain.Engine;

namespace DistTrain.Data;

/// <summary>A train/test split of inputs and targets, with where it came from.</summary>
/// <param name="TrainX">(N, ...) inputs</param>
/// <param name="TrainY">(N) labels</param>
/// <param name="Source">Where the data came from, for the user: a directory, a cache entry, a package.</param>
public sealed record Dataset(string Name, Tensor TrainX, Tensor TrainY, Tensor TestX, Tensor TestY, string Source)
{
    public int TrainCount => TrainX.Batch;
    public int TestCount => TestX.Batch;

    /// <summary>Anything else worth telling the user (the vocabulary, for text).</summary>
    public string? Details { get; init; }

    public string Describe() => $"{Name}: {TrainCount:N0} train / {TestCount:N0} test samples from {Source}" + (Details is null ? "" : $"; {Details}");
}
