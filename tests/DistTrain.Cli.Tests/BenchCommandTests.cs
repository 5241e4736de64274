using System.Text.Json;

namespace DistTrain.Cli.Tests;

/// <summary>The bench commands print their documented JSON (figures themselves are measured outside tests).</summary>
public class BenchCommandTests
{
    [Fact]
    public void Bench_gemm_prints_size_threads_and_gflops()
    {
        var r = CliProcess.Run(["bench", "gemm", "--size", "64", "--rounds", "1", "--json"]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var j = JsonDocument.Parse(r.LastLine);
        Assert.Equal(64, j.RootElement.GetProperty("size").GetInt32());
        Assert.Equal(1, j.RootElement.GetProperty("threads").GetInt32());
        Assert.True(j.RootElement.GetProperty("gflops").GetDouble() > 0);
    }

    [Fact]
    public void Bench_engine_prints_model_threads_batch_and_rate()
    {
        var r = CliProcess.Run(["bench", "engine", "--model", "mnist-mlp", "--batch-size", "16", "--threads", "2", "--rounds", "1", "--json"]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var j = JsonDocument.Parse(r.LastLine);
        Assert.Equal("mnist-mlp", j.RootElement.GetProperty("model").GetString());
        Assert.Equal(2, j.RootElement.GetProperty("threads").GetInt32());
        Assert.Equal(16, j.RootElement.GetProperty("batch_size").GetInt32());
        Assert.True(j.RootElement.GetProperty("samples_per_second").GetDouble() > 0);
    }

    [Fact]
    public void Data_info_names_the_cache_it_uses()
    {
        string dir = Directory.CreateTempSubdirectory("dt-info-").FullName;
        try
        {
            var r = CliProcess.Run(["data", "info"], new Dictionary<string, string> { ["DISTTRAIN_DATA"] = dir });
            Assert.Equal(0, r.ExitCode);
            Assert.Contains(dir, r.Stdout);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
