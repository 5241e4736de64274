using System.CommandLine;
using System.Text.Json.Nodes;
using DistTrain.Cli.Output;
using DistTrain.Engine.Kernels;

namespace DistTrain.Cli.Commands;

/// <summary>
/// `disttrain bench peak`: this machine's FMA ceiling per vector width and thread count (<see cref="FmaPeak"/>), the
/// figure `bench gemm` and `bench engine` print their share of, so that ratios taken on different machines compare.
/// </summary>
public static class PeakBench
{
    public static Command Create()
    {
        var threads = new Option<int?>("--threads") { Description = "Threads to measure (default: 1, then every core)" };
        threads.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int?>() is < 1 or > 1024) r.AddError($"--threads must be between 1 and 1024, got {r.GetValueOrDefault<int?>()}");
        });
        var json = CommonOptions.Json();
        var command = new Command("peak", "FMA peak GFLOP/s per vector width and thread count") { threads, json };
        command.SetAction(p =>
        {
            int[] counts = p.GetValue(threads) is int t ? [t] : Environment.ProcessorCount > 1 ? [1, Environment.ProcessorCount] : [1];
            var rows = new JsonArray();
            Console.Out.WriteLine($"# the engine runs at {Simd.Best}; {Environment.ProcessorCount} cores");
            foreach (var width in Simd.Supported)
            foreach (int n in counts)
            {
                double gflops = FmaPeak.Measure(width, n);
                Console.Out.WriteLine($"peak width={width} threads={n} gflops={gflops:F1}{(width == Simd.Best ? " (engine)" : "")}");
                rows.Add(new JsonObject { ["width"] = width.ToString(), ["threads"] = n, ["gflops"] = Math.Round(gflops, 1) });
            }
            if (p.GetValue(json)) JsonLine.Write(new JsonObject { ["engine_width"] = Simd.Best.ToString(), ["peaks"] = rows });
            return 0;
        });
        return command;
    }

    /// <summary>GFLOP/s as a percentage of the engine width's peak with the same threads, measured now.</summary>
    public static (double Peak, double Percent) ShareOfPeak(double gflops, int threads)
    {
        double peak = FmaPeak.Measure(Simd.Best, threads);
        return (peak, 100 * gflops / peak);
    }
}
