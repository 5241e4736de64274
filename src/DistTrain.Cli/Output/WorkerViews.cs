using System.Text.Json.Nodes;
using DistTrain.Protos;
using Spectre.Console;

namespace DistTrain.Cli.Output;

/// <summary>How `workers` shows the registered workers: a table for people, a JSON array for scripts.</summary>
public static class WorkerViews
{
    /// <summary>{"worker","address","status","job","rank","threads","heartbeat_age_seconds","note"}</summary>
    public static JsonObject Worker(WorkerInfo w, DateTimeOffset now) => new()
    {
        ["worker"] = w.Id,
        ["address"] = w.Address,
        ["status"] = w.Status,
        ["job"] = w.JobId.Length > 0 ? w.JobId : null,
        ["rank"] = w.JobId.Length > 0 ? w.Rank : null,
        ["threads"] = w.Threads,
        ["heartbeat_age_seconds"] = Math.Round(Age(w, now), 1),
        ["note"] = w.Note.Length > 0 ? w.Note : null,
    };

    public static void WriteList(IEnumerable<WorkerInfo> workers, DateTimeOffset now)
    {
        var table = new Table().AddColumns("worker", "address", "status", "job", "rank", "last heartbeat", "note");
        foreach (var w in workers)
            table.AddRow(Markup.Escape(w.Id), Markup.Escape(w.Address), w.Status == "lost" ? "[red]lost[/]" : w.Status, w.JobId,
                w.JobId.Length > 0 ? $"{w.Rank}" : "", $"{Age(w, now):F0} s ago", Markup.Escape(w.Note));
        AnsiConsole.Console.Write(table);
    }

    private static double Age(WorkerInfo w, DateTimeOffset now) => Math.Max(0, (now - DateTimeOffset.FromUnixTimeMilliseconds(w.LastHeartbeatUnixMs)).TotalSeconds);
}
