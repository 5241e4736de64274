using DistTrain.Data;
using System.CommandLine;
using System.Diagnostics;
using DistTrain.Cli.Output;
using DistTrain.Engine.Model;

namespace DistTrain.Cli.Commands;

/// <summary>`disttrain evaluate`: loads a saved model and reports its loss and accuracy on a test split.</summary>
public static class EvaluateCommand
{
    public static Command Create()
    {
        var modelFile = new Option<string>("--model-file") { Description = "A model written by train --save", Required = true };
        var dataset = CommonOptions.Dataset();
        var dataDir = CommonOptions.DataDir();
        var data = CommonOptions.Data();
        var threads = CommonOptions.Threads();
        var numWords = CommonOptions.NumWords();
        var maxLen = CommonOptions.MaxLen();
        var json = CommonOptions.Json();
        var command = new Command("evaluate", "Evaluate a saved model on a dataset's test split") { modelFile, dataset, data, dataDir, threads, numWords, maxLen, json };
        command.SetAction(p => Run(p.GetValue(modelFile)!, () => CommonOptions.ReadData(p, dataset, data, dataDir), p.GetValue(threads),
            new Data.TokenizerOptions(p.GetValue(numWords), p.GetValue(maxLen)), p.GetValue(json)));
        return command;
    }

    private static int Run(string modelFile, Func<DataChoice> readData, int threads, Data.TokenizerOptions text, bool json)
    {
        Engine.Kernels.Threading.Threads = threads;
        var net = Sequential.Load(modelFile); // a bad model file is told before the data is looked at
        var choice = readData();
        string datasetName = choice.Name;
        var data = choice.Load(Terminal.Info, text);
        if (!data.TestX.Shape.AsSpan(1).SequenceEqual(net.InputShape))
            throw new ArgumentException(
                $"{modelFile} expects inputs {Engine.Layers.Layer.FormatShape(net.InputShape)}, but {datasetName} has {data.TestX.ShapeString}");
        TargetCheck.Check(net, data.TestY, $"{datasetName}'s test split");
        var clock = Stopwatch.StartNew();
        var result = net.Evaluate(data.TestX, data.TestY, 500);
        double seconds = clock.Elapsed.TotalSeconds;
        Console.Out.WriteLine($"test accuracy {result.Accuracy:F4}  test loss {result.Loss:F4}  ({result.Samples:N0} samples)");
        if (json)
            JsonLine.Write(JsonLine.TrainResult(datasetName, modelFile, 0, data.TrainCount, data.TestCount, result.Accuracy, result.Loss,
                result.Samples / seconds, seconds));
        return 0;
    }
}
