using System.CommandLine;
using System.Diagnostics;
using System.Text.Json.Nodes;
using DistTrain.Cli.Output;
using DistTrain.Engine;
using DistTrain.Engine.Kernels;
using DistTrain.Engine.Model;
using DistTrain.Engine.Spec;

namespace DistTrain.Cli.Commands;

/// <summary>
/// `disttrain bench engine` and `disttrain bench gemm`, each with its share of `bench peak`. Both time whole operations after warm-up and report the best
/// of several rounds, because run-to-run noise on shared machines is large; compare against the peers' figures
/// taken in the same sitting.
/// </summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var rounds = CommonOptions.Positive("--rounds", 5, "Timed rounds; the best is reported");
        return new Command("bench", "Measure DistTrain's speed") { Engine(rounds), GemmBench(rounds), PeakBench.Create(), AllreduceBench.Create(), AllreduceBench.RankCommand(), ChaosBench.Create(), CheckpointBench.Create() };
    }

    private static Command Engine(Option<int> rounds)
    {
        var model = new Option<string>("--model") { Description = "Preset or spec file", Required = true };
        var threads = CommonOptions.Threads();
        var batch = new Option<int?>("--batch-size") { Description = "Samples per batch (default: 128 for MNIST models, 32 for IMDB)" };
        var json = CommonOptions.Json();
        var command = new Command("engine", "Training-step throughput (forward, backward, optimizer) on fixed random inputs")
            { model, threads, batch, rounds, json };
        command.SetAction(p =>
        {
            Threading.Threads = p.GetValue(threads);
            var net = ModelSpec.Resolve(p.GetValue(model)!);
            int b = p.GetValue(batch) ?? (net.Layers[0] is Engine.Layers.Embedding ? 32 : 128);
            if (b < 1) throw new ArgumentException($"--batch-size must be at least 1, got {b}");
            var (x, y) = RandomBatch(net, b);
            double best = BestRate(() => net.TrainOnBatch(x, y), b, p.GetValue(rounds));
            // The GEMMs' share of the step: their FLOPs per step at the best rate, against this machine's peak.
            long before = Gemm.FlopsDone;
            net.TrainOnBatch(x, y);
            double gemmGflops = (Gemm.FlopsDone - before) * best / b / 1e9;
            var (peak, percent) = PeakBench.ShareOfPeak(gemmGflops, Threading.Threads);
            Console.Out.WriteLine($"{p.GetValue(model)} threads={Threading.Threads} batch={b} samples/s={best:F0} " +
                $"gemm_gflops={gemmGflops:F1} ({percent:F0}% of the {peak:F1} GFLOP/s {Simd.Best} peak)");
            if (p.GetValue(json))
                JsonLine.Write(new JsonObject
                {
                    ["model"] = p.GetValue(model), ["threads"] = Threading.Threads, ["batch_size"] = b, ["samples_per_second"] = Math.Round(best, 1),
                    ["width"] = Simd.Best.ToString(), ["gemm_gflops"] = Math.Round(gemmGflops, 1), ["peak_gflops"] = Math.Round(peak, 1),
                    ["gemm_percent_of_peak"] = Math.Round(percent, 1),
                });
            return 0;
        });
        return command;
    }

    private static Command GemmBench(Option<int> rounds)
    {
        var size = CommonOptions.Positive("--size", 512, "Square matrix size N (C = A·B, all N×N)", max: 8192);
        var threads = CommonOptions.Threads();
        var json = CommonOptions.Json();
        var command = new Command("gemm", "SGEMM GFLOP/s on N×N matrices") { size, threads, rounds, json };
        command.SetAction(p =>
        {
            Threading.Threads = p.GetValue(threads);
            int n = p.GetValue(size);
            var rng = new Random(1);
            var a = new float[n * n];
            var b = new float[n * n];
            var c = new float[n * n];
            for (int i = 0; i < a.Length; i++) { a[i] = rng.NextSingle() - 0.5f; b[i] = rng.NextSingle() - 0.5f; }
            double callsPerSecond = BestRate(() => Gemm.Multiply(c, n, a, n, false, b, n, false, n, n, n, false), 1, p.GetValue(rounds));
            double gflops = callsPerSecond * 2.0 * n * n * n / 1e9;
            var (peak, percent) = PeakBench.ShareOfPeak(gflops, Threading.Threads);
            Console.Out.WriteLine($"gemm size={n} threads={Threading.Threads} width={Simd.Best} gflops={gflops:F1} ({percent:F0}% of the {peak:F1} GFLOP/s peak)");
            if (p.GetValue(json))
                JsonLine.Write(new JsonObject
                {
                    ["size"] = n, ["threads"] = Threading.Threads, ["width"] = Simd.Best.ToString(), ["gflops"] = Math.Round(gflops, 1),
                    ["peak_gflops"] = Math.Round(peak, 1), ["percent_of_peak"] = Math.Round(percent, 1),
                });
            return 0;
        });
        return command;
    }

    /// <summary>Warm up, size a round to about half a second, and return the best rate over the rounds.</summary>
    private static double BestRate(Action step, int itemsPerStep, int rounds)
    {
        var clock = Stopwatch.StartNew();
        int warm = 0;
        while (warm < 3 || clock.Elapsed.TotalSeconds < 0.3) { step(); warm++; }
        int steps = Math.Max(3, (int)(0.5 * warm / clock.Elapsed.TotalSeconds));
        double best = 0;
        for (int r = 0; r < rounds; r++)
        {
            clock.Restart();
            for (int s = 0; s < steps; s++) step();
            best = Math.Max(best, steps * itemsPerStep / clock.Elapsed.TotalSeconds);
        }
        return best;
    }

    // Fixed inputs as the peers use: standard normal x (uniform token ids for an Embedding), uniformly random
    // labels (or 0/1 targets for one output).
    private static (Tensor X, Tensor Y) RandomBatch(Sequential net, int batch)
    {
        var rng = new Random(0);
        var x = new Tensor([batch, .. net.InputShape]);
        var xs = x.Span;
        int vocabulary = net.Layers[0] is Engine.Layers.Embedding e ? e.InputDim : 0;
        for (int i = 0; i < xs.Length; i++)
            xs[i] = vocabulary > 0 ? rng.Next(vocabulary)
                : (float)(Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
        int classes = net.OutputShape[^1];
        int width = net.Loss!.TargetWidth(classes);
        var y = new Tensor(batch, width);
        if (width == 1 && classes > 1)
            y = new Tensor(batch);
        var ys = y.Span;
        for (int i = 0; i < ys.Length; i++) ys[i] = classes > 1 && width == 1 ? rng.Next(classes) : rng.Next(2);
        return (x, y);
    }
}
