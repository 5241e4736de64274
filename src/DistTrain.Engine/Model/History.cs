namespace DistTrain.Engine.Model;

/// <summary>What Fit returns: one value per epoch for each logged quantity (loss, accuracy, val_loss, ...).</summary>
public sealed class History
{
    private readonly Dictionary<string, List<double>> _values = [];

    /// <summary>Per-epoch values by name.</summary>
    public IReadOnlyDictionary<string, List<double>> Values => _values;

    /// <summary>Epochs actually run (fewer than asked when a callback stopped training).</summary>
    public int Epochs { get; private set; }

    /// <summary>Adds one epoch's logs: Fit does, and so does a distributed run (DistTrain.Distributed).</summary>
    public void Record(IReadOnlyDictionary<string, double> logs)
    {
        foreach (var (k, v) in logs)
        {
            if (!_values.TryGetValue(k, out var list)) _values[k] = list = [];
            list.Add(v);
        }
        Epochs++;
    }

    /// <summary>The series for <paramref name="name"/>.</summary>
    public IReadOnlyList<double> this[string name] => _values.TryGetValue(name, out var v)
        ? v : throw new KeyNotFoundException($"history has no '{name}'; it has {string.Join(", ", _values.Keys)}");
}

/// <summary>Loss and accuracy over a dataset.</summary>
public readonly record struct EvaluationResult(double Loss, double Accuracy, int Samples);

/// <summary>What a callback learns after each batch.</summary>
public readonly record struct BatchLogs(int Epoch, int Batch, int BatchesPerEpoch, long SamplesSeen, double Loss, double Accuracy);
