using System.CommandLine;
using System.Diagnostics;
using System.Text.Json.Nodes;
using DistTrain.Cli.Output;
using DistTrain.Protos;
using Grpc.Core;

namespace DistTrain.Cli.Commands;

/// <summary>
/// `disttrain bench chaos --workers N --trials T`: elastic training under real failures. One coordinator serves every
/// trial; each trial starts N fresh worker processes, submits a short job, and at a random step kills one worker with
/// a real signal: kill -9 in even trials, SIGSTOP in odd ones (a frozen process that holds its sockets open). Every
/// other pair of trials then starts a replacement worker, which joins the running job. For each trial it records
/// whether the job completed, the stall (from the signal to the coordinator's record of the first step the new worker
/// set committed), the samples the ranks counted as lost or trained twice, and the final test accuracy. Every process
/// it starts it stops by PID, the frozen one included.
/// </summary>
public static class ChaosBench
{
    private sealed record Trial(int Index, string Signal, bool Replacement, bool Completed, double StallSeconds, double? JoinPauseSeconds,
        long LostSamples, long DuplicatedSamples, double TestAccuracy, int Events, string Error);

    public static Command Create()
    {
        var workers = CommonOptions.Positive("--workers", 3, "Workers per trial", max: 16);
        var trials = CommonOptions.Positive("--trials", 4, "Trials: kill -9 and SIGSTOP alternate, and every other pair starts a replacement", max: 1000);
        var model = new Option<string>("--model") { Description = "Preset or spec file", DefaultValueFactory = _ => "mnist-mlp" };
        var epochs = CommonOptions.Positive("--epochs", 8, "Epochs of each trial's job");
        var minAccuracy = new Option<double>("--min-accuracy")
        {
            Description = "A trial's job must reach this test accuracy (mnist-mlp's bar on 3 workers)", DefaultValueFactory = _ => 0.88,
        };
        var seed = new Option<int>("--seed") { Description = "Seeds which step and which worker each trial hits", DefaultValueFactory = _ => 1 };
        var json = CommonOptions.Json();
        var command = new Command("chaos", "Kill workers of running jobs (kill -9, SIGSTOP) and measure how elastic training recovers")
        {
            workers, trials, model, epochs, minAccuracy, seed, json,
        };
        command.SetAction((p, ct) => RunAsync(p.GetValue(workers), p.GetValue(trials), p.GetValue(model)!, p.GetValue(epochs), p.GetValue(minAccuracy),
            p.GetValue(seed), p.GetValue(json), ct));
        return command;
    }

