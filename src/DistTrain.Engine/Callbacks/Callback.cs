using DistTrain.Engine.Model;

namespace DistTrain.Engine.Callbacks;

/// <summary>Hooks into Fit, Keras-style. Set <see cref="Sequential.StopTraining"/> to end training after the epoch.</summary>
public abstract class Callback
{
    public virtual void OnTrainBegin(Sequential model) { }
    public virtual void OnEpochBegin(int epoch) { }
    public virtual void OnBatchEnd(BatchLogs logs) { }
    public virtual void OnEpochEnd(int epoch, IReadOnlyDictionary<string, double> logs) { }
    public virtual void OnTrainEnd() { }
}
