using DistTrain.Data;
using System.CommandLine;
using System.Diagnostics;
using DistTrain.Cli.Output;
using DistTrain.Engine.Kernels;
using DistTrain.Engine.Spec;
using Spectre.Console;

namespace DistTrain.Cli.Commands;

/// <summary>`disttrain train`: trains a model on one process, evaluates it on the test split, optionally saves it.</summary>
public static class TrainCommand
{
    public static Command Create()
    {
        var dataset = CommonOptions.Dataset();
        var model = new Option<string>("--model") { Description = "Preset (mnist-cnn, mnist-mlp, imdb-gap, imdb-lstm) or a spec JSON file", Required = true };
        var epochs = CommonOptions.Positive("--epochs", 5, "Passes over the training split");
        var batch = CommonOptions.OptionalBatchSize();
        var numWords = CommonOptions.NumWords();
        var maxLen = CommonOptions.MaxLen();
        var threads = CommonOptions.Threads();
        var seed = new Option<int>("--seed") { Description = "Seeds initialisation and shuffling", DefaultValueFactory = _ => 1 };
        var dataDir = CommonOptions.DataDir();
        var save = new Option<string?>("--save") { Description = "Write the trained model to this file" };
        var json = CommonOptions.Json();
        var command = new Command("train", "Train a model on one process")
            { dataset, model, epochs, batch, threads, seed, dataDir, numWords, maxLen, save, json };
        command.SetAction(p => Run(p.GetValue(dataset)!, p.GetValue(model)!, p.GetValue(epochs),
            p.GetValue(batch) ?? DatasetCatalog.DefaultBatchSize(p.GetValue(dataset)!), p.GetValue(threads), p.GetValue(seed), p.GetValue(dataDir),
            new Data.TokenizerOptions(p.GetValue(numWords), p.GetValue(maxLen)), p.GetValue(save), p.GetValue(json)));
        return command;
    }

    private static int Run(string datasetName, string modelName, int epochs, int batchSize, int threads, int seed,
        string? dataDir, Data.TokenizerOptions text, string? savePath, bool json)
    {
        Threading.Threads = threads;
        ModelSpec.ForData(modelName, seed, null); // a bad model name or spec fails before any data is fetched
        var data = DatasetCatalog.Load(datasetName, dataDir, Terminal.Info, text);
        var net = ModelSpec.ForData(modelName, seed, data.TrainX.Shape[1..]);
        if (!data.TrainX.Shape.AsSpan(1).SequenceEqual(net.InputShape))
            throw new ArgumentException(
                $"{modelName} expects inputs {Engine.Layers.Layer.FormatShape(net.InputShape)}, but {datasetName} samples are {Engine.Layers.Layer.FormatShape(data.TrainX.Shape[1..])}");
        Terminal.Info(data.Describe());
        if (!json) Terminal.Error.WriteLine(net.Summary());

        FitProgress? progress = null;
        var clock = Stopwatch.StartNew();
        Terminal.Error.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .Start(ctx =>
            {
                progress = new FitProgress(ctx, epochs);
                net.Fit(data.TrainX, data.TrainY, epochs, batchSize, shuffle: true, callbacks: [progress]);
            });
        double seconds = clock.Elapsed.TotalSeconds;
        var test = net.Evaluate(data.TestX, data.TestY, 500);
        if (savePath is not null)
        {
            net.Save(savePath);
            Terminal.Info($"saved {savePath}");
        }
        double rate = progress!.Samples / progress.TrainingTime.TotalSeconds;
        Console.Out.WriteLine($"test accuracy {test.Accuracy:F4}  test loss {test.Loss:F4}  {rate:N0} samples/s  {seconds:F1}s");
        if (json)
            JsonLine.Write(JsonLine.TrainResult(datasetName, modelName, epochs, data.TrainCount, data.TestCount, test.Accuracy, test.Loss, rate, seconds));
        return 0;
    }
}
