using DistTrain.Protos;
using DistTrain.Protos.Security;
using Grpc.Core;
using Grpc.Net.Client;

namespace DistTrain.Cli.Tests;

/// <summary>
/// A real coordinator and a real worker, both requiring <see cref="Token"/>, on loopback; shared by the hostile-input
/// suite, which checks after every case that both still run. Disposing stops them by PID.
/// </summary>
public sealed class SecureCluster : IDisposable
{
    public const string Token = "suite-token-2f1c9a7e5b3d4c6a";
    private readonly string _dir = Directory.CreateTempSubdirectory("dt-secure-").FullName;

    /// <summary>Where the suite records each case's status and message, one run's worth.</summary>
    public static readonly string Record = Path.Combine(AppContext.BaseDirectory, "hostile-rpc-cases.tsv");

    public SecureCluster()
    {
        File.Delete(Record);
        SyntheticDigits.Write(_dir);
        Env = new() { ["DISTTRAIN_DATA"] = Path.Combine(_dir, "cache"), [ClusterToken.Variable] = Token };
        int port = BackgroundProcess.FreePort();
        Url = $"http://127.0.0.1:{port}";
        Coordinator = BackgroundProcess.Disttrain(["coordinator", "--bind", "127.0.0.1", "--port", port.ToString(), "--state-dir", Path.Combine(_dir, "state"),
            "--data-dir", _dir], Env);
        Coordinator.WaitForLine(l => l.StartsWith("coordinator listening", StringComparison.Ordinal), TimeSpan.FromSeconds(60));
        Worker = BackgroundProcess.Disttrain(["worker", "--coordinator", Url, "--bind", "127.0.0.1"], Env);
        string registered = Worker.WaitForLine(l => l.Contains("serving the ring at ", StringComparison.Ordinal), TimeSpan.FromSeconds(60));
        WorkerUrl = registered[(registered.IndexOf("serving the ring at ", StringComparison.Ordinal) + "serving the ring at ".Length)..].Split(';')[0].Trim();
        Worker.WaitForLine(l => l.Contains(": registered with ", StringComparison.Ordinal), TimeSpan.FromSeconds(60));
        Channel = CoordinatorChannel.Create(Url, security: new ClusterSecurity(Token));
        WorkerChannel = GrpcChannel.ForAddress(WorkerUrl);
        RawChannel = GrpcChannel.ForAddress(Url);
        Jobs = new Jobs.JobsClient(Channel);
        // A job that waits for more workers than there are: the target of the calls that a stranger must not affect.
        PendingJob = Jobs.Submit(new SubmitJobRequest { Spec = new JobSpec { Model = "mnist-mlp", Dataset = "mnist", Epochs = 1, GlobalBatchSize = 60, Workers = 4 } }).Id;
        // A worker of our own, registered with the token: its secret is good, but it belongs to no job.
        var workers = new Workers.WorkersClient(Channel);
        var own = workers.Register(new RegisterRequest { AdvertisedAddress = "http://127.0.0.1:9", Threads = 1, WorkerId = "w-outsider" });
        (OutsiderId, OutsiderSecret) = (own.WorkerId, own.WorkerSecret);
    }

    public Dictionary<string, string> Env { get; }
    public string Url { get; }
    public string WorkerUrl { get; }
    internal BackgroundProcess Coordinator { get; }
    internal BackgroundProcess Worker { get; }
    public GrpcChannel Channel { get; }
    public GrpcChannel WorkerChannel { get; }

    /// <summary>A channel to the coordinator that adds nothing: each call brings its own metadata.</summary>
    public GrpcChannel RawChannel { get; }
    public Jobs.JobsClient Jobs { get; }
    public string PendingJob { get; }
    public string OutsiderId { get; }
    public string OutsiderSecret { get; }

    public void Dispose()
    {
        Channel.Dispose();
        WorkerChannel.Dispose();
        RawChannel.Dispose();
        Worker.Dispose();
        Coordinator.Dispose();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
            // A child still closing a file: the temp folder is the system's to clean.
        }
    }

    /// <summary>Metadata with the cluster token, and a worker secret when given.</summary>
    public static Metadata Headers(string? token = Token, string? secret = null, string? scheme = "Bearer")
    {
        var m = new Metadata();
        if (token is not null) m.Add(ClusterToken.Header, $"{scheme} {token}");
        if (secret is not null) m.Add(WorkerSecret.Header, secret);
        return m;
    }
}
