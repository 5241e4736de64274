using System.CommandLine;
using DistTrain.Data;
using DistTrain.Protos;

namespace DistTrain.Cli.Commands;

/// <summary>The training flags `submit` and `local` share with `train`, read into a job spec.</summary>
public sealed class JobOptions
{
    public Option<string> Dataset { get; } = CommonOptions.Dataset();
    public Option<string?> Data { get; } = CommonOptions.Data();
    public Option<string?> DataDir { get; } = CommonOptions.DataDir();
    public Option<string> Model { get; } = new("--model") { Description = "Preset or spec JSON file", Required = true };
    public Option<int> Epochs { get; } = CommonOptions.Positive("--epochs", 5, "Passes over the training split");
    public Option<int?> BatchSize { get; } = CommonOptions.OptionalBatchSize();
    public Option<int> Threads { get; } = CommonOptions.Threads();
    public Option<int> Seed { get; } = new("--seed") { Description = "Seeds initialisation and shuffling", DefaultValueFactory = _ => 1 };
    public Option<int> NumWords { get; } = CommonOptions.NumWords();
    public Option<int> MaxLen { get; } = CommonOptions.MaxLen();
    public Option<int> Workers { get; } = CommonOptions.Positive("--workers", 2, "Worker processes", max: 256);
    public Option<int> CheckEvery { get; } = new("--check-every")
    {
        Description = "Compare the replicas' parameter hashes every N steps (0 = never)", DefaultValueFactory = _ => 50,
    };
    public Option<int> MinWorkers { get; } = CommonOptions.Positive("--min-workers", 1,
        "The fewest workers the job trains on: it carries on without lost workers down to this many", max: 256);
    public Option<int> WaitForWorkers { get; } = CommonOptions.Positive("--wait-for-workers", 60,
        "Seconds a job below --min-workers waits for workers to join before it fails");
    public Option<string?> Optimizer { get; } = new("--optimizer")
    {
        Description = "Replace the model's optimizer: a name (sgd, adagrad, rmsprop, adam) or an optimizer spec as JSON",
    };
    public Option<int> CheckpointEvery { get; } = CommonOptions.Bounded("--checkpoint-every", 0,
        "Store a checkpoint with the coordinator every N steps (0 = after every epoch); the final model is always stored", 0);
    public Option<int> KeepCheckpoints { get; } = CommonOptions.Positive("--keep-checkpoints", 3, "Checkpoints the coordinator keeps for the job, the newest", max: 1000);
    public Option<int> MaxRestarts { get; } = CommonOptions.Bounded("--max-restarts", 0,
        "Times the job goes back to pending and restarts from its latest checkpoint when it would fail for want of workers", 0, 1000);
    public Option<int?> MaxSkippedSteps { get; } = new("--max-skipped-steps")
    {
        Description = "Steps whose reduced gradient holds NaN or Inf are skipped on every rank; more than this many fail the job (default: no limit)",
    };
    public Option<string?> Save { get; } = new("--save") { Description = "Download the trained model to this file when the job completes" };
    public Option<bool> Json { get; } = CommonOptions.Json();
    public Option<string?> Name { get; } = new("--name") { Description = "The job's name in jobs, status and the page" };

    public void AddTo(Command command)
    {
        foreach (var o in new Option[] { Dataset, Data, DataDir, Model, Epochs, BatchSize, Threads, Seed, NumWords, MaxLen, Workers, MinWorkers, WaitForWorkers, CheckEvery,
                     Optimizer, CheckpointEvery, KeepCheckpoints, MaxRestarts, MaxSkippedSteps, Save, Json, Name })
            command.Options.Add(o);
    }

    /// <summary>The dataset the user chose (--dataset, --data, --data-dir).</summary>
    public DataChoice ReadData(ParseResult p) => CommonOptions.ReadData(p, Dataset, Data, DataDir);

    /// <summary>The job spec; a --model that names a file sends the file's JSON, so workers need not have it. A dataset
    /// of the user's own is named by the caller once uploaded (<see cref="Client.DatasetUploader"/>).</summary>
    public JobSpec Read(ParseResult p)
    {
        var choice = ReadData(p);
        string dataset = choice.Name, model = p.GetValue(Model)!;
        if (File.Exists(model)) model = File.ReadAllText(model);
        var spec = new JobSpec
        {
            Model = model, Dataset = dataset, Epochs = p.GetValue(Epochs),
            GlobalBatchSize = p.GetValue(BatchSize) ?? choice.DefaultBatchSize, Seed = p.GetValue(Seed),
            Workers = p.GetValue(Workers), ThreadsPerWorker = p.GetValue(Threads), NumWords = p.GetValue(NumWords), MaxLen = p.GetValue(MaxLen),
            ConsistencyCheckEvery = p.GetValue(CheckEvery), Optimizer = p.GetValue(Optimizer) ?? "", MinWorkers = p.GetValue(MinWorkers),
            WaitForWorkersSeconds = p.GetValue(WaitForWorkers), CheckpointEvery = p.GetValue(CheckpointEvery),
            KeepCheckpoints = p.GetValue(KeepCheckpoints), MaxRestarts = p.GetValue(MaxRestarts), Name = p.GetValue(Name) ?? "",
        };
        if (p.GetValue(MaxSkippedSteps) is { } max)
        {
            if (max < 0) throw new ArgumentException($"--max-skipped-steps must be at least 0, got {max}");
            spec.MaxSkippedSteps = max;
        }
        return spec;
    }
}
