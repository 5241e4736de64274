using System.Text.Json.Nodes;

namespace DistTrain.Cli.Output;

/// <summary>The --json result: one JSON object, the last line on stdout.</summary>
public static class JsonLine
{
    public static void Write(JsonNode o) => Console.Out.WriteLine(o.ToJsonString());

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
