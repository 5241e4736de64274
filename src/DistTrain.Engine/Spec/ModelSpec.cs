using System.Text.Json;
using System.Text.Json.Nodes;
using DistTrain.Engine.Layers;
using DistTrain.Engine.Losses;
using DistTrain.Engine.Model;
using DistTrain.Engine.Optimizers;

namespace DistTrain.Engine.Spec;

/// <summary>
/// The JSON form of a compiled model, which jobs carry and model files embed:
/// <code>
/// { "name": "mnist-cnn", "input_shape": [28, 28, 1], "seed": 1,
///   "layers": [ { "type": "conv2d", "filters": 32, "kernel_size": [3, 3], "activation": "relu" }, ... ],
///   "optimizer": { "type": "adam", "learning_rate": 0.001 },
///   "loss": { "type": "sparse_categorical_crossentropy", "from_logits": false },
///   "metrics": [ "accuracy" ] }
/// </code>
/// "optimizer" and "loss" may also be bare names. Unknown keys are errors, so typos do not pass silently.
/// </summary>
public static class ModelSpec
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>Builds and compiles the model a spec describes; <paramref name="source"/> names it in errors.</summary>
    public static Sequential Parse(string json, string source = "spec", int? seedOverride = null, int[]? inputShapeOverride = null)
    {
        if (json.Length > SpecLimits.MaxSpecChars)
            throw new SpecException($"{source}: the spec is {json.Length:N0} characters, above the limit of {SpecLimits.MaxSpecChars:N0}");
        var root = SpecReader.ParseRoot(json, source);
        if (inputShapeOverride is not null)
            root["input_shape"] = new JsonArray(inputShapeOverride.Select(d => (JsonNode)d).ToArray());
        try
        {
            return Build(new SpecReader(root, ""), seedOverride);
        }
        catch (SpecException e)
        {
            throw new SpecException($"{source}: {e.Message}");
        }
    }

    private static Sequential Build(SpecReader r, int? seedOverride)
    {
        string name = r.String("name", "sequential");
        var inputShape = r.IntArray("input_shape");
        double inputElements = inputShape.Aggregate(1.0, (n, d) => n * d); // a double cannot overflow on any rank
        if (inputElements > SpecLimits.MaxSampleElements)
            throw r.Error("input_shape", $"{Layer.FormatShape(inputShape)} has {inputElements:N0} elements per sample, above the limit of {SpecLimits.MaxSampleElements:N0}");
        int seed = r.Int("seed", 1);
        var model = new Sequential(inputShape, seedOverride ?? seed, name);
        var layers = r.Objects("layers");
        if (layers.Count == 0) throw r.Error("layers", "must hold at least one layer");
        int layerCount = layers.Sum(l => l.CountLayers());
        if (layerCount > SpecLimits.MaxLayers)
            throw r.Error("layers", $"hold {layerCount} layers (nested ones included), above the limit of {SpecLimits.MaxLayers}");
        foreach (var lr in layers)
        {
            try
            {
                model.Add(LayerFactory.Create(lr));
            }
            catch (ArgumentException e)
            {
                throw new SpecException($"{lr.Path}: {e.Message}");
            }
        }
        try
        {
            model.BuildShapes();
        }
        catch (ArgumentException e)
        {
            // Layers build in order, so the first one left unbuilt is the one whose shape did not fit.
            int failed = model.Layers.TakeWhile(l => l.IsBuilt).Count();
            throw new SpecException($"{layers[failed].Path}: {e.Message}");
        }
        // Shapes and weights are declared but nothing is allocated yet: the budget is checked first.
        ModelBudget.Check(model, layers);
        model.Build();
        var opt = Optimizer.FromSpec(r.OptionalObject("optimizer") ?? throw r.Error("optimizer", "is required"));
        var lossSpec = r.OptionalObject("loss") ?? throw r.Error("loss", "is required");
        Loss loss;
        try
        {
            loss = Loss.FromSpec(lossSpec);
        }
        catch (ArgumentException e)
        {
            throw new SpecException($"{lossSpec.Path}: {e.Message}");
        }
        var metrics = r.StringArray("metrics");
        r.EnsureAllUsed();
        try
        {
            model.Compile(opt, loss, metrics);
        }
        catch (ArgumentException e)
        {
            throw new SpecException(e.Message);
        }
        return model;
    }

    /// <summary>The spec of a built model, including its compile settings.</summary>
    public static JsonObject ToJson(Sequential model)
    {
        model.Build();
        var o = new JsonObject
        {
            ["name"] = model.Name,
            ["input_shape"] = new JsonArray(model.InputShape.Select(d => (JsonNode)d).ToArray()),
            ["seed"] = model.Seed,
            ["layers"] = new JsonArray(model.Layers.Select(l => (JsonNode)l.ToSpec()).ToArray()),
        };
        if (model.Optimizer is { } opt) o["optimizer"] = opt.ToSpec();
        if (model.Loss is { } loss) o["loss"] = loss.ToSpec();
        o["metrics"] = new JsonArray(model.Metrics.Select(m => (JsonNode)m).ToArray());
        return o;
    }

    /// <summary>The spec as indented JSON text.</summary>
    public static string ToJsonText(Sequential model) => ToJson(model).ToJsonString(Indented);

    /// <summary>
    /// The one place a model is decided for training (by `train`, by the coordinator when it accepts a job, and by each
    /// worker): <paramref name="model"/> is a preset name, a spec as JSON text, or a spec file's path. A preset follows
    /// the data's <paramref name="sampleShape"/> when it has the same rank (an IMDB preset follows --max-len); a spec
    /// keeps its own. <paramref name="optimizer"/>, when given, replaces the spec's optimizer: a name such as "adam",
    /// or an optimizer spec object as JSON.
    /// </summary>
    public static Sequential ForData(string model, int? seed, int[]? sampleShape, string? optimizer = null)
    {
        string text = model.Trim();
        // A spec without input_shape takes the data's: a model for one's own CSV need not repeat its column count.
        var net = text.StartsWith('{') ? Parse(text, "job model", seed, MissingInputShape(text, "job model", sampleShape))
            : !Presets.TryGet(text, out _) && File.Exists(text) ? Parse(text = ReadSpecFile(text), model, seed, MissingInputShape(text, model, sampleShape))
            : Resolve(text, seed);
        if (!text.StartsWith('{') && Presets.TryGet(text, out _) && sampleShape is not null && sampleShape.Length == net.InputShape.Length
            && !sampleShape.AsSpan().SequenceEqual(net.InputShape))
            net = Resolve(text, seed, sampleShape);
        if (!string.IsNullOrWhiteSpace(optimizer)) net.Compile(ParseOptimizer(optimizer), net.Loss!, net.Metrics);
        return net;
    }

    /// <summary>True for a spec (JSON text or file) that leaves input_shape to the data; it cannot be built before the data is read.</summary>
    public static bool TakesInputShapeFromData(string model)
    {
        string text = model.Trim();
        if (!text.StartsWith('{'))
        {
            if (Presets.TryGet(text, out _) || !File.Exists(text)) return false;
            text = ReadSpecFile(text);
        }
        return text.Length <= SpecLimits.MaxSpecChars && !SpecReader.ParseRoot(text, model).ContainsKey("input_shape");
    }

    // The data's sample shape for a spec that leaves input_shape out; null when the spec gives it (a spec keeps its own).
    private static int[]? MissingInputShape(string json, string source, int[]? sampleShape)
    {
        if (json.Length > SpecLimits.MaxSpecChars || SpecReader.ParseRoot(json, source).ContainsKey("input_shape")) return null;
        return sampleShape ?? throw new SpecException($"{source}: 'input_shape' is missing; give it, or train the spec on data, whose samples give it");
    }

    /// <summary>An optimizer from a name ("adam") or a spec object as JSON ({"type": "sgd", "learning_rate": 0.1}).</summary>
    public static Optimizer ParseOptimizer(string text)
    {
        text = text.Trim();
        var spec = text.StartsWith('{') ? SpecReader.ParseRoot(text, "optimizer") : new JsonObject { ["type"] = text };
        try
        {
            return Optimizer.FromSpec(new SpecReader(spec, "optimizer"));
        }
        catch (SpecException e)
        {
            throw new SpecException($"optimizer: {e.Message}");
        }
    }

    /// <summary>
    /// Resolves what a user typed for --model: a preset name, or the path of a spec file. A preset takes
    /// <paramref name="presetInputShape"/> when given (an IMDB preset follows --max-len); a spec file keeps its own.
    /// </summary>
    public static Sequential Resolve(string nameOrPath, int? seed = null, int[]? presetInputShape = null)
    {
        if (Presets.TryGet(nameOrPath, out var json)) return Parse(json, nameOrPath, seed, presetInputShape);
        if (File.Exists(nameOrPath)) return Parse(ReadSpecFile(nameOrPath), nameOrPath, seed);
        throw new SpecException(
            $"unknown model '{nameOrPath}': expected a preset ({string.Join(", ", Presets.Names)}) or the path of a JSON spec file");
    }

    // Reads at most one byte past the limit, so a huge file, or a device such as /dev/zero that reports no length,
    // is refused without being read whole.
    private static string ReadSpecFile(string path)
    {
        try
        {
            using var file = File.OpenRead(path);
            var buffer = new byte[SpecLimits.MaxSpecChars + 1];
            int n = file.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
            if (n > SpecLimits.MaxSpecChars)
                throw new SpecException($"{path}: the spec file is larger than the limit of {SpecLimits.MaxSpecChars:N0} bytes");
            return System.Text.Encoding.UTF8.GetString(buffer, 0, n);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SpecException($"{path}: cannot read the spec file ({e.Message})");
        }
    }
}
