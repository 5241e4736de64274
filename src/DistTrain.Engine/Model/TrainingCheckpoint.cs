using System.Text.Json.Nodes;

namespace DistTrain.Engine.Model;

/// <summary>
/// Where a training run stands and how it was planned: what a model file (format v2) holds besides the model, so that
/// training resumes from it exactly. The position is <see cref="Step"/> steps into epoch <see cref="Epoch"/> (from 0;
/// <see cref="Epochs"/> once training is over). Because each epoch's sample order depends only on the seed and the
/// epoch, and each step's random draws only on the step (<see cref="LayerRandom"/>), the position is all a resumed
/// run needs to see the very batches and masks the uninterrupted run would have seen next.
/// </summary>
public sealed record TrainingCheckpoint
{
    public int Epoch { get; init; }
    public int Step { get; init; }
    public int StepsPerEpoch { get; init; }

    /// <summary>The plan: samples per step over all replicas, the seed of the sample order, the epochs asked for.</summary>
    public int GlobalBatch { get; init; }
    public int Seed { get; init; }
    public int Epochs { get; init; }

    /// <summary>Replicas the run trained on when the checkpoint was taken.</summary>
    public int WorldSize { get; init; } = 1;

    /// <summary>
    /// How the run orders its samples: <see cref="FitSampler"/> (Fit's shuffle, the last batch of an epoch smaller) or
    /// <see cref="ShardSampler"/> (a distributed job's global batches, <see cref="ShardPlan"/>). A run resumes only
    /// under the sampler that took it.
    /// </summary>
    public string Sampler { get; init; } = FitSampler;

    public const string FitSampler = "fit", ShardSampler = "shard";

    /// <summary>The epoch in progress's running sums (for example loss_sum, samples, correct, judged).</summary>
    public IReadOnlyDictionary<string, double> EpochSums { get; init; } = new Dictionary<string, double>();

    /// <summary>One entry per finished epoch: loss, accuracy, val/test figures, as the run logged them.</summary>
    public IReadOnlyList<IReadOnlyDictionary<string, double>> History { get; init; } = [];

    /// <summary>The states of the model's random streams (<see cref="Sequential.RandomStates"/>), rank 0's in a distributed run.</summary>
    public IReadOnlyList<RandomState> Random { get; init; } = [];

    /// <summary>Steps taken since the start of training: the step the next draws belong to.</summary>
    public long GlobalStep => (long)Epoch * StepsPerEpoch + Step;

    /// <summary>"after epoch 2" at an epoch's end, else "epoch 3, step 40" (the epoch in progress, from 1).</summary>
    public static string Describe(int epochsDone, int step) => step == 0 ? $"after epoch {epochsDone}" : $"epoch {epochsDone + 1}, step {step}";

    /// <summary>Where this checkpoint stands, as <see cref="Describe"/> says it.</summary>
    public string Where => Describe(Epoch, Step);

    /// <summary>
    /// Refuses to resume this checkpoint under <paramref name="plan"/> (the sampler, global batch, seed, steps per epoch
    /// and epochs of the run that would continue it) unless that run is the one it came from; the message names what differs.
    /// </summary>
    public void CheckResumableBy(TrainingCheckpoint plan)
    {
        if (Sampler != plan.Sampler)
            throw new ArgumentException(Sampler == ShardSampler
                ? $"the checkpoint comes from a distributed job ({WorldSize} workers), whose global batches leave out each epoch's remainder; "
                    + "resume it with `disttrain submit --resume-from`, or evaluate it"
                : "the checkpoint comes from a single-process run (train), whose sample order is not a job's; a job cannot resume it");
        if (GlobalBatch != plan.GlobalBatch)
            throw new ArgumentException($"the checkpoint was trained with batches of {GlobalBatch}; resume it with the same batch size, not {plan.GlobalBatch}");
        if (Seed != plan.Seed)
            throw new ArgumentException($"the checkpoint's sample order has seed {Seed}, but this run's seed is {plan.Seed}");
        if (StepsPerEpoch != plan.StepsPerEpoch)
            throw new ArgumentException($"the checkpoint has {StepsPerEpoch} steps per epoch, but this data gives {plan.StepsPerEpoch}: it was taken on other data");
        if (Epoch > plan.Epochs || Epoch == plan.Epochs && Step > 0)
            throw new ArgumentException($"the checkpoint is already at epoch {Epoch + (Step > 0 ? 1 : 0)}; --epochs counts the run's total, so ask for more than that");
    }

