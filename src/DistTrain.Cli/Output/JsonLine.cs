using System.Text.Json.Nodes;

namespace DistTrain.Cli.Output;

/// <summary>
/// The --json result: one JSON object, the last line on stdout. JSON has no NaN or infinity, so a non-finite number
/// (a diverged run's loss) is written as <c>null</c>, and a warning on stderr names each such field and its value.
/// </summary>
public static class JsonLine
{
    public static void Write(JsonNode o)
    {
        var replaced = new List<string>();
        ReplaceNonFinite(o, "", replaced);
        if (replaced.Count > 0)
            Terminal.Info($"disttrain: warning: {string.Join(", ", replaced)} {(replaced.Count == 1 ? "is" : "are")} not finite " +
                "(training diverged?); the JSON line gives null");
        Console.Out.WriteLine(o.ToJsonString());
    }

    /// <summary>Replaces every NaN or ±∞ below <paramref name="node"/> by null, noting "path (value)" for each.</summary>
    internal static void ReplaceNonFinite(JsonNode? node, string path, List<string> replaced)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var (key, child) in o.ToList())
                    if (IsNonFinite(child, out double v)) { o[key] = null; replaced.Add($"{Join(path, key)} ({v})"); }
                    else ReplaceNonFinite(child, Join(path, key), replaced);
                break;
            case JsonArray a:
                for (int i = 0; i < a.Count; i++)
                    if (IsNonFinite(a[i], out double v)) { a[i] = null; replaced.Add($"{path}[{i}] ({v})"); }
                    else ReplaceNonFinite(a[i], $"{path}[{i}]", replaced);
                break;
        }
    }

    private static string Join(string path, string key) => path.Length == 0 ? key : $"{path}.{key}";

    private static bool IsNonFinite(JsonNode? node, out double value)
    {
        value = node is JsonValue v ? v.TryGetValue(out double d) ? d : v.TryGetValue(out float f) ? f : 0 : 0;
        return !double.IsFinite(value);
    }

    /// <summary>The result line train, evaluate, local and submit share.</summary>
    public static JsonObject TrainResult(string dataset, string model, int epochs, int trainSamples, int testSamples,
        double testAccuracy, double testLoss, double samplesPerSecond, double seconds) => new()
    {
        ["dataset"] = dataset,
        ["model"] = model,
        ["epochs"] = epochs,
        ["train_samples"] = trainSamples,
        ["test_samples"] = testSamples,
        ["test_accuracy"] = Round(testAccuracy),
        ["test_loss"] = Round(testLoss),
        ["samples_per_second"] = Math.Round(samplesPerSecond, 1),
        ["seconds"] = Math.Round(seconds, 2),
    };

    /// <summary>Rounds for output so figures stay readable without losing meaningful digits.</summary>
    public static double Round(double v, int digits = 4) => Math.Round(v, digits);
}
