using System.Text.Json.Nodes;
using DistTrain.Protos;
using Spectre.Console;

namespace DistTrain.Cli.Output;

/// <summary>How `status` and `jobs` show a job: a table for people, one JSON object for scripts.</summary>
public static class JobViews
{
    public static string StatusName(JobStatus s) => s.ToString().ToLowerInvariant();

    /// <summary>{"job","status","epoch","step","workers","history":[{"epoch","loss","accuracy",…,"samples","lost_samples","duplicated_samples"}],"events":[…],"error"}</summary>
    public static JsonObject Status(Job job) => new()
    {
        ["job"] = job.Id,
        ["name"] = job.Spec.Name,
        ["launch_id"] = job.Spec.LaunchId.Length > 0 ? job.Spec.LaunchId : null,
        ["status"] = StatusName(job.Status),
        ["epoch"] = job.Epoch,
        ["step"] = job.Step,
        ["workers"] = job.Workers.Count,
        ["history"] = new JsonArray([.. job.History.Select(e => (JsonNode)new JsonObject
        {
            ["epoch"] = e.Epoch, ["loss"] = Math.Round(e.Loss, 6), ["accuracy"] = Math.Round(e.Accuracy, 6),
            ["test_loss"] = Math.Round(e.TestLoss, 6), ["test_accuracy"] = Math.Round(e.TestAccuracy, 6),
            ["samples_per_second"] = Math.Round(e.SamplesPerSecond, 1), ["seconds"] = Math.Round(e.Seconds, 3),
            ["samples"] = e.Samples, ["lost_samples"] = e.LostSamples, ["duplicated_samples"] = e.DuplicatedSamples,
        })]),
        ["events"] = new JsonArray([.. job.Events.Select(e => (JsonNode)new JsonObject
        {
            ["time"] = DateTimeOffset.FromUnixTimeMilliseconds(e.TimeUnixMs).ToString("O"), ["old_world"] = e.OldWorld, ["new_world"] = e.NewWorld,
            ["reason"] = e.Reason, ["epoch"] = e.Epoch, ["step"] = e.Step, ["pause_seconds"] = Math.Round(e.PauseSeconds, 3), ["generation"] = e.Generation,
            ["kind"] = e.Kind.Length > 0 ? e.Kind : "membership",
        })]),
        ["restarts"] = job.Restarts,
        ["skipped_steps"] = job.SkippedSteps,
        ["checkpoints"] = new JsonArray([.. job.Checkpoints.Select(c => (JsonNode)new JsonObject
        {
            ["digest"] = c.Digest, ["epochs_done"] = c.EpochsDone, ["step"] = c.Step, ["bytes"] = c.Bytes, ["final"] = c.Final,
            ["time"] = DateTimeOffset.FromUnixTimeMilliseconds(c.TimeUnixMs).ToString("O"),
        })]),
        ["error"] = job.Error.Length > 0 ? job.Error : null,
    };

    public static void WriteStatus(Job job)
    {
        var console = AnsiConsole.Console;
        console.MarkupLine($"[bold]{job.Id}[/]{(job.Spec.Name.Length > 0 ? $" ({Markup.Escape(job.Spec.Name)})" : "")}  {StatusName(job.Status)}  epoch {job.Epoch}/{job.Spec.Epochs}  step {job.Step}/{job.StepsPerEpoch}  " +
            $"workers {job.Workers.Count}  {Markup.Escape(DataOf(job.Spec))} / {Markup.Escape(Describe(job.Spec.Model))}");
        if (job.Error.Length > 0) console.MarkupLine($"[red]error:[/] {Markup.Escape(job.Error)}");
        if (job.Checkpoints.Count > 0)
            console.MarkupLine($"checkpoint: {Markup.Escape(Commands.CheckpointCommands.Where(job.Checkpoints[0]))} {job.Checkpoints[0].Digest[..12]}  " +
                $"({job.Checkpoints.Count} kept; `disttrain checkpoints {job.Id}`, `disttrain export {job.Id} --out FILE`)");
        if (job.Restarts > 0) console.MarkupLine($"restarts: {job.Restarts} of {job.Spec.MaxRestarts}");
        if (job.SkippedSteps > 0)
            console.MarkupLine($"skipped steps (NaN or Inf gradient): {job.SkippedSteps}" + (job.Spec.HasMaxSkippedSteps ? $" of at most {job.Spec.MaxSkippedSteps}" : ""));
        if (job.Events.Count > 0)
        {
            var events = new Table().AddColumns("time (UTC)", "event", "workers", "at epoch/step", "pause (s)", "reason");
            foreach (var e in job.Events)
                events.AddRow(DateTimeOffset.FromUnixTimeMilliseconds(e.TimeUnixMs).ToString("HH:mm:ss.f"), e.Kind.Length > 0 ? e.Kind : "membership",
                    e.Kind is "" or "membership" or "restart" ? $"{e.OldWorld} → {e.NewWorld}" : "",
                    $"{e.Epoch}/{e.Step}", e.PauseSeconds > 0 ? $"{e.PauseSeconds:F2}" : "", Markup.Escape(e.Reason));
            console.Write(events);
        }
        if (job.History.Count == 0) return;
        var table = new Table().AddColumns("epoch", "loss", "accuracy", "test loss", "test accuracy", "samples/s", "seconds");
        foreach (var e in job.History)
            table.AddRow($"{e.Epoch}", $"{e.Loss:F4}", $"{e.Accuracy:F4}", $"{e.TestLoss:F4}", $"{e.TestAccuracy:F4}", $"{e.SamplesPerSecond:N0}", $"{e.Seconds:F1}");
        console.Write(table);
    }

    public static void WriteList(IEnumerable<Job> jobs)
    {
        var table = new Table().AddColumns("job", "name", "status", "dataset", "model", "workers", "epoch", "test accuracy", "error");
        foreach (var j in jobs)
            table.AddRow(j.Id, Markup.Escape(j.Spec.Name), StatusName(j.Status), Markup.Escape(DataOf(j.Spec)), Markup.Escape(Describe(j.Spec.Model)), $"{j.Spec.Workers}",
                $"{j.Epoch}/{j.Spec.Epochs}", j.History.Count > 0 ? $"{j.History[^1].TestAccuracy:F4}" : "", Markup.Escape(j.Error));
        AnsiConsole.Console.Write(table);
    }

    private static string Describe(string model) => model.TrimStart().StartsWith('{') ? "spec" : model;

    // A launched job's data is its program's; the coordinator never sees it.
    private static string DataOf(JobSpec spec) => spec.LaunchId.Length > 0 ? "(program)" : Data.UploadedDataset.DisplayName(spec.Dataset);
}
