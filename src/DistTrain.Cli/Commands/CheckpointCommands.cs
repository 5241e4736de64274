using System.CommandLine;
using System.Text.Json.Nodes;
using DistTrain.Cli.Output;
using DistTrain.Client;
using DistTrain.Engine.Model;
using DistTrain.Protos;
using Grpc.Core;
using Grpc.Net.Client;
using Spectre.Console;

namespace DistTrain.Cli.Commands;

/// <summary>`disttrain checkpoints JOB` lists what the coordinator keeps of a job; `disttrain export JOB --out FILE` downloads one.</summary>
public static class CheckpointCommands
{
    public static Command List()
    {
        var coordinator = ClusterCommands.CoordinatorUrl();
        var id = new Argument<string>("job") { Description = "The job's id, e.g. job-1" };
        var json = CommonOptions.Json();
        var command = new Command("checkpoints", "List a job's checkpoints in the coordinator's store, newest first") { id, coordinator, json };
        var security = new SecurityOptions(server: false);
        security.AddTo(command);
        command.SetAction(async (p, ct) =>
        {
            using var channel = CoordinatorChannel.Create(p.GetValue(coordinator)!, security: security.Read(p));
            var list = await new Checkpoints.CheckpointsClient(channel).ListAsync(new ListCheckpointsRequest { JobId = p.GetValue(id) }, cancellationToken: ct);
            if (p.GetValue(json))
            {
                JsonLine.Write(new JsonArray([.. list.Checkpoints.Select(c => (JsonNode)new JsonObject
                {
                    ["digest"] = c.Digest, ["epochs_done"] = c.EpochsDone, ["step"] = c.Step, ["bytes"] = c.Bytes, ["final"] = c.Final,
                    ["time"] = DateTimeOffset.FromUnixTimeMilliseconds(c.TimeUnixMs).ToString("O"), ["job"] = c.JobId,
                })]));
                return 0;
            }
            if (list.Checkpoints.Count == 0)
            {
                Console.Out.WriteLine($"{p.GetValue(id)} has no checkpoints yet");
                return 0;
            }
            var table = new Table().AddColumns("time (UTC)", "where", "bytes", "digest");
            foreach (var c in list.Checkpoints)
                table.AddRow(DateTimeOffset.FromUnixTimeMilliseconds(c.TimeUnixMs).ToString("yyyy-MM-dd HH:mm:ss"), Where(c), $"{c.Bytes:N0}", c.Digest);
            AnsiConsole.Console.Write(table);
            return 0;
        });
        return command;
    }

    public static Command Export()
    {
        var coordinator = ClusterCommands.CoordinatorUrl();
        var id = new Argument<string>("job") { Description = "The job's id, e.g. job-1" };
        var output = new Option<string>("--out") { Description = "The model file to write", Required = true };
        var digest = new Option<string?>("--digest") { Description = "A particular checkpoint (see `checkpoints`) instead of the latest" };
        var command = new Command("export", "Download a job's latest checkpoint (the trained model, once it has completed) to a model file")
            { id, coordinator, output, digest };
        var security = new SecurityOptions(server: false);
        security.AddTo(command);
        command.SetAction(async (p, ct) =>
        {
            using var channel = CoordinatorChannel.Create(p.GetValue(coordinator)!, security: security.Read(p));
            await DownloadAsync(channel, p.GetValue(id)!, p.GetValue(digest) ?? "", p.GetValue(output)!, ct);
            return 0;
        });
        return command;
    }

    /// <summary>`--save`: downloads a completed job's final model; 1 with a message naming what failed (the job's summary is out already).</summary>
    public static async Task<int> SaveFinalAsync(GrpcChannel channel, Job job, string path, CancellationToken ct)
    {
        try
        {
            await DownloadAsync(channel, job.Id, job.Checkpoints.FirstOrDefault(c => c.Final)?.Digest ?? "", path, ct);
            return 0;
        }
        catch (Exception e) when (e is RpcException or InvalidDataException or IOException or UnauthorizedAccessException)
        {
            string why = e is RpcException r ? $"{r.Status.StatusCode}: {r.Status.Detail}" : e.Message;
            Console.Error.WriteLine($"disttrain: {job.Id} completed, but its model was not saved to {path} ({why}); `disttrain export {job.Id} --out FILE` tries again");
            return 1;
        }
    }

    /// <summary>"final model", "after epoch 2" or "epoch 3, step 40".</summary>
    public static string Where(CheckpointInfo c) =>
        c.Final ? $"final model (after epoch {c.EpochsDone})" : TrainingCheckpoint.Describe(c.EpochsDone, c.Step);

    /// <summary>
    /// Downloads a checkpoint (by digest, or the job's latest intact one), checks it is a whole model file, and writes it
    /// durably to <paramref name="path"/>.
    /// </summary>
    public static async Task DownloadAsync(GrpcChannel channel, string jobId, string digest, string path, CancellationToken ct)
    {
        var (_, training) = await ModelDownload.DownloadAsync(channel, jobId, digest, path, new CallOptions(deadline: DateTime.UtcNow.AddMinutes(10), cancellationToken: ct));
        Terminal.Info(training is null ? $"saved {path}"
            : $"saved {path}: {jobId} {(training.Epoch >= training.Epochs ? $"after its {training.Epochs} epochs" : training.Where)}");
    }
}
