using System.Text.Json.Nodes;

namespace DistTrain.Cli.Output;

/// <summary>The --json result: one JSON object, the last line on stdout.</summary>
public static class JsonLine
{
    public static void Write(JsonObject o) => Console.Out.WriteLine(o.ToJsonString());

    /// <summary>Rounds for output so figures stay readable without losing meaningful digits.</summary>
    public static double Round(double v, int digits = 4) => Math.Round(v, digits);
}
