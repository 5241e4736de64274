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
        var model = new Option<string>("--model") { Description = "Preset (mnist-cnn, mnist-mlp, imdb-gap, imdb-lstm) or a spec JSON file (not with --resume)" };
        var epochs = CommonOptions.Positive("--epochs", 5, "Passes over the training split");
        var batch = CommonOptions.OptionalBatchSize();
        var numWords = CommonOptions.NumWords();
        var maxLen = CommonOptions.MaxLen();
        var threads = CommonOptions.Threads();
        var seed = new Option<int>("--seed") { Description = "Seeds initialisation and shuffling", DefaultValueFactory = _ => 1 };
        var dataDir = CommonOptions.DataDir();
        var data = CommonOptions.Data();
        var save = new Option<string?>("--save") { Description = "Write the trained model, with its training state, to this file" };
        var resume = new Option<string?>("--resume")
        {
            Description = "Continue the run saved in this model file (train --save, export): --epochs stays the total, the batch size and seed are the file's",
        };
        var json = CommonOptions.Json();
        var command = new Command("train", "Train a model on one process")
            { dataset, data, model, epochs, batch, threads, seed, dataDir, numWords, maxLen, save, resume, json };
        // The data is looked at only after the model and any checkpoint have been read (a mistake there is told first).
        command.SetAction(p => Run(() => CommonOptions.ReadData(p, dataset, data, dataDir), p.GetValue(model), p.GetValue(resume), p.GetValue(epochs), p.GetValue(batch),
            p.GetValue(threads), p.GetValue(seed), new Data.TokenizerOptions(p.GetValue(numWords), p.GetValue(maxLen)),
            p.GetValue(save), p.GetValue(json)));
        return command;
    }

    private static int Run(Func<DataChoice> readData, string? modelName, string? resumePath, int epochs, int? batchOption, int threads, int seed,
        Data.TokenizerOptions text, string? savePath, bool json)
    {
        Threading.Threads = threads;
        if (modelName is null == resumePath is null)
            throw new ArgumentException(modelName is null ? "give --model (a preset or spec file) or --resume FILE" : "give --model or --resume, not both: a resumed run's model is the file's");
        // A bad model name, spec or checkpoint fails before any data is fetched.
        var resumed = resumePath is null ? null : Engine.Model.ModelFile.Read(resumePath);
        if (resumed is { Training: null })
            throw new ArgumentException($"{resumePath} holds a model without a training state (a version 1 file, or a model saved outside Fit); it can be evaluated, not resumed");
        if (modelName is not null && !ModelSpec.TakesInputShapeFromData(modelName)) ModelSpec.ForData(modelName, seed, null);
        var choice = readData();
        int batchSize = batchOption ?? resumed?.Training!.GlobalBatch ?? choice.DefaultBatchSize;
        string datasetName = choice.Name;
        var data = choice.Load(Terminal.Info, text);
        var net = resumed?.Model ?? ModelSpec.ForData(modelName!, seed, data.TrainX.Shape[1..]);
        modelName ??= net.Name;
        if (resumed?.Training is { } from)
            Terminal.Info($"resuming {resumePath} at epoch {from.Epoch + 1}, step {from.Step} of {from.StepsPerEpoch} ({from.Epochs} epochs asked then, {epochs} now)");
        if (!data.TrainX.Shape.AsSpan(1).SequenceEqual(net.InputShape))
            throw new ArgumentException(
                $"{modelName} expects inputs {Engine.Layers.Layer.FormatShape(net.InputShape)}, but {datasetName} samples are {Engine.Layers.Layer.FormatShape(data.TrainX.Shape[1..])}");
        Engine.Model.TargetCheck.Check(net, data.TrainY, $"{datasetName}'s training split");
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
                net.Fit(data.TrainX, data.TrainY, epochs, batchSize, shuffle: true, callbacks: [progress], resumeFrom: resumed?.Training);
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
