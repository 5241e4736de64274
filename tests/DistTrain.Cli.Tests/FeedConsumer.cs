using System.Security;

namespace DistTrain.Cli.Tests;

/// <summary>
/// A user's console project, written by hand in a temporary folder, that takes DistTrain packages from a
/// <see cref="PackedFeed"/> as a user would: a nuget.config that adds the feed to the machine's own sources (whence
/// System.Numerics.Tensors and the rest come), and a package folder of its own (NUGET_PACKAGES), so that the machine's
/// global package cache never holds, or hands back, a stale DistTrain package. Empty Directory.Build files keep the
/// project free of any found above the temporary folder. Disposing deletes the folder.
/// </summary>
internal sealed class FeedConsumer : IDisposable
{
    private FeedConsumer(string directory) => Directory = directory;

    /// <summary>The project's folder.</summary>
    public string Directory { get; }

    /// <param name="name">The project's (and its assembly's) name.</param>
    /// <param name="packageIds">The DistTrain packages it references, at the feed's version.</param>
    /// <param name="program">Its Program.cs.</param>
    public static FeedConsumer Create(PackedFeed.Feed feed, string name, IEnumerable<string> packageIds, string program)
    {
        string dir = System.IO.Directory.CreateTempSubdirectory("disttrain-consumer-").FullName;
        File.WriteAllText(Path.Combine(dir, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <add key="disttrain-test-feed" value="{SecurityElement.Escape(feed.Directory)}" />
              </packageSources>
            </configuration>
            """);
        File.WriteAllText(Path.Combine(dir, "Directory.Build.props"), "<Project />\n");
        File.WriteAllText(Path.Combine(dir, "Directory.Build.targets"), "<Project />\n");
        File.WriteAllText(Path.Combine(dir, "Directory.Packages.props"), "<Project />\n");
        File.WriteAllText(Path.Combine(dir, $"{name}.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <ImplicitUsings>enable</ImplicitUsings>
              </PropertyGroup>
              <ItemGroup>
            {string.Concat(packageIds.Select(id => $"    <PackageReference Include=\"{id}\" Version=\"[{feed.Version}]\" />\n"))}  </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(dir, "Program.cs"), program);
        return new FeedConsumer(dir);
    }

    /// <summary>`dotnet ARGS` in the project's folder, with its own package folder; fails the test past <paramref name="timeout"/>.</summary>
    public CliProcess.Result Dotnet(TimeSpan timeout, params string[] args)
    {
        var env = PackedFeed.DotnetEnvironment();
        env["NUGET_PACKAGES"] = Path.Combine(Directory, "packages");
        return CliProcess.RunProgram(CliProcess.Dotnet, args, env, timeout, Directory, $"dotnet {string.Join(' ', args)} (in {Directory})");
    }

    public void Dispose() => System.IO.Directory.Delete(Directory, recursive: true);
}
