using System.Diagnostics;
using DistTrain.Engine.Model;

namespace DistTrain.Worker;

/// <summary>
/// A copy of a replica's training state at a step: parameters, batch-norm state, optimizer slots and step count, and
/// where training stands. Taking it is the only pause a checkpoint costs training (a copy of a few MB); turning it into a
/// model file and uploading it happen in the background (<see cref="CheckpointUploader"/>).
/// </summary>
public sealed record CheckpointSnapshot(string SpecJson, float[] Values, float[] State, long Iterations, float[][] Slots,
    TrainingCheckpoint Training, bool Final, TimeSpan CopyTime)
{
    public static CheckpointSnapshot Take(Sequential model, string specJson, TrainingCheckpoint training, bool final)
    {
        long started = Stopwatch.GetTimestamp();
        var values = (float[])model.Store.Values.Clone();
        var state = (float[])model.Store.State.Clone();
        var slots = model.Optimizer!.Slots.Select(s => (float[])s.Clone()).ToArray();
        return new CheckpointSnapshot(specJson, values, state, model.Optimizer.Iterations, slots, training, final, Stopwatch.GetElapsedTime(started));
    }

    /// <summary>The model file's bytes (format v2).</summary>
    public byte[] Serialize() => ModelFile.Serialize(SpecJson, Values, State, Iterations, Slots, Training);

    /// <summary>"epoch 3, step 40" (1-based epoch in progress), or "after epoch 2" at an epoch's end.</summary>
    public string Where => Training.Step == 0 ? $"after epoch {Training.Epoch}" : $"epoch {Training.Epoch + 1}, step {Training.Step}";
}
