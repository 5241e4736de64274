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

/// <summary>Ring allreduce across real processes on loopback (each rank checks the sum), through the bench command.</summary>
public class AllreduceProcessTests
{
    [Theory]
    [InlineData(2, false)]
    [InlineData(3, false)]
    [InlineData(3, true)]
    public void Bench_allreduce_runs_a_correct_ring_across_processes(int workers, bool tls)
    {
        string[] args = ["bench", "allreduce", "--workers", workers.ToString(), "--size-mb", "3", "--iterations", "1", "--max-warmup-seconds", "0", "--json"];
        var r = CliProcess.Run(tls ? [.. args, "--tls"] : args, timeoutSeconds: 120);
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        using var j = System.Text.Json.JsonDocument.Parse(r.LastLine);
        Assert.Equal(workers, j.RootElement.GetProperty("workers").GetInt32());
        Assert.Equal(tls, j.RootElement.GetProperty("tls").GetBoolean());
        Assert.Equal(3L << 20, j.RootElement.GetProperty("bytes").GetInt64());
        double algbw = j.RootElement.GetProperty("algbw_gbps").GetDouble(), busbw = j.RootElement.GetProperty("busbw_gbps").GetDouble();
        // Both figures are printed rounded to 4 decimals, so the relation holds to within those two roundings.
        double factor = 2.0 * (workers - 1) / workers;
        Assert.InRange(Math.Abs(busbw - algbw * factor), 0, 0.5e-4 * (1 + factor) + 1e-12);
    }
}
