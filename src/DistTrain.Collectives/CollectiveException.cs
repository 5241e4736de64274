namespace DistTrain.Collectives;

/// <summary>
/// A collective that cannot complete: a peer disagreed, went silent, or failed. The message names the peer and the
/// step; <see cref="SuspectRank"/> is the peer the failure points at (the neighbour whose link broke or fell silent),
/// which an elastic job's coordinator weighs when it decides who was lost.
/// </summary>
public sealed class CollectiveException(string message, Exception? inner = null, int suspectRank = -1) : Exception(message, inner)
{
    /// <summary>The rank the failure points at, or −1 when it points at no one in particular.</summary>
    public int SuspectRank { get; } = suspectRank;
}
