using System.Diagnostics;

namespace DistTrain.Cli.Tests;

/// <summary>
/// Every NuGet package the solution makes, packed once per test run into a feed folder of its own: `dotnet pack
/// DistTrain.sln -c Release`, built under a separate artifacts folder so that the repository's bin and obj folders
/// (which this test process and the other test assemblies run from) are never written. The first caller packs, which
/// takes a minute or two; every later one gets the same feed; a failed pack fails every caller with its output. The
/// feed is deleted when the test process exits.
/// </summary>
internal static class PackedFeed
{
    /// <summary>The xunit collection of the tests that use the feed: they run alone, after the parallel tests, so that
    /// the pack's build does not slow the timing-sensitive cluster tests down (see <see cref="PackedFeedCollection"/>).</summary>
    public const string Collection = "packed feed";

    private static readonly TimeSpan PackTimeout = TimeSpan.FromMinutes(10);

    private static readonly Lazy<Feed> Packed = new(Pack, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The feed, packed on first use.</summary>
    public static Feed Get() => Packed.Value;

    /// <summary>A folder of .nupkg and .snupkg files, all of one version.</summary>
    /// <param name="PackTime">How long `dotnet pack` took.</param>
    public sealed record Feed(string Directory, string Version, TimeSpan PackTime)
    {
        /// <summary>The ids of the packages in the feed (symbol packages aside).</summary>
        public IReadOnlyList<string> Ids =>
        [
            .. System.IO.Directory.GetFiles(Directory, $"*.{Version}.nupkg").Select(f => Path.GetFileName(f)[..^$".{Version}.nupkg".Length]).Order(),
        ];

        public string Package(string id) => Path.Combine(Directory, $"{id}.{Version}.nupkg");

        public string SymbolPackage(string id) => Path.Combine(Directory, $"{id}.{Version}.snupkg");
    }

    /// <summary>Variables for every dotnet command the package tests run: no telemetry, no banner.</summary>
    public static Dictionary<string, string?> DotnetEnvironment() => new()
    {
        ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
        ["DOTNET_NOLOGO"] = "1",
        ["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1",
    };

    private static Feed Pack()
    {
        string root = System.IO.Directory.CreateTempSubdirectory("disttrain-feed-").FullName;
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            if (System.IO.Directory.Exists(root)) System.IO.Directory.Delete(root, recursive: true);
        };
        string feed = Path.Combine(root, "feed"), artifacts = Path.Combine(root, "artifacts");
        var clock = Stopwatch.StartNew();
        // --disable-build-servers: no MSBuild node or compiler server outlives the command, holding its output open.
        var pack = CliProcess.RunProgram(CliProcess.Dotnet,
            ["pack", Path.Combine(BackgroundProcess.RepositoryRoot(), "DistTrain.sln"), "-c", "Release", "-o", feed, "--artifacts-path", artifacts,
                "--disable-build-servers", "-nologo", "-v", "q"],
            DotnetEnvironment(), PackTimeout, name: "dotnet pack DistTrain.sln");
        clock.Stop();
        Assert.True(pack.ExitCode == 0, $"dotnet pack DistTrain.sln failed ({pack.ExitCode}):\n{pack.Output}");
        System.IO.Directory.Delete(artifacts, recursive: true); // the build's outputs: only the packages are kept
        const string engine = "DistTrain.Engine.";
        var packages = System.IO.Directory.GetFiles(feed, engine + "*.nupkg");
        Assert.True(packages.Length == 1, $"the feed should hold one DistTrain.Engine package, holds {packages.Length}:\n{pack.Output}");
        string version = Path.GetFileName(packages[0])[engine.Length..^".nupkg".Length];
        return new Feed(feed, version, clock.Elapsed);
    }
}

/// <summary>The tests of <see cref="PackedFeed.Collection"/>, run without other tests beside them.</summary>
[CollectionDefinition(PackedFeed.Collection, DisableParallelization = true)]
public sealed class PackedFeedCollection;
