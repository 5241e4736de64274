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
    /// <param name="reuse">A snapshot that is done with (uploaded or superseded): its arrays are written over, which
    /// spares the page faults of fresh ones (a 45 MB copy takes several times longer into new memory).</param>
    public static CheckpointSnapshot Take(Sequential model, string specJson, TrainingCheckpoint training, bool final, CheckpointSnapshot? reuse = null)
    {
        long started = Stopwatch.GetTimestamp();
        var values = Copy(model.Store.Values, reuse?.Values);
        var state = Copy(model.Store.State, reuse?.State);
        var from = model.Optimizer!.Slots;
        var slots = new float[from.Count][];
        for (int i = 0; i < slots.Length; i++) slots[i] = Copy(from[i], reuse is not null && i < reuse.Slots.Length ? reuse.Slots[i] : null);
        return new CheckpointSnapshot(specJson, values, state, model.Optimizer.Iterations, slots, training, final, Stopwatch.GetElapsedTime(started));
    }

    private static float[] Copy(float[] from, float[]? into)
    {
        if (into is null || into.Length != from.Length) return (float[])from.Clone();
        from.CopyTo(into, 0);
        return into;
    }

    /// <summary>The model file's bytes (format v2).</summary>
    public byte[] Serialize() => ModelFile.Serialize(SpecJson, Values, State, Iterations, Slots, Training);

    /// <summary>Where the snapshot stands (<see cref="TrainingCheckpoint.Describe"/>).</summary>
    public string Where => Training.Where;
}