    private static async Task<int> RunAsync(int workers, int trials, string model, int epochs, double minAccuracy, int seed, bool json,
        CancellationToken ct)
    {
        if (workers < 2) throw new ArgumentException($"--workers must be at least 2 for a worker to be lost and the job go on, got {workers}");
        if (File.Exists(model)) model = File.ReadAllText(model);
        var rng = new Random(seed);
        using var cluster = new LocalCluster();
        string url = await cluster.StartCoordinatorAsync([], ct);
        using var channel = cluster.Connect(url);
        var jobs = new Jobs.JobsClient(channel);
        Terminal.Info($"chaos: coordinator {url}; logs in {cluster.LogDirectory}");
        var results = new List<Trial>();
        for (int t = 0; t < trials; t++)
        {
            var trial = await RunTrialAsync(cluster, jobs, url, t, workers, model, epochs, seed + t, rng, ct);
            results.Add(trial);
            Console.Out.WriteLine($"trial {t + 1}/{trials}: {trial.Signal}{(trial.Replacement ? " + replacement" : "")}: " +
                (trial.Completed ? $"completed, stall {trial.StallSeconds:F2} s" + (trial.JoinPauseSeconds is { } j ? $", join pause {j:F2} s" : "") +
                    $", lost {trial.LostSamples}, duplicated {trial.DuplicatedSamples}, test accuracy {trial.TestAccuracy:F4}"
                : $"FAILED: {trial.Error}"));
        }
        double Max(IEnumerable<Trial> ts) => ts.Where(r => r.Completed).Select(r => r.StallSeconds).DefaultIfEmpty(0).Max();
        int completed = results.Count(r => r.Completed);
        long lost = results.Sum(r => r.LostSamples), duplicated = results.Sum(r => r.DuplicatedSamples);
        double minAcc = results.Select(r => r.TestAccuracy).DefaultIfEmpty(0).Min();
        var joins = results.Where(r => r.JoinPauseSeconds is not null).Select(r => r.JoinPauseSeconds!.Value).ToList();
        Console.Out.WriteLine($"chaos: {completed}/{trials} completed; longest stall {Max(results.Where(r => r.Signal == "kill -9")):F2} s after kill -9, " +
            $"{Max(results.Where(r => r.Signal == "SIGSTOP")):F2} s after SIGSTOP; lost {lost}, duplicated {duplicated}; lowest test accuracy {minAcc:F4}" +
            (joins.Count > 0 ? $"; a join paused training {joins.Average():F2} s on average" : ""));
        if (json)
            JsonLine.Write(new JsonObject
            {
                ["trials"] = trials, ["completed"] = completed, ["max_stall_seconds"] = Math.Round(Max(results), 3),
                ["max_stall_kill9_seconds"] = Math.Round(Max(results.Where(r => r.Signal == "kill -9")), 3),
                ["max_stall_sigstop_seconds"] = Math.Round(Max(results.Where(r => r.Signal == "SIGSTOP")), 3),
                ["lost_samples"] = lost, ["duplicated_samples"] = duplicated, ["min_test_accuracy"] = Math.Round(minAcc, 4),
                ["mean_join_pause_seconds"] = joins.Count > 0 ? Math.Round(joins.Average(), 3) : null,
                ["records"] = new JsonArray([.. results.Select(r => (JsonNode)new JsonObject
                {
                    ["trial"] = r.Index + 1, ["signal"] = r.Signal, ["replacement"] = r.Replacement, ["completed"] = r.Completed,
                    ["stall_seconds"] = Math.Round(r.StallSeconds, 3), ["join_pause_seconds"] = r.JoinPauseSeconds is { } jp ? Math.Round(jp, 3) : null,
                    ["lost_samples"] = r.LostSamples, ["duplicated_samples"] = r.DuplicatedSamples, ["test_accuracy"] = Math.Round(r.TestAccuracy, 4),
                    ["membership_changes"] = r.Events, ["error"] = r.Error.Length > 0 ? r.Error : null,
                })]),
            });
        bool ok = completed == trials && lost == 0 && duplicated == 0 && minAcc >= minAccuracy;
        if (!ok) Console.Error.WriteLine($"disttrain: chaos: not every trial completed with no lost or duplicated samples and a test accuracy of at least {minAccuracy}; logs in {cluster.LogDirectory}");
        return ok ? 0 : 1;
    }

