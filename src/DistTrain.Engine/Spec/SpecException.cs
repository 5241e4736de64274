namespace DistTrain.Engine.Spec;

/// <summary>A model spec or model file that cannot be used; the message names the field and what was expected.</summary>
public sealed class SpecException(string message) : Exception(message);
