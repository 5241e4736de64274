using System.Diagnostics;
using Npgsql;

namespace DistTrain.Coordinator.Tests;

/// <summary>
/// A throwaway PostgreSQL cluster (Debian's postgresql package, which .ci/run installs): initdb into a temporary
/// directory, a server on a free loopback port, a `disttrain` database with the repository's scripts applied, and a
/// fast stop of that server (by its data directory's PID file) at the end. PostgreSQL refuses to run as root, so as
/// root it runs as the postgres user.
/// </summary>
public sealed class PostgresServer : IAsyncDisposable
{
    private readonly string _bin, _dir;

    private PostgresServer(string bin, string dir, int port)
    {
        _bin = bin;
        _dir = dir;
        ConnectionString = $"Host=127.0.0.1;Port={port};Username=postgres;Database=disttrain;Pooling=false";
    }

    public string ConnectionString { get; }

    public static async Task<PostgresServer> StartAsync()
    {
        string bin = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql").Select(d => Path.Combine(d, "bin")).Where(d => File.Exists(Path.Combine(d, "initdb")))
                .OrderBy(d => d, StringComparer.Ordinal).LastOrDefault() ?? ""
            : "";
        if (bin.Length == 0) throw new InvalidOperationException("PostgreSQL is not installed; .ci/run installs Debian's postgresql package");
        string dir = Directory.CreateTempSubdirectory("disttrain-pg-").FullName;
        int port = LoopbackPort.Free();
        var server = new PostgresServer(bin, dir, port);
        if (Environment.UserName == "root") Run("chown", ["-R", "postgres", dir]);
        server.AsPostgres("initdb", "-D", $"{dir}/data", "-A", "trust", "-U", "postgres");
        server.AsPostgres("pg_ctl", "-D", $"{dir}/data", "-o", $"-p {port} -k {dir} -c listen_addresses=127.0.0.1", "-l", $"{dir}/log", "-w", "start");
        await using (var admin = new NpgsqlConnection($"Host=127.0.0.1;Port={port};Username=postgres;Database=postgres;Pooling=false"))
        {
            await admin.OpenAsync();
            await new NpgsqlCommand("CREATE DATABASE disttrain", admin).ExecuteNonQueryAsync();
        }
        await using (var db = new NpgsqlConnection(server.ConnectionString))
        {
            await db.OpenAsync();
            foreach (string script in new[] { "PostgreSQL-Main.sql", "PostgreSQL-Persistence.sql", "PostgreSQL-Clustering.sql" })
                await new NpgsqlCommand(await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "sql", script)), db).ExecuteNonQueryAsync();
        }
        return server;
    }

    public ValueTask DisposeAsync()
    {
        AsPostgres("pg_ctl", "-D", $"{_dir}/data", "-m", "immediate", "-w", "stop");
        Directory.Delete(_dir, recursive: true);
        return ValueTask.CompletedTask;
    }

    private void AsPostgres(string program, params string[] args)
    {
        string path = Path.Combine(_bin, program);
        if (Environment.UserName == "root") Run("runuser", ["-u", "postgres", "--", path, .. args]);
        else Run(path, args);
    }

    private static void Run(string file, string[] args)
    {
        using var p = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(60_000))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish within 60 s");
        }
        if (p.ExitCode != 0) throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed ({p.ExitCode}): {stderr.Result}{stdout.Result}");
    }
}