    private static async Task<Trial> RunTrialAsync(LocalCluster cluster, Jobs.JobsClient jobs, string url, int index, int workers, string model, int epochs,
        int seed, Random rng, CancellationToken ct)
    {
        string signal = index % 2 == 0 ? "kill -9" : "SIGSTOP";
        bool replacement = index / 2 % 2 == 1;
        var processes = Enumerable.Range(0, workers)
            .Select(w => cluster.Start($"trial{index + 1}-worker{w}", "worker", "--coordinator", url, "--bind", "127.0.0.1", "--once")).ToList();
        Process? victim = null;
        try
        {
            var job = await jobs.SubmitAsync(new SubmitJobRequest
            {
                Spec = new JobSpec { Model = model, Dataset = "mnist", Epochs = epochs, GlobalBatchSize = 96, Seed = seed, Workers = workers },
            }, cancellationToken: ct);
            var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(5);
            // The step to strike at: somewhere in the middle of the run, so that there is training before and after.
            var running = await PollAsync(jobs, job.Id, j => j.Status != JobStatus.Pending && j.StepsPerEpoch > 0, deadline, ct);
            long total = (long)epochs * running.StepsPerEpoch, target = (long)(total * (0.2 + 0.5 * rng.NextDouble()));
            var before = await PollAsync(jobs, job.Id, j => Position(j) >= target || j.Status != JobStatus.Running, deadline, ct);
            if (before.Status != JobStatus.Running) return Failed(index, signal, replacement, $"the job was {JobViews.StatusName(before.Status)} before the strike: {before.Error}");
            victim = processes[rng.Next(workers)];
            var struck = Stopwatch.StartNew();
            long struckUnixMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            ProcessSignals.Send(victim.Id, index % 2 == 0 ? ProcessSignals.SIGKILL : ProcessSignals.SIGSTOP);
            if (replacement) processes.Add(cluster.Start($"trial{index + 1}-replacement", "worker", "--coordinator", url, "--bind", "127.0.0.1", "--once"));
            // The stall ends when the coordinator records the first step of the worker set that went on without the victim.
            bool Recovered(Job j) => j.Events.Any(e => e.TimeUnixMs >= struckUnixMs && e.PauseSeconds > 0);
            var recovered = await PollAsync(jobs, job.Id, j => Recovered(j) || j.Status != JobStatus.Running, deadline, ct);
            double stall = struck.Elapsed.TotalSeconds;
            var done = await PollAsync(jobs, job.Id, j => j.Status is not (JobStatus.Pending or JobStatus.Running), deadline, ct);
            if (done.Status != JobStatus.Completed)
                return Failed(index, signal, replacement, $"{done.Id} {JobViews.StatusName(done.Status)}: {done.Error}");
            if (!Recovered(recovered) && recovered.Status == JobStatus.Completed)
                stall = 0; // the strike came as the job finished: nothing stalled
            // A join's pause, when the joiner came in time to train (one that arrives as the job ends has none).
            double? joinPause = done.Events.Where(e => e.Reason.EndsWith(" joined", StringComparison.Ordinal) && e.PauseSeconds > 0)
                .Select(e => (double?)e.PauseSeconds).LastOrDefault();
            return new Trial(index, signal, replacement, true, stall, joinPause, done.History.Sum(e => e.LostSamples), done.History.Sum(e => e.DuplicatedSamples),
                done.History[^1].TestAccuracy, done.Events.Count, "");
        }
        catch (Exception e) when (e is RpcException or TimeoutException)
        {
            return Failed(index, signal, replacement, e is RpcException r ? r.Status.Detail : e.Message);
        }
        finally
        {
            // The frozen victim holds its sockets until it dies; the others leave once their job has ended.
            if (victim is { HasExited: false }) ProcessSignals.Send(victim.Id, ProcessSignals.SIGKILL);
            LocalCluster.WaitForExit(processes, TimeSpan.FromSeconds(20));
            foreach (var p in processes.Where(p => !p.HasExited)) ProcessSignals.Send(p.Id, ProcessSignals.SIGKILL);
        }
    }

    private static Trial Failed(int index, string signal, bool replacement, string error) =>
        new(index, signal, replacement, false, 0, null, 0, 0, 0, 0, error);

    private static long Position(Job j) => (long)Math.Max(0, j.Epoch - 1) * j.StepsPerEpoch + j.Step;

    // Looks at the job every 50 ms until it satisfies `until`; a timeout names what it waited for.
    private static async Task<Job> PollAsync(Jobs.JobsClient jobs, string id, Func<Job, bool> until, DateTime deadline, CancellationToken ct)
    {
        while (true)
        {
            var job = await jobs.GetAsync(new GetJobRequest { Id = id }, deadline: DateTime.UtcNow.AddSeconds(10), cancellationToken: ct);
            if (until(job)) return job;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{id} stayed {JobViews.StatusName(job.Status)} at epoch {job.Epoch}, step {job.Step} for 5 minutes");
            await Task.Delay(50, ct);
        }
    }
}
