using DistTrain.Engine.Model;

namespace DistTrain.Engine.Callbacks;

/// <summary>
/// Stops training when <see cref="Monitor"/> has not improved by more than <see cref="MinDelta"/> for
/// <see cref="Patience"/> epochs, as Keras' EarlyStopping does. Mode "auto" maximises names containing "acc" and
/// minimises the rest. With <see cref="RestoreBestWeights"/>, the best epoch's weights (and batch-norm state) are
/// put back when it stops.
/// </summary>
public sealed class EarlyStopping : Callback
{
    private Sequential _model = null!;
    private double _best;
    private int _wait;
    private float[]? _bestValues, _bestState;

    public EarlyStopping(string monitor = "val_loss", int patience = 0, double minDelta = 0, string mode = "auto", bool restoreBestWeights = false)
    {
        if (patience < 0) throw new ArgumentOutOfRangeException(nameof(patience), patience, "patience must be ≥ 0");
        if (mode is not ("auto" or "min" or "max")) throw new ArgumentException($"mode must be auto, min or max, got '{mode}'");
        Monitor = monitor;
        Patience = patience;
        MinDelta = Math.Abs(minDelta);
        Maximize = mode == "max" || mode == "auto" && monitor.Contains("acc", StringComparison.Ordinal);
        RestoreBestWeights = restoreBestWeights;
    }

    public string Monitor { get; }
    public int Patience { get; }
    public double MinDelta { get; }
    public bool Maximize { get; }
    public bool RestoreBestWeights { get; }

    /// <summary>The epoch (0-based) at which training was stopped, or −1.</summary>
    public int StoppedEpoch { get; private set; } = -1;

    /// <summary>The epoch (0-based) with the best monitored value.</summary>
    public int BestEpoch { get; private set; } = -1;

    public override void OnTrainBegin(Sequential model)
    {
        _model = model;
        _best = Maximize ? double.NegativeInfinity : double.PositiveInfinity;
        _wait = 0;
        StoppedEpoch = BestEpoch = -1;
    }

    public override void OnEpochEnd(int epoch, IReadOnlyDictionary<string, double> logs)
    {
        if (!logs.TryGetValue(Monitor, out double value))
            throw new InvalidOperationException(
                $"EarlyStopping monitors '{Monitor}', which Fit does not log; available: {string.Join(", ", logs.Keys)}");
        bool improved = Maximize ? value > _best + MinDelta : value < _best - MinDelta;
        if (improved)
        {
            _best = value;
            BestEpoch = epoch;
            _wait = 0;
            if (RestoreBestWeights)
            {
                _bestValues = _model.Store.Values.ToArray();
                _bestState = _model.Store.State.ToArray();
            }
            return;
        }
        _wait++;
        if (_wait >= Patience && epoch > 0)
        {
            StoppedEpoch = epoch;
            _model.StopTraining = true;
            if (RestoreBestWeights && _bestValues is not null)
            {
                _bestValues.CopyTo(_model.Store.Values, 0);
                _bestState!.CopyTo(_model.Store.State, 0);
            }
        }
    }
}
