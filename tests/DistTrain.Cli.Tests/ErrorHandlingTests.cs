namespace DistTrain.Cli.Tests;

/// <summary>Bad input ends in one clear stderr line and a non-zero exit, never a stack trace.</summary>
public class ErrorHandlingTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dt-err-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static void AssertCleanFailure(CliProcess.Result r, int exitCode, string expected)
    {
        Assert.Equal(exitCode, r.ExitCode);
        Assert.Contains(expected, r.Stderr);
        Assert.DoesNotContain("   at ", r.Stderr);
        Assert.DoesNotContain("Exception", r.Stderr);
    }

    [Fact]
    public void Unknown_model() =>
        AssertCleanFailure(CliProcess.Run(["train", "--model", "mnist-transformer", "--data-dir", "/nonexistent"]), 1, "unknown model 'mnist-transformer'");

    [Fact]
    public void Out_of_range_option() =>
        AssertCleanFailure(CliProcess.Run(["train", "--model", "mnist-cnn", "--epochs", "0"]), 2, "--epochs must be between 1 and");

    [Fact]
    public void Unknown_dataset() =>
        AssertCleanFailure(CliProcess.Run(["train", "--model", "mnist-cnn", "--dataset", "cifar"]), 2, "cifar");

    [Theory]
    [InlineData(new[] { "data", "fetch", "cifar" }, "see 'disttrain data fetch --help'")]
    [InlineData(new[] { "bench", "gemm", "--size", "0" }, "see 'disttrain bench gemm --help'")]
    [InlineData(new[] { "bench", "engine" }, "see 'disttrain bench engine --help'")]
    [InlineData(new[] { "bench", "allreduce", "--workers", "0" }, "see 'disttrain bench allreduce --help'")]
    [InlineData(new[] { "train", "--epochs", "0" }, "see 'disttrain train --help'")]
    [InlineData(new[] { "no-such-command" }, "see 'disttrain --help'")]
    public void A_parse_error_names_the_full_command(string[] args, string expected) =>
        AssertCleanFailure(CliProcess.Run(args), 2, expected);

    [Theory]
    [InlineData(new string[0], "train")]
    [InlineData(new[] { "data" }, "fetch")]
    [InlineData(new[] { "bench" }, "gemm")]
    public void A_command_group_without_a_subcommand_prints_its_help(string[] args, string listed)
    {
        var r = CliProcess.Run(args);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Equal("", r.Stderr);
        Assert.Contains("Usage:", r.Stdout);
        Assert.Contains(listed, r.Stdout);
    }

    [Fact]
    public void Malformed_spec_file()
    {
        string spec = Path.Combine(_dir, "bad.json");
        File.WriteAllText(spec, """{ "input_shape": [28, 28, 1], "layers": [ { "type": "dense", "units": "ten" } ], "optimizer": "adam", "loss": "mse" }""");
        AssertCleanFailure(CliProcess.Run(["train", "--model", spec]), 1, "layers[0].units must be an integer");
    }

    [Fact]
    public void Truncated_data_file()
    {
        SyntheticDigits.Write(_dir, 20, 10);
        string images = Path.Combine(_dir, "train-images-idx3-ubyte.gz");
        var bytes = File.ReadAllBytes(images);
        File.WriteAllBytes(images, bytes[..(bytes.Length - 40)]);
        AssertCleanFailure(CliProcess.Run(["train", "--model", "mnist-mlp", "--data-dir", _dir]), 1, "train-images-idx3-ubyte.gz");
    }

    [Fact]
    public void Corrupt_model_file()
    {
        string model = Path.Combine(_dir, "m.dtm");
        File.WriteAllBytes(model, new byte[200]);
        AssertCleanFailure(CliProcess.Run(["evaluate", "--model-file", model, "--data-dir", _dir]), 1, "not a DistTrain model file");
    }

    [Fact]
    public void Without_npm_or_a_data_dir_it_says_what_to_do_and_leaves_no_partial_cache()
    {
        string emptyBin = Directory.CreateDirectory(Path.Combine(_dir, "bin")).FullName;
        string cache = Directory.CreateDirectory(Path.Combine(_dir, "cache")).FullName;
        var r = CliProcess.Run(["train", "--model", "mnist-mlp"], new Dictionary<string, string> { ["PATH"] = emptyBin, ["DISTTRAIN_DATA"] = cache });
        AssertCleanFailure(r, 1, "npm was not found");
        Assert.Contains("--data-dir", r.Stderr);
        Assert.Empty(Directory.GetFileSystemEntries(cache));
    }

    [Fact]
    public void Too_few_words_for_the_reserved_ids() =>
        AssertCleanFailure(CliProcess.Run(["train", "--dataset", "imdb", "--model", "imdb-gap", "--num-words", "3", "--data-dir", _dir]), 1,
            "num-words must be at least 4");

    [Fact]
    public void A_model_that_does_not_fit_the_dataset()
    {
        SyntheticDigits.Write(_dir, 20, 10);
        AssertCleanFailure(CliProcess.Run(["train", "--dataset", "mnist", "--model", "imdb-lstm", "--data-dir", _dir]), 1,
            "imdb-lstm expects inputs (None, 256), but mnist samples are (None, 28, 28, 1)");
    }

    [Fact]
    public void Data_dir_without_the_layout()
    {
        AssertCleanFailure(CliProcess.Run(["train", "--model", "mnist-mlp", "--data-dir", _dir]), 1, "missing train-images-idx3-ubyte");
    }
}
