namespace DistTrain.Collectives;

/// <summary>
/// What every ring message says about itself, so that a receiver can check that both ranks are at the same point of
/// the same collective before it touches the payload.
/// </summary>
/// <param name="Operation">Which collective call this is, counted identically on every rank (the training step's bucket sequence).</param>
/// <param name="Phase">0 = reduce-scatter, 1 = all-gather (of an allreduce), 2 = broadcast.</param>
/// <param name="Step">The ring step within the phase, 0 … N − 2.</param>
/// <param name="Chunk">The pipelined chunk within the step's segment.</param>
/// <param name="Length">Floats in the payload.</param>
public readonly record struct RingMessageHeader(long Operation, int Phase, int Step, int Chunk, int Length)
{
    public override string ToString() =>
        $"operation {Operation}, {Phase switch { 0 => "reduce-scatter", 1 => "all-gather", _ => "broadcast" }} step {Step}, chunk {Chunk}, {Length} floats";
}
