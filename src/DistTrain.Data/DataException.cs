namespace DistTrain.Data;

/// <summary>Data that cannot be had or used; the message names the file or source and says what to do.</summary>
public sealed class DataException(string message, Exception? inner = null) : Exception(message, inner);
