using System.IO.Compression;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Xunit.Abstractions;

namespace DistTrain.Cli.Tests;

/// <summary>
/// The NuGet packages as a user gets them: `dotnet pack` makes the eight libraries and the tool, each with what a
/// package page shows (description, license, repository, readme) and its symbols; and a console project that
/// references DistTrain.Engine alone, from the feed, trains a model and pulls in nothing of the cluster (no Orleans,
/// gRPC, Protobuf or ASP.NET Core, no other DistTrain package).
/// </summary>
[Collection(PackedFeed.Collection)]
public class PackageTests(ITestOutputHelper output)
{
    private static readonly string[] Shipped =
    [
        "DistTrain.Cli", "DistTrain.Client", "DistTrain.Collectives", "DistTrain.Data", "DistTrain.Distributed", "DistTrain.Engine",
        "DistTrain.Protos", "DistTrain.Telemetry", "DistTrain.Worker",
    ];

    [Fact]
    public void Pack_makes_every_shipped_package_with_its_metadata_readme_and_symbols()
    {
        var feed = PackedFeed.Get();
        output.WriteLine($"packed {feed.Ids.Count} packages, version {feed.Version}, in {feed.PackTime.TotalSeconds:0} s");
        Assert.Equal(Shipped, feed.Ids); // the coordinator, its state and the tests ship in none
        foreach (string id in Shipped)
        {
            Assert.True(File.Exists(feed.SymbolPackage(id)), $"{id}: no symbol package {Path.GetFileName(feed.SymbolPackage(id))} in {feed.Directory}");
            using var package = ZipFile.OpenRead(feed.Package(id));
            var nuspec = Nuspec(package, id);
            string Field(string name) => nuspec.Descendants().FirstOrDefault(e => e.Name.LocalName == name)?.Value.Trim() ?? "";
            XElement? Element(string name) => nuspec.Descendants().FirstOrDefault(e => e.Name.LocalName == name);

            Assert.Equal(id, Field("id"));
            Assert.Equal(feed.Version, Field("version"));
            Assert.True(Field("description").Length > 20 && Field("description") != "Package Description", $"{id}: description '{Field("description")}'");
            Assert.Equal("DistTrain contributors", Field("authors"));
            Assert.Equal(("expression", "MIT"), ((string?)Element("license")?.Attribute("type"), Field("license")));
            Assert.Equal(("git", "https://github.com/disttrain/disttrain"),
                ((string?)Element("repository")?.Attribute("type"), (string?)Element("repository")?.Attribute("url")));
            Assert.Equal("https://github.com/disttrain/disttrain", Field("projectUrl"));
            string readme = Field("readme");
            Assert.False(readme == "", $"{id}: the nuspec names no readme");
            var entry = package.GetEntry(readme);
            Assert.True(entry is not null, $"{id}: the readme {readme} is not in the package");
            using var text = new StreamReader(entry.Open());
            Assert.StartsWith("# ", text.ReadToEnd());
        }
        // The engine needs nothing but System.Numerics.Tensors.
        using var engine = ZipFile.OpenRead(feed.Package("DistTrain.Engine"));
        Assert.Equal(new[] { "System.Numerics.Tensors" },
            Nuspec(engine, "DistTrain.Engine").Descendants().Where(e => e.Name.LocalName == "dependency").Select(e => (string)e.Attribute("id")!));
    }

    [Fact]
    public void A_console_project_that_references_the_engine_package_trains_and_pulls_in_nothing_of_the_cluster()
    {
        var feed = PackedFeed.Get();
        using var app = FeedConsumer.Create(feed, "EngineConsumer", ["DistTrain.Engine"], EngineProgram);

        var run = app.Dotnet(TimeSpan.FromMinutes(5), "run", "-c", "Release", "--disable-build-servers");
        Assert.True(run.ExitCode == 0, $"dotnet run failed ({run.ExitCode}):\n{run.Output}");
        var line = Regex.Match(run.Stdout, @"trained: loss ([0-9.]+) -> ([0-9.]+), accuracy ([0-9.]+), reloaded (\w+)");
        Assert.True(line.Success, $"no result line:\n{run.Output}");
        double first = double.Parse(line.Groups[1].Value), last = double.Parse(line.Groups[2].Value), accuracy = double.Parse(line.Groups[3].Value);
        Assert.True(last < first / 2, $"the loss fell only from {first} to {last}:\n{run.Output}");
        Assert.True(accuracy >= 0.9, $"accuracy {accuracy} on three separable blobs:\n{run.Output}");
        Assert.Equal("True", line.Groups[4].Value); // saved and loaded back, the model predicts the same

        var list = app.Dotnet(TimeSpan.FromMinutes(2), "list", "package", "--include-transitive", "--format", "json");
        Assert.True(list.ExitCode == 0, $"dotnet list package failed ({list.ExitCode}):\n{list.Output}");
        var frameworks = JsonDocument.Parse(list.Stdout).RootElement.GetProperty("projects")[0].GetProperty("frameworks").EnumerateArray().ToList();
        IEnumerable<string> Ids(string kind) => frameworks.SelectMany(f => f.TryGetProperty(kind, out var p) ? p.EnumerateArray() : Enumerable.Empty<JsonElement>())
            .Select(p => p.GetProperty("id").GetString()!);
        Assert.Equal(new[] { "DistTrain.Engine" }, Ids("topLevelPackages"));
        var all = Ids("topLevelPackages").Concat(Ids("transitivePackages")).ToList();
        Assert.Contains("System.Numerics.Tensors", all);
        string[] cluster = ["Microsoft.Orleans", "Grpc", "Google.Protobuf", "Microsoft.AspNetCore"];
        Assert.True(!all.Any(id => cluster.Any(c => id.StartsWith(c, StringComparison.OrdinalIgnoreCase))
            || id.StartsWith("DistTrain.", StringComparison.OrdinalIgnoreCase) && id != "DistTrain.Engine"),
            $"the engine brings in more than it needs: {string.Join(", ", all)}");
    }

