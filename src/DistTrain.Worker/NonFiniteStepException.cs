namespace DistTrain.Worker;

/// <summary>A job skipped more steps with a non-finite reduced gradient than its --max-skipped-steps allows; the message names the step.</summary>
public sealed class NonFiniteStepException(string message) : InvalidOperationException(message);