    public JsonObject ToJson() => new()
    {
        ["epoch"] = Epoch, ["step"] = Step, ["steps_per_epoch"] = StepsPerEpoch,
        ["global_batch"] = GlobalBatch, ["seed"] = Seed, ["epochs"] = Epochs, ["world_size"] = WorldSize, ["sampler"] = Sampler,
        ["epoch_sums"] = Figures(EpochSums),
        ["history"] = new JsonArray([.. History.Select(h => (JsonNode)Figures(h))]),
        ["random"] = new JsonArray([.. Random.Select(r => (JsonNode)new JsonArray(r.Stream, r.Step, r.Counter))]),
    };

    /// <summary>Reads <see cref="ToJson"/>'s form; a missing or malformed field is named in the error.</summary>
    public static TrainingCheckpoint FromJson(JsonNode? node, string source)
    {
        try
        {
            var o = node?.AsObject() ?? throw new FormatException("it is not an object");
            var c = new TrainingCheckpoint
            {
                Epoch = Int(o, "epoch"), Step = Int(o, "step"), StepsPerEpoch = Int(o, "steps_per_epoch"),
                GlobalBatch = Int(o, "global_batch"), Seed = (int)o["seed"]!, Epochs = Int(o, "epochs"), WorldSize = Int(o, "world_size"),
                Sampler = (string?)o["sampler"] ?? FitSampler,
                EpochSums = ReadFigures(o["epoch_sums"]),
                History = [.. (o["history"]?.AsArray() ?? []).Select(ReadFigures)],
                Random = [.. (o["random"]?.AsArray() ?? []).Select(r => new RandomState((int)r![0]!, (long)r[1]!, (long)r[2]!))],
            };
            if (c.Epochs > Spec.SpecLimits.MaxEpochs)
                throw new FormatException($"'epochs' is {c.Epochs}, above the limit of {Spec.SpecLimits.MaxEpochs:N0}");
            if (c.StepsPerEpoch < 1 || c.GlobalBatch < 1 || c.Step > c.StepsPerEpoch || c.Epoch > c.Epochs)
                throw new FormatException($"position epoch {c.Epoch}, step {c.Step} of {c.StepsPerEpoch} (of {c.Epochs} epochs, batch {c.GlobalBatch}) is impossible");
            return c;
        }
        catch (Exception e) when (e is FormatException or InvalidOperationException or NullReferenceException or ArgumentException or OverflowException)
        {
            throw new InvalidDataException($"{source}: the training state is malformed ({e.Message})");
        }
    }

    private static int Int(JsonObject o, string name) =>
        (int?)o[name] is int v && v >= 0 ? v : throw new FormatException($"'{name}' must be a non-negative integer");

    // JSON has no NaN or infinity (a diverged loss): those travel as strings, in round-trip form like every figure.
    private static JsonObject Figures(IReadOnlyDictionary<string, double> figures) =>
        new([.. figures.Select(kv => KeyValuePair.Create(kv.Key, double.IsFinite(kv.Value)
            ? (JsonNode?)JsonValue.Create(kv.Value) : JsonValue.Create(kv.Value.ToString(System.Globalization.CultureInfo.InvariantCulture))))]);

    private static Dictionary<string, double> ReadFigures(JsonNode? node) =>
        (node?.AsObject() ?? []).ToDictionary(kv => kv.Key, kv => kv.Value is JsonValue v && v.TryGetValue(out string? text)
            ? double.Parse(text, System.Globalization.CultureInfo.InvariantCulture) : (double)kv.Value!);
}