    [Fact]
    public void A_console_project_on_the_engine_and_distributed_packages_trains_under_launch_on_two_workers()
    {
        var feed = PackedFeed.Get();
        // The repository's sample, as a user would copy it: its Program.cs, its CSV, and only the two packages.
        string sample = Path.Combine(BackgroundProcess.RepositoryRoot(), "samples", "CustomTraining");
        using var app = FeedConsumer.Create(feed, "MyTrainer", ["DistTrain.Engine", "DistTrain.Distributed"], File.ReadAllText(Path.Combine(sample, "Program.cs")));
        File.Copy(Path.Combine(sample, "clusters.csv"), Path.Combine(app.Directory, "clusters.csv"));
        var build = app.Dotnet(TimeSpan.FromMinutes(5), "build", "-c", "Release", "--disable-build-servers", "-o", "out");
        Assert.True(build.ExitCode == 0, $"dotnet build failed ({build.ExitCode}):\n{build.Output}");

        var launch = CliProcess.Run(["launch", "--workers", "2", "--json", "--", "dotnet", Path.Combine(app.Directory, "out", "MyTrainer.dll"),
            Path.Combine(app.Directory, "clusters.csv")], new Dictionary<string, string> { ["DISTTRAIN_DATA"] = Path.Combine(app.Directory, "cache") }, timeoutSeconds: 240);
        Assert.True(launch.ExitCode == 0, $"launch failed ({launch.ExitCode}):\n{launch.Stdout}\n{launch.Stderr}");
        var accuracy = Regex.Match(launch.Stdout, @"\[\d\] val_accuracy ([0-9.]+) after 10 epochs");
        Assert.True(accuracy.Success, launch.Stdout);
        Assert.True(double.Parse(accuracy.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) >= 0.9, launch.Stdout);
        using var json = JsonDocument.Parse(launch.LastLine);
        Assert.Equal(2, json.RootElement.GetProperty("workers").GetInt32());
        Assert.Equal("MyTrainer", json.RootElement.GetProperty("model").GetString());
    }

    private static XElement Nuspec(ZipArchive package, string id)
    {
        var entry = package.Entries.SingleOrDefault(e => e.FullName == $"{id}.nuspec");
        Assert.True(entry is not null, $"{id}: no {id}.nuspec in the package");
        using var stream = entry.Open();
        return XDocument.Load(stream).Root!;
    }

    // Three separable blobs in 4-D (as the engine's own Sequential tests), a small classifier trained on them, saved
    // and loaded back: one line to check.
    private const string EngineProgram = """
        using DistTrain.Engine;
        using DistTrain.Engine.Layers;
        using DistTrain.Engine.Losses;
        using DistTrain.Engine.Model;
        using DistTrain.Engine.Optimizers;

        var rng = new Random(1);
        const int n = 300;
        var x = new Tensor(n, 4); // (N, 4)
        var y = new Tensor(n);    // (N) class ids
        for (int i = 0; i < n; i++)
        {
            int c = rng.Next(3);
            y.Span[i] = c;
            for (int d = 0; d < 4; d++) x.Span[i * 4 + d] = (d == c ? 2.5f : 0) + (float)(rng.NextDouble() - 0.5);
        }
        var model = new Sequential([4], seed: 1);
        model.Add(new Dense(16, "relu")).Add(new Dense(3, "softmax"));
        model.Compile(new Adam(0.01f), new SparseCategoricalCrossentropy(), ["accuracy"]);
        var history = model.Fit(x, y, epochs: 5, batchSize: 32);
        var result = model.Evaluate(x, y);
        string path = Path.Combine(AppContext.BaseDirectory, "model.dtm");
        model.Save(path);
        bool same = Sequential.Load(path).Predict(x).Span.SequenceEqual(model.Predict(x).Span);
        Console.WriteLine(FormattableString.Invariant(
            $"trained: loss {history["loss"][0]:F4} -> {history["loss"][^1]:F4}, accuracy {result.Accuracy:F4}, reloaded {same}"));
        """;
}
