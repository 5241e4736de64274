using System.Runtime.InteropServices;
using DistTrain.Collectives;
using DistTrain.Engine.Model;

namespace DistTrain.Worker;

/// <summary>
/// A replica's whole training state as one flat buffer, and the agreement on it when a ring forms. Layout:
/// <code>[ parameters | batch-norm state | optimizer slot 0 … S−1 | progress (doubles, two floats each) ]</code>
/// When a ring (re)forms, every member states its position and a hash of its parameters. The most advanced member
/// (the lowest rank among equals) is the source; if anyone differs from it (a joiner, or a member that had not yet
/// applied the step a failure interrupted), the source's buffer goes round the ring once (<see cref="RingBroadcast"/>)
/// and every member continues from exactly its state.
/// </summary>
public static class ReplicaState
{
    /// <summary>Floats in the buffer for this model (its optimizer's slots laid out first) and a plan of <paramref name="epochs"/> epochs.</summary>
    public static int Length(Sequential model, int epochs)
    {
        var store = model.Store;
        model.Optimizer!.EnsureSlots(store.Values.Length);
        return store.Values.Length * (1 + model.Optimizer.Slots.Count) + store.State.Length + 2 * TrainingProgress.Length(epochs);
    }

    public static void Write(Sequential model, TrainingProgress progress, Span<float> buffer)
    {
        var store = model.Store;
        int at = 0;
        Put(store.Values, buffer, ref at);
        Put(store.State, buffer, ref at);
        foreach (var slot in model.Optimizer!.Slots) Put(slot, buffer, ref at);
        progress.WriteTo(MemoryMarshal.Cast<float, double>(buffer[at..]), model.Optimizer.Iterations);
    }

    public static void Read(Sequential model, TrainingProgress progress, ReadOnlySpan<float> buffer)
    {
        var store = model.Store;
        int at = 0;
        Take(buffer, store.Values, ref at);
        Take(buffer, store.State, ref at);
        var slots = model.Optimizer!.Slots.ToArray();
        foreach (var slot in slots) Take(buffer, slot, ref at);
        long iterations = progress.ReadFrom(MemoryMarshal.Cast<float, double>(buffer[at..]));
        model.Optimizer.Restore(iterations, slots);
    }

    /// <summary>
    /// Brings every member of a newly formed ring to the most advanced member's state. Returns the source rank and
    /// whether a transfer was needed. Uses operations <paramref name="operation"/> and the one after it.
    /// </summary>
    public static async Task<(int Source, bool Transferred)> SynchronizeAsync(Sequential model, TrainingProgress progress, int stepsPerEpoch, int epochs,
        RingAllreduce ring, RingBroadcast broadcast, long operation, CancellationToken cancellationToken)
    {
        int n = ring.Transport.WorldSize, rank = ring.Transport.Rank;
        if (n == 1) return (0, false);
        // Rank r writes [position (two 16-bit halves), hash (four 16-bit pieces)] into slots [6r, 6r + 6): the sum
        // holds every rank's, exactly.
        long position = progress.Position(stepsPerEpoch);
        ulong hash = ParameterHash.Of(model.Store.Values, model.Store.State);
        var slots = new float[6 * n];
        slots[6 * rank] = position & 0xFFFF;
        slots[6 * rank + 1] = (position >> 16) & 0xFFFF;
        for (int i = 0; i < 4; i++) slots[6 * rank + 2 + i] = (hash >> (16 * i)) & 0xFFFF;
        await ring.AllreduceAsync(slots, operation, average: false, cancellationToken).ConfigureAwait(false);
        var positions = new long[n];
        var hashes = new ulong[n];
        for (int r = 0; r < n; r++)
        {
            positions[r] = (long)slots[6 * r] | (long)slots[6 * r + 1] << 16;
            for (int i = 0; i < 4; i++) hashes[r] |= (ulong)slots[6 * r + 2 + i] << (16 * i);
        }
        int source = 0;
        for (int r = 1; r < n; r++) if (positions[r] > positions[source]) source = r;
        bool agree = Enumerable.Range(0, n).All(r => positions[r] == positions[source] && hashes[r] == hashes[source]);
        if (agree) return (source, false);
        var buffer = new float[Length(model, epochs)];
        if (rank == source) Write(model, progress, buffer);
        await broadcast.BroadcastAsync(buffer, source, operation + 1, cancellationToken).ConfigureAwait(false);
        if (rank != source) Read(model, progress, buffer);
        return (source, true);
    }

    private static void Put(ReadOnlySpan<float> from, Span<float> buffer, ref int at)
    {
        from.CopyTo(buffer.Slice(at, from.Length));
        at += from.Length;
    }

    private static void Take(ReadOnlySpan<float> buffer, Span<float> to, ref int at)
    {
        buffer.Slice(at, to.Length).CopyTo(to);
        at += to.Length;
    }
}
