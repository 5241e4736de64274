using DistTrain.Protos;
using Google.Protobuf;
using Grpc.Core;
using Xunit.Abstractions;

namespace DistTrain.Cli.Tests;

/// <summary>
/// The hostile-input suite against real servers: a real coordinator and a real worker, both requiring the cluster
/// token. Each case sends one hostile call — no token, a wrong one, another party's secret, malformed protobuf, an
/// oversized message, a spec past its limits — and states the status it must get. Every case records its status and
/// message (test output, and hostile-rpc-cases.tsv beside the test binaries), and afterwards both processes must still
/// run and answer. The data and model-file cases live beside their readers (Data.Tests HostileInputTests, Engine.Tests
/// HostileSpecTests and HostileModelFileTests); ring frames in Collectives.Tests RingSecurityTests.
/// </summary>
public class HostileInputSuiteTests(SecureCluster cluster, ITestOutputHelper output) : IClassFixture<SecureCluster>
{
    /// <summary>One hostile call: what it sends, and what must come back (a status, and words of the message).</summary>
    public sealed record Case(string Name, Func<SecureCluster, Task<(StatusCode Code, string Detail)>> Send, StatusCode[] Expected, string? Says = null);

    private static readonly Marshaller<byte[]> Bytes = Marshallers.Create(b => b, b => b);

    // Every RPC of every service, as (service, method, type, on the worker).
    private static readonly (string Service, string Method, MethodType Type, bool OnWorker)[] Rpcs =
    [
        ("Jobs", "Submit", MethodType.Unary, false), ("Jobs", "Get", MethodType.Unary, false), ("Jobs", "List", MethodType.Unary, false),
        ("Jobs", "Cancel", MethodType.Unary, false), ("Jobs", "Watch", MethodType.ServerStreaming, false),
        ("Workers", "Register", MethodType.Unary, false), ("Workers", "Heartbeat", MethodType.Unary, false),
        ("Workers", "GetAssignment", MethodType.Unary, false), ("Workers", "ReportProgress", MethodType.Unary, false),
        ("Workers", "Leave", MethodType.Unary, false), ("Workers", "List", MethodType.Unary, false),
        ("Workers", "ReportBroken", MethodType.Unary, false), ("Workers", "NextGeneration", MethodType.Unary, false),
        ("Checkpoints", "Upload", MethodType.ClientStreaming, false), ("Checkpoints", "Download", MethodType.ServerStreaming, false),
        ("Checkpoints", "List", MethodType.Unary, false),
        ("Datasets", "Fetch", MethodType.ServerStreaming, false), ("Datasets", "Stat", MethodType.Unary, false),
        ("Datasets", "Upload", MethodType.ClientStreaming, false),
        ("Collective", "Link", MethodType.ServerStreaming, true),
    ];

    /// <summary>Sends <paramref name="message"/> as raw bytes to a method, so that anything at all can be sent.</summary>
    public static async Task<(StatusCode, string)> RawAsync(SecureCluster c, string service, string method, MethodType type, byte[] message, Metadata headers)
    {
        var m = new Method<byte[], byte[]>(type, $"disttrain.v1.{service}", method, Bytes, Bytes);
        var invoker = (service == "Collective" ? c.WorkerChannel : c.RawChannel).CreateCallInvoker();
        var options = new CallOptions(headers, DateTime.UtcNow.AddSeconds(15));
        try
        {
            switch (type)
            {
                case MethodType.Unary:
                    await invoker.AsyncUnaryCall(m, null, options, message);
                    break;
                case MethodType.ServerStreaming:
                {
                    using var call = invoker.AsyncServerStreamingCall(m, null, options, message);
                    while (await call.ResponseStream.MoveNext(CancellationToken.None)) { }
                    break;
                }
                default:
                {
                    using var call = invoker.AsyncClientStreamingCall(m, null, options);
                    try
                    {
                        await call.RequestStream.WriteAsync(message);
                        await call.RequestStream.CompleteAsync();
                    }
                    catch (Exception e) when (e is RpcException or InvalidOperationException)
                    {
                        // The server answered (refused) before the message was sent: its status is in the response.
                    }
                    await call.ResponseAsync;
                    break;
                }
            }
            return (StatusCode.OK, "");
        }
        catch (RpcException e)
        {
            return (e.StatusCode, e.Status.Detail);
        }
    }

