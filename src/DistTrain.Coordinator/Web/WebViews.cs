using System.Text.Json;
using System.Text.Json.Serialization;
using DistTrain.Engine.Model;
using DistTrain.Protos;
using DistTrain.State;
using Google.Protobuf;

namespace DistTrain.Coordinator.Web;

/// <summary>One job's line on the jobs page. Times are Unix milliseconds; <see cref="Progress"/> runs from 0 to 1.</summary>
public sealed record JobSummaryView(string Id, string Name, string Dataset, string Status, string Error, int Epoch, int Epochs, int EpochsDone,
    int Step, int StepsPerEpoch, double Progress, double Loss, double Accuracy, double SamplesPerSecond, int World, int RequestedWorkers,
    int Restarts, long Submitted, long Updated);

public sealed record EpochView(int Epoch, double Loss, double Accuracy, double TestLoss, double TestAccuracy, double SamplesPerSecond, double Seconds);

/// <summary>Something that happened to a job, marked on its curves' time axis.</summary>
public sealed record EventView(long Time, string Kind, string Text, int Epoch, int Step);

public sealed record CheckpointView(string Digest, string Label, int EpochsDone, int Step, long Time, long Bytes, bool Final, string Url);

/// <summary>A worker, on the workers page (<see cref="JobId"/> empty and <see cref="Rank"/> −1 when idle) or in its job's table.</summary>
public sealed record WorkerView(string Id, string Address, string Host, string Status, string JobId, int Rank, int Threads, long LastHeartbeat,
    double HeartbeatAgeSeconds, double SamplesPerSecond, string Note);

public sealed record PointView(long Seq, long T, int Epoch, int Step, double Loss, double SamplesPerSecond, double StepSeconds, double AllreduceSeconds, int N);

/// <summary>The per-step points a viewer lacks: all of them (<see cref="Reset"/>) or only the new ones.</summary>
public sealed record SeriesView(bool Reset, IReadOnlyList<PointView> Points);

public sealed record JobDetailView(JobSummaryView Summary, IReadOnlyList<EpochView> History, IReadOnlyList<EventView> Events,
    IReadOnlyList<CheckpointView> Checkpoints, IReadOnlyList<WorkerView> Workers, SeriesView Series, bool CanCancel);

