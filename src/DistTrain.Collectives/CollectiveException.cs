namespace DistTrain.Collectives;

/// <summary>A collective that cannot complete: a peer disagreed, went silent, or failed. The message names the peer and the step.</summary>
public sealed class CollectiveException(string message, Exception? inner = null) : Exception(message, inner);