    // A typed call, its RpcException turned into the result.
    private static async Task<(StatusCode, string)> Call(Func<Task> call)
    {
        try
        {
            await call();
            return (StatusCode.OK, "");
        }
        catch (RpcException e)
        {
            return (e.StatusCode, e.Status.Detail);
        }
    }

    private static JobSpec Good() => new() { Model = "mnist-mlp", Dataset = "mnist", Epochs = 1, GlobalBatchSize = 60, Workers = 4 };

    public static IEnumerable<Case> All()
    {
        // 1. No token, a wrong token, the right token under another scheme: UNAUTHENTICATED, on every RPC, before the
        //    message is even read (it is empty here).
        foreach (var (service, method, type, _) in Rpcs)
        {
            yield return new($"auth/{service}.{method}/no-token", c => RawAsync(c, service, method, type, [], SecureCluster.Headers(token: null)),
                [StatusCode.Unauthenticated], "no cluster token");
            yield return new($"auth/{service}.{method}/wrong-token", c => RawAsync(c, service, method, type, [], SecureCluster.Headers("wrong-token-0000000000000000")),
                [StatusCode.Unauthenticated], "wrong");
            yield return new($"auth/{service}.{method}/basic-scheme", c => RawAsync(c, service, method, type, [], SecureCluster.Headers(scheme: "Basic")),
                [StatusCode.Unauthenticated], "wrong");
        }
        // 2. Malformed protobuf with the right token: refused with a status, the process unharmed.
        var malformed = new (string Name, byte[] Bytes)[]
        {
            ("bad-varint", [0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
            ("truncated-field", [0x0A, 0x64, 0x41]),
            ("bad-wire-type", [0x0F, 0x01]),
        };
        foreach (var (service, method, type, _) in Rpcs)
            foreach (var (name, bytes) in malformed)
                yield return new($"protobuf/{service}.{method}/{name}", c => RawAsync(c, service, method, type, bytes, SecureCluster.Headers()),
                    [StatusCode.InvalidArgument], "is not a valid");
        // 3. Oversized messages: each service's cap, well-formed otherwise.
        static byte[] Spec(int modelBytes) => new SubmitJobRequest { Spec = new JobSpec { Model = new string('x', modelBytes) } }.ToByteArray();
        yield return new("oversize/Jobs.Submit/3MiB", c => RawAsync(c, "Jobs", "Submit", MethodType.Unary, Spec(3 << 20), SecureCluster.Headers()),
            [StatusCode.ResourceExhausted]);
        yield return new("oversize/Jobs.Get/3MiB-id", c => RawAsync(c, "Jobs", "Get", MethodType.Unary,
            new GetJobRequest { Id = new string('j', 3 << 20) }.ToByteArray(), SecureCluster.Headers()), [StatusCode.ResourceExhausted]);
        yield return new("oversize/Workers.Register/512KiB", c => RawAsync(c, "Workers", "Register", MethodType.Unary,
            new RegisterRequest { AdvertisedAddress = new string('a', 512 * 1024) }.ToByteArray(), SecureCluster.Headers()), [StatusCode.ResourceExhausted]);
        yield return new("oversize/Datasets.Fetch/2MiB-digest", c => RawAsync(c, "Datasets", "Fetch", MethodType.ServerStreaming,
            new FetchDatasetRequest { Digest = new string('d', 2 << 20) }.ToByteArray(), SecureCluster.Headers()), [StatusCode.ResourceExhausted]);
        yield return new("oversize/Datasets.Upload/3MiB-chunk", c => RawAsync(c, "Datasets", "Upload", MethodType.ClientStreaming,
            new DatasetUpload { Digest = new string('a', 64), TotalBytes = 3 << 20, Data = ByteString.CopyFrom(new byte[3 << 20]) }.ToByteArray(), SecureCluster.Headers()),
            [StatusCode.ResourceExhausted]);
        yield return new("oversize/Checkpoints.Upload/6MiB-chunk", c => RawAsync(c, "Checkpoints", "Upload", MethodType.ClientStreaming,
            new CheckpointChunk { TotalBytes = 6 << 20, Data = ByteString.CopyFrom(new byte[6 << 20]) }.ToByteArray(), SecureCluster.Headers()),
            [StatusCode.ResourceExhausted]);
        yield return new("oversize/Collective.Link/8KiB-secret", c => RawAsync(c, "Collective", "Link", MethodType.ServerStreaming,
            new LinkRequest { Secret = new string('s', 8192) }.ToByteArray(), SecureCluster.Headers()), [StatusCode.ResourceExhausted]);
        // 4. Specs past their limits, with the right token: INVALID_ARGUMENT naming what was wrong.
        var specs = new (string Name, Action<JobSpec> Change, string Says)[]
        {
            ("epochs-0", s => s.Epochs = 0, "epochs"),
            ("epochs-huge", s => s.Epochs = 10_000_000, "epochs"),
            ("workers-0", s => s.Workers = 0, "worker"),
            ("workers-huge", s => s.Workers = 100_000, "worker"),
            ("batch-negative", s => s.GlobalBatchSize = -5, "batch"),
            ("threads-huge", s => s.ThreadsPerWorker = 1_000_000, "threads"),
            ("min-workers-above", s => s.MinWorkers = 9, "min-workers"),
            ("wait-negative", s => s.WaitForWorkersSeconds = -1, "wait-for-workers"),
            ("checkpoint-every-negative", s => s.CheckpointEvery = -1, "checkpoint-every"),
            ("keep-checkpoints-huge", s => s.KeepCheckpoints = 5000, "keep-checkpoints"),
            ("max-restarts-negative", s => s.MaxRestarts = -1, "max-restarts"),
            ("max-skipped-negative", s => s.MaxSkippedSteps = -1, "max-skipped-steps"),
            ("model-path", s => s.Model = "/etc/passwd", "preset"),
            ("model-unknown-preset", s => s.Model = "no-such-model", "preset"),
            ("model-garbage-json", s => s.Model = "{\"layers\": [", "job model"),
            ("model-dense-huge", s => s.Model = """{"input_shape":[28,28,1],"layers":[{"type":"flatten"},{"type":"dense","units":100000000}],"loss":"sparse_categorical_crossentropy","optimizer":"adam"}""", "limit"),
            ("model-deep-json", s => s.Model = string.Concat(Enumerable.Repeat("{\"a\":", 5000)) + "1" + new string('}', 5000), "job model"),
            ("model-unknown-layer", s => s.Model = """{"input_shape":[28,28,1],"layers":[{"type":"teleport"}],"loss":"sparse_categorical_crossentropy","optimizer":"adam"}""", "teleport"),
            ("optimizer-garbage", s => s.Optimizer = "{\"type\": 7}", "optimizer"),
            ("optimizer-unknown", s => s.Optimizer = "warp-drive", "optimizer"),
            ("dataset-unknown", s => s.Dataset = "cifar-1000", "cifar-1000"),
            ("batch-above-split", s => s.GlobalBatchSize = 1_000_000, "1000000"),
            ("num-words-huge", s => (s.Dataset, s.Model, s.NumWords) = ("imdb", "imdb-lstm", 2_000_000_000), "num"),
            ("max-len-huge", s => (s.Dataset, s.Model, s.MaxLen) = ("imdb", "imdb-lstm", 1_000_000_000), "len"),
            ("resume-from-unknown", s => s.ResumeFrom = "job-999999", "job-999999"),
            ("model-too-long", s => s.Model = "{\"layers\": [" + new string(' ', 3 << 19) + "]}", "limit"),
        };
        foreach (var (name, change, says) in specs)
            yield return new($"spec/{name}", c =>
            {
                var spec = Good();
                change(spec);
                return Call(() => c.Jobs.SubmitAsync(new SubmitJobRequest { Spec = spec }).ResponseAsync);
            }, [StatusCode.InvalidArgument, StatusCode.NotFound], says);
        // 5. Calls about a worker without its secret, or with another's: UNAUTHENTICATED, nothing changed.
        var workerCalls = new (string Name, Func<SecureCluster, Metadata, Task<(StatusCode, string)>> Send)[]
        {
            ("Heartbeat", (c, h) => Call(() => new Workers.WorkersClient(c.RawChannel).HeartbeatAsync(new HeartbeatRequest { WorkerId = c.OutsiderId }, h).ResponseAsync)),
            ("GetAssignment", (c, h) => Call(() => new Workers.WorkersClient(c.RawChannel).GetAssignmentAsync(new GetAssignmentRequest { WorkerId = c.OutsiderId }, h).ResponseAsync)),
            ("ReportProgress", (c, h) => Call(() => new Workers.WorkersClient(c.RawChannel).ReportProgressAsync(
                new ProgressReport { WorkerId = c.OutsiderId, JobId = c.PendingJob, Error = "made up" }, h).ResponseAsync)),
            ("Leave", (c, h) => Call(() => new Workers.WorkersClient(c.RawChannel).LeaveAsync(new LeaveRequest { WorkerId = c.OutsiderId, Reason = "made up" }, h).ResponseAsync)),
            ("ReportBroken", (c, h) => Call(() => new Workers.WorkersClient(c.RawChannel).ReportBrokenAsync(
                new BrokenRingReport { WorkerId = c.OutsiderId, JobId = c.PendingJob, Reason = "made up" }, h).ResponseAsync)),
            ("NextGeneration", (c, h) => Call(() => new Workers.WorkersClient(c.RawChannel).NextGenerationAsync(
                new NextGenerationRequest { WorkerId = c.OutsiderId, JobId = c.PendingJob }, h).ResponseAsync)),
            ("Upload", (c, h) => RawAsync(c, "Checkpoints", "Upload", MethodType.ClientStreaming,
                new CheckpointChunk { Header = new CheckpointHeader { WorkerId = c.OutsiderId, JobId = c.PendingJob }, TotalBytes = 4, Data = ByteString.CopyFrom(1, 2, 3, 4) }.ToByteArray(), h)),
        };
        foreach (var (name, send) in workerCalls)
        {
            yield return new($"worker-secret/{name}/none", c => send(c, SecureCluster.Headers()), [StatusCode.Unauthenticated], "worker secret");
            yield return new($"worker-secret/{name}/wrong", c => send(c, SecureCluster.Headers(secret: new string('0', 64))), [StatusCode.Unauthenticated], "not w-outsider's");
        }
        // 6. The right token and this worker's own secret, about a job it does not belong to: PERMISSION_DENIED.
        foreach (var (name, send) in workerCalls.Where(w => w.Name is "ReportProgress" or "ReportBroken" or "Upload"))
            yield return new($"other-job/{name}", c => send(c, SecureCluster.Headers(secret: c.OutsiderSecret)), [StatusCode.PermissionDenied], "member");
        // Asking for the next generation of a job it is not in: told it is out (rank -1), and never the ring's secret.
        yield return new("other-job/NextGeneration", async c =>
        {
            var a = await new Workers.WorkersClient(c.RawChannel).NextGenerationAsync(new NextGenerationRequest { WorkerId = c.OutsiderId, JobId = c.PendingJob },
                SecureCluster.Headers(secret: c.OutsiderSecret));
            return (StatusCode.OK, $"rank {a.Rank}, ring secret '{a.RingSecret}'");
        }, [StatusCode.OK], "rank -1, ring secret ''");
        // 7. Dataset uploads (submit --data) that lie about their size or digest, or are no dataset file: INVALID_ARGUMENT
        //    naming the fault, nothing kept.
        static byte[] DatasetBytes(string shapes, int dataBytes) => [.. "DTDATA1\0"u8, .. BitConverter.GetBytes(System.Text.Encoding.UTF8.GetByteCount(shapes)),
            .. System.Text.Encoding.UTF8.GetBytes(shapes), .. new byte[dataBytes]];
        static string Sha(byte[] b) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(b));
        var garbage = new byte[4096];
        var huge = DatasetBytes("""{"Name":"x","Source":"","Details":null,"Shapes":[[1073741824,1073741824],[1],[1,1],[1]]}""", 64);
        var mismatched = DatasetBytes("""{"Name":"x","Source":"","Details":null,"Shapes":[[4,2],[3],[0,2],[0]]}""", 44); // 4 inputs but 3 labels, and every byte there
        var uploads = new (string Name, DatasetUpload[] Messages, string Says)[]
        {
            ("empty-stream", [], "starts with"),
            ("digest-not-hex", [new() { Digest = "../../etc/passwd", TotalBytes = 4, Data = ByteString.CopyFrom(1, 2, 3, 4) }], "digest"),
            ("size-zero", [new() { Digest = Sha([]), TotalBytes = 0 }], "bytes"),
            ("size-a-terabyte", [new() { Digest = new string('a', 64), TotalBytes = 1L << 40 }], "bytes"),
            ("more-than-declared", [new() { Digest = new string('a', 64), TotalBytes = 10, Data = ByteString.CopyFrom(new byte[20]) }], "more than"),
            ("fewer-than-declared", [new() { Digest = new string('a', 64), TotalBytes = 100, Data = ByteString.CopyFrom(new byte[10]) }], "ended after"),
            ("digest-again-later", [new() { Digest = Sha(garbage), TotalBytes = 4096, Data = ByteString.CopyFrom(garbage, 0, 2048) },
                new() { Digest = Sha(garbage), Data = ByteString.CopyFrom(garbage, 2048, 2048) }], "first message"),
            ("wrong-digest", [new() { Digest = new string('c', 64), TotalBytes = 4096, Data = ByteString.CopyFrom(garbage) }], "does not hash"),
            ("not-a-dataset", [new() { Digest = Sha(garbage), TotalBytes = 4096, Data = ByteString.CopyFrom(garbage) }], "bad magic"),
            ("header-promises-2^60-floats", [new() { Digest = Sha(huge), TotalBytes = huge.Length, Data = ByteString.CopyFrom(huge) }], "larger than"),
            ("splits-do-not-match", [new() { Digest = Sha(mismatched), TotalBytes = mismatched.Length, Data = ByteString.CopyFrom(mismatched) }], "do not match"),
        };
        foreach (var (name, messages, says) in uploads)
            yield return new($"upload/{name}", c => Call(async () =>
            {
                using var call = new Datasets.DatasetsClient(c.Channel).Upload(deadline: DateTime.UtcNow.AddSeconds(15));
                try
                {
                    foreach (var m in messages) await call.RequestStream.WriteAsync(m);
                    await call.RequestStream.CompleteAsync();
                }
                catch (Exception e) when (e is RpcException or InvalidOperationException)
                {
                    // Refused before everything was sent: the status is in the response.
                }
                await call.ResponseAsync;
            }), [StatusCode.InvalidArgument], says);
        yield return new("upload/Stat-not-a-digest", c => Call(() => new Datasets.DatasetsClient(c.Channel).StatAsync(new FetchDatasetRequest { Digest = "x" }).ResponseAsync),
            [StatusCode.InvalidArgument], "digest");
        yield return new("upload/Stat-unknown", c => Call(() => new Datasets.DatasetsClient(c.Channel).StatAsync(new FetchDatasetRequest { Digest = new string('e', 64) }).ResponseAsync),
            [StatusCode.NotFound], "SHA-256");
        yield return new("upload/job-names-a-dataset-never-uploaded", c => Call(() => c.Jobs.SubmitAsync(new SubmitJobRequest { Spec = new JobSpec
            { Model = "mnist-mlp", Dataset = "mine@sha256:" + new string('f', 64), Epochs = 1, GlobalBatchSize = 60, Workers = 1 } }).ResponseAsync),
            [StatusCode.InvalidArgument], "holds no dataset");
        yield return new("upload/job-names-a-bad-digest", c => Call(() => c.Jobs.SubmitAsync(new SubmitJobRequest { Spec = new JobSpec
            { Model = "mnist-mlp", Dataset = "mine@sha256:../../etc", Epochs = 1, GlobalBatchSize = 60, Workers = 1 } }).ResponseAsync),
            [StatusCode.InvalidArgument], "digest");
        // 8. Unknown ids and digests: NOT_FOUND or INVALID_ARGUMENT naming them.
        yield return new("unknown/Jobs.Get", c => Call(() => c.Jobs.GetAsync(new GetJobRequest { Id = "job-424242" }).ResponseAsync), [StatusCode.NotFound], "job-424242");
        yield return new("unknown/Jobs.Cancel", c => Call(() => c.Jobs.CancelAsync(new CancelJobRequest { Id = "job-424242" }).ResponseAsync), [StatusCode.NotFound], "job-424242");
        yield return new("unknown/Datasets.Fetch", c => RawAsync(c, "Datasets", "Fetch", MethodType.ServerStreaming,
            new FetchDatasetRequest { Digest = new string('a', 64) }.ToByteArray(), SecureCluster.Headers()), [StatusCode.NotFound], "SHA-256");
        yield return new("unknown/Checkpoints.Download/not-a-digest", c => RawAsync(c, "Checkpoints", "Download", MethodType.ServerStreaming,
            new DownloadCheckpointRequest { Digest = "../../etc/passwd" }.ToByteArray(), SecureCluster.Headers()), [StatusCode.InvalidArgument], "digest");
        yield return new("unknown/Checkpoints.Download/absent", c => RawAsync(c, "Checkpoints", "Download", MethodType.ServerStreaming,
            new DownloadCheckpointRequest { Digest = new string('b', 64) }.ToByteArray(), SecureCluster.Headers()), [StatusCode.NotFound], "no checkpoint");
        yield return new("unknown/Workers.Register/bad-address", c => Call(() => new Workers.WorkersClient(c.Channel).RegisterAsync(
            new RegisterRequest { AdvertisedAddress = "not a url" }).ResponseAsync), [StatusCode.InvalidArgument], "advertised address");
        yield return new("unknown/Workers.Register/bad-id", c => Call(() => new Workers.WorkersClient(c.Channel).RegisterAsync(
            new RegisterRequest { AdvertisedAddress = "http://127.0.0.1:9", WorkerId = "../../x" }).ResponseAsync), [StatusCode.InvalidArgument], "worker id");
    }

    private static readonly Dictionary<string, Case> ByName = All().ToDictionary(c => c.Name);

    public static TheoryData<string> Names => new(ByName.Keys);

    [Fact]
    public void The_suite_has_at_least_150_cases_across_its_categories()
    {
        Assert.True(ByName.Count >= 150, $"{ByName.Count} cases");
        Assert.Equal(8, ByName.Keys.Select(k => k.Split('/')[0]).Distinct().Count());
    }

    [Theory]
    [MemberData(nameof(Names))]
    public async Task A_hostile_call_gets_its_status_and_every_process_survives(string name)
    {
        var c = ByName[name];
        var (code, detail) = await c.Send(cluster);
        string line = $"{name}\t{code}\t{detail}";
        output.WriteLine(line);
        lock (ByName) File.AppendAllText(SecureCluster.Record, line + "\n");
        Assert.True(c.Expected.Contains(code), $"{name}: expected {string.Join(" or ", c.Expected)}, got {code} {detail}");
        if (c.Says is not null) Assert.Contains(c.Says, detail, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("   at ", detail); // a message, never a stack trace
        Assert.False(cluster.Coordinator.HasExited, $"the coordinator exited after {name}");
        Assert.False(cluster.Worker.HasExited, $"the worker exited after {name}");
        // Still serving, and the job a stranger must not touch is as it was.
        var job = await cluster.Jobs.GetAsync(new GetJobRequest { Id = cluster.PendingJob }, deadline: DateTime.UtcNow.AddSeconds(10));
        Assert.Equal(JobStatus.Pending, job.Status);
        Assert.Equal("", job.Error);
    }
}
