using DistTrain.Engine.Callbacks;
using DistTrain.Engine.Model;

namespace DistTrain.Worker;

/// <summary>
/// A user's Keras-style callbacks, driven by a distributed run on this rank, and the <see cref="History"/> its Fit
/// returns. The epoch figures are the job's, combined over all ranks (every rank sees the same), so a callback that
/// decides on them (early stopping) decides alike everywhere; rank 0's decision is the one that counts
/// (<see cref="DistributedTrainer.StopAfterEpoch"/>). A batch's figures are this rank's own slice's.
/// </summary>
/// <param name="validation">Whether the run has validation data: the epoch's test figures are then val_loss and val_accuracy.</param>
public sealed class FitCallbacks(Sequential model, IReadOnlyList<Callback> callbacks, bool validation)
{
    private int _epoch = -1;
    private long _seen;
    private double _lossSum;

    /// <summary>One entry per finished epoch, as <see cref="Sequential.Fit"/> returns it.</summary>
    public History History { get; } = new();

    public void TrainBegin()
    {
        model.StopTraining = false;
        foreach (var c in callbacks) c.OnTrainBegin(model);
    }

    /// <param name="step">Epoch and step from 1, as the trainer counts them; callbacks count from 0, as Fit does.</param>
    public void Step(StepStats step)
    {
        if (step.Epoch - 1 != _epoch)
        {
            (_epoch, _seen, _lossSum) = (step.Epoch - 1, 0, 0);
            foreach (var c in callbacks) c.OnEpochBegin(_epoch);
        }
        _seen += step.Samples;
        _lossSum += step.Loss * step.Samples;
        var logs = new BatchLogs(_epoch, step.Step - 1, step.StepsPerEpoch, _seen, _lossSum / Math.Max(1, _seen), 0);
        foreach (var c in callbacks) c.OnBatchEnd(logs);
    }

    public void Epoch(EpochResult e)
    {
        // A re-formed ring's rank 0 reports the finished epochs again; each is recorded and told once.
        if (e.Epoch <= History.Epochs) return;
        var logs = new Dictionary<string, double> { ["loss"] = e.Loss };
        if (model.Metrics.Count > 0) logs["accuracy"] = e.Accuracy;
        if (validation)
        {
            logs["val_loss"] = e.TestLoss;
            if (model.Metrics.Count > 0) logs["val_accuracy"] = e.TestAccuracy;
        }
        History.Record(logs);
        foreach (var c in callbacks) c.OnEpochEnd(e.Epoch - 1, logs);
    }

    public void TrainEnd()
    {
        foreach (var c in callbacks) c.OnTrainEnd();
    }
}
