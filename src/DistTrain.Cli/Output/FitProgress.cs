using System.Diagnostics;
using DistTrain.Engine.Callbacks;
using DistTrain.Engine.Model;
using Spectre.Console;

namespace DistTrain.Cli.Output;

/// <summary>
/// A Spectre.Console progress bar per epoch with samples/s, loss and accuracy, and a summary line per epoch.
/// Also measures the time spent in training steps, which is what the reported samples/s is based on.
/// </summary>
public sealed class FitProgress(ProgressContext context, int epochs) : Callback
{
    private ProgressTask? _task;
    private readonly Stopwatch _epochClock = new();

    /// <summary>Wall time spent inside epochs (training steps and validation).</summary>
    public TimeSpan TrainingTime { get; private set; }

    /// <summary>Samples trained on, over all epochs.</summary>
    public long Samples { get; private set; }

    public override void OnEpochBegin(int epoch)
    {
        _task = context.AddTask($"epoch {epoch + 1}/{epochs}");
        _epochClock.Restart();
    }

    public override void OnBatchEnd(BatchLogs logs)
    {
        if (_task is null) return;
        _task.MaxValue = logs.BatchesPerEpoch;
        _task.Value = logs.Batch + 1;
        if (logs.Batch % 8 == 0 || logs.Batch + 1 == logs.BatchesPerEpoch)
        {
            double rate = logs.SamplesSeen / Math.Max(_epochClock.Elapsed.TotalSeconds, 1e-9);
            _task.Description = $"epoch {logs.Epoch + 1}/{epochs}  loss {logs.Loss:F4}  acc {logs.Accuracy:F4}  {rate,8:N0} samples/s";
        }
        if (logs.Batch + 1 == logs.BatchesPerEpoch) Samples += logs.SamplesSeen;
    }

    public override void OnEpochEnd(int epoch, IReadOnlyDictionary<string, double> logs)
    {
        _epochClock.Stop();
        TrainingTime += _epochClock.Elapsed;
        _task?.StopTask();
        string line = string.Join("  ", logs.Select(kv => $"{kv.Key} {kv.Value:F4}"));
        context.Refresh();
        Terminal.Error.MarkupLineInterpolated($"[grey]epoch {epoch + 1}/{epochs}[/]  {line}  {_epochClock.Elapsed.TotalSeconds:F1}s");
    }
}