/// <summary>
/// The page's JSON, made from the grains' records: camelCase names, times in Unix milliseconds, and no NaN or Infinity
/// (a diverged loss is sent as null, which JSON can carry).
/// </summary>
public static class WebViews
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { Converters = { new FiniteOrNull() } };

    /// <summary>A job detail as the page reads it: the summary's fields, and beside them the detail's and the server's clock.</summary>
    public static byte[] Serialize(JobDetailView d, long nowUnixMs)
    {
        var node = JsonSerializer.SerializeToNode(d.Summary, Json)!.AsObject();
        node["now"] = nowUnixMs;
        node["history"] = JsonSerializer.SerializeToNode(d.History, Json);
        node["events"] = JsonSerializer.SerializeToNode(d.Events, Json);
        node["checkpoints"] = JsonSerializer.SerializeToNode(d.Checkpoints, Json);
        node["workers"] = JsonSerializer.SerializeToNode(d.Workers, Json);
        node["series"] = JsonSerializer.SerializeToNode(d.Series, Json);
        node["canCancel"] = d.CanCancel;
        return JsonSerializer.SerializeToUtf8Bytes(node, Json);
    }

    public static string Status(JobPhase phase) => phase.ToString().ToLowerInvariant();

    public static JobSummaryView Summary(JobRecord r)
    {
        var spec = JsonParser.Default.Parse<JobSpec>(r.Spec);
        int epochs = Math.Max(1, spec.Epochs);
        int done = r.History.Count;
        double progress = r.Phase == JobPhase.Completed ? 1
            : Math.Clamp((done + (r.StepsPerEpoch > 0 && r.Epoch > done ? (double)r.Step / r.StepsPerEpoch : 0)) / epochs, 0, 1);
        return new JobSummaryView(r.Id, spec.Name.Length > 0 ? spec.Name : ModelName(spec.Model), spec.LaunchId.Length > 0 ? "(program)" : Data.UploadedDataset.DisplayName(spec.Dataset), Status(r.Phase), r.Error, r.Epoch, epochs, done, r.Step, r.StepsPerEpoch,
            progress, r.Loss, r.Accuracy, r.Phase == JobPhase.Running ? r.SamplesPerSecond : 0, r.WorkerIds.Count, r.RequestedWorkers, r.Restarts,
            UnixTime.Ms(r.SubmittedUtc), UnixTime.Ms(r.UpdatedUtc));
    }

    /// <summary>A preset's name, or a spec's own "name" (else "spec").</summary>
    public static string ModelName(string model)
    {
        if (!model.TrimStart().StartsWith('{')) return model;
        try
        {
            using var doc = JsonDocument.Parse(model);
            return doc.RootElement.TryGetProperty("name", out var name) && name.ValueKind == JsonValueKind.String ? name.GetString()! : "spec";
        }
        catch (JsonException)
        {
            return "spec";
        }
    }

    public static JobDetailView Detail(JobRecord r, IReadOnlyList<WorkerRecord?> members, SeriesView series, bool canCancel, DateTime nowUtc) => new(
        Summary(r),
        [.. r.History.Select(e => new EpochView(e.Epoch, e.Loss, e.Accuracy, e.TestLoss, e.TestAccuracy, e.SamplesPerSecond, e.Seconds))],
        Events(r),
        [.. (r.Checkpoints ?? []).Reverse().Select(c => Checkpoint(r.Id, c))],
        [.. members.Select((w, rank) => w is null ? null : Worker(w, nowUtc) with { Rank = rank }).OfType<WorkerView>()],
        series,
        canCancel && !r.IsFinal);

    public static CheckpointView Checkpoint(string jobId, CheckpointRecord c) => new(c.Digest,
        c.Final ? $"final model (after epoch {c.EpochsDone})" : TrainingCheckpoint.Describe(c.EpochsDone, c.Step), c.EpochsDone, c.Step, UnixTime.Ms(c.TimeUtc),
        c.Bytes, c.Final, $"/jobs/{Uri.EscapeDataString(jobId)}/checkpoints/{c.Digest}");

    /// <summary>Membership changes, restarts and warnings, the checkpoints kept, and the job's end, oldest first.</summary>
    public static IReadOnlyList<EventView> Events(JobRecord r)
    {
        var events = (r.Events ?? []).Select(e => new EventView(UnixTime.Ms(e.TimeUtc), e.Kind ?? JobEvent.Membership,
            e.Kind is null or JobEvent.Membership ? $"{e.OldWorld} → {e.NewWorld} workers: {e.Reason}" : e.Reason, e.Epoch, e.Step)).ToList();
        events.AddRange((r.Checkpoints ?? []).Select(c => new EventView(UnixTime.Ms(c.TimeUtc), "checkpoint",
            c.Final ? "final model stored" : $"checkpoint {TrainingCheckpoint.Describe(c.EpochsDone, c.Step)}", c.EpochsDone, c.Step)));
        if (r.IsFinal)
            events.Add(new EventView(UnixTime.Ms(r.UpdatedUtc), Status(r.Phase), r.Error.Length > 0 ? r.Error : Status(r.Phase), r.Epoch, r.Step));
        return [.. events.OrderBy(e => e.Time)];
    }

    public static WorkerView Worker(WorkerRecord w, DateTime nowUtc)
    {
        string host = Uri.TryCreate(w.Address, UriKind.Absolute, out var uri) ? uri.Host : w.Address;
        return new WorkerView(w.Id, w.Address, host, w.Phase.ToString().ToLowerInvariant(), w.JobId ?? "", w.JobId is null ? -1 : w.Rank, w.Threads,
            UnixTime.Ms(w.LastHeartbeatUtc), Math.Max(0, (nowUtc - w.LastHeartbeatUtc).TotalSeconds), w.SamplesPerSecond, w.Note);
    }

    public static PointView Point(StepPoint p) =>
        new(p.Seq, p.TimeUnixMs, p.Epoch, p.Step, p.Loss, p.SamplesPerSecond, p.StepSeconds, p.AllreduceSeconds, p.Count);

    // NaN and ±Infinity, which JSON has no numbers for, as null.
    private sealed class FiniteOrNull : JsonConverter<double>
    {
        public override double Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            reader.TokenType == JsonTokenType.Null ? double.NaN : reader.GetDouble();

        public override void Write(Utf8JsonWriter writer, double value, JsonSerializerOptions options)
        {
            if (double.IsFinite(value)) writer.WriteNumberValue(value);
            else writer.WriteNullValue();
        }
    }
}
