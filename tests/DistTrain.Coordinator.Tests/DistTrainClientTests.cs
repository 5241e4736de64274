using DistTrain.Client;
using DistTrain.Protos;
using DistTrain.Protos.Security;
using Grpc.Core;

namespace DistTrain.Coordinator.Tests;

/// <summary>
/// <see cref="DistTrainClient"/> against a real coordinator in this process (gRPC on loopback, file storage, a cluster
/// token), on small synthetic digits: a job is submitted, listed, got, watched and cancelled, and every failure comes
/// back as an exception that names the coordinator, the call and the status. No worker runs here, so jobs stay
/// Pending until cancelled; the CLI's tests download trained models through the same <see cref="ModelDownload"/>.
/// </summary>
public class DistTrainClientTests : IAsyncLifetime
{
    private const string Token = "client-test-token-0123456789abcdef";
    private readonly string _state = Silo.TempStateDir();
    private readonly string _digits = Directory.CreateTempSubdirectory("disttrain-digits-").FullName;
    // The coordinator writes the dataset it prepares under $DISTTRAIN_DATA: a folder of this test's, so that the
    // synthetic "mnist" never replaces the machine's real one, which other test processes may be serving. Nothing else
    // in this test assembly reads the variable.
    private readonly string _cache = Directory.CreateTempSubdirectory("disttrain-cache-").FullName;
    private readonly string? _savedCache = Environment.GetEnvironmentVariable("DISTTRAIN_DATA");
    private readonly List<string> _log = [];
    private Microsoft.AspNetCore.Builder.WebApplication? _app;
    private string _url = "";

    public async Task InitializeAsync()
    {
        Environment.SetEnvironmentVariable("DISTTRAIN_DATA", _cache);
        DistTrain.Cli.Tests.SyntheticDigits.Write(_digits, train: 200, test: 50);
        (_app, _url) = await CoordinatorHost.StartAsync(new CoordinatorOptions("127.0.0.1", 0, _digits, StateStorageChoice.File(_state),
            Security: new ClusterSecurity(Token)), _log.Add);
    }

    public async Task DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
        Environment.SetEnvironmentVariable("DISTTRAIN_DATA", _savedCache);
        foreach (string dir in new[] { _state, _digits, _cache }) Directory.Delete(dir, recursive: true);
    }

    private DistTrainClient Client() => new(_url, new ClusterSecurity(Token)) { CallTimeout = TimeSpan.FromSeconds(30) };

    // 200 training digits in global batches of 50 on one worker: 4 steps an epoch.
    private static JobSpec Spec(string model = "mnist-mlp") =>
        new() { Model = model, Dataset = "mnist", Epochs = 1, GlobalBatchSize = 50, Workers = 1, Seed = 1 };

    [Fact]
    public async Task A_dataset_of_ones_own_is_uploaded_once_and_a_job_on_it_is_checked_against_its_labels()
    {
        using var client = Client();
        // 40 samples of 3 features, labels 0, 1, 2: what DataChoice.ForFile("x.csv").Load(log) would read.
        var x = new Engine.Tensor([.. Enumerable.Range(0, 120).Select(i => (float)(i % 7))], 40, 3);
        var y = new Engine.Tensor([.. Enumerable.Range(0, 40).Select(i => (float)(i % 3))], 40);
        var data = new Data.Dataset("points", x, y, x, y, "this test");
        var said = new List<string>();
        string reference = await client.UploadDatasetAsync(data, said.Add);
        Assert.StartsWith("points@sha256:", reference);
        Assert.Contains(said, l => l.StartsWith("uploading points"));
        Assert.Equal(reference, await client.UploadDatasetAsync(data, said.Add)); // held already: not sent again
        Assert.Contains(said, l => l.StartsWith("the coordinator already holds points"));

        // The spec leaves its input shape to the data; a last layer too small for the labels is refused by name.
        string Model(int units) => $$"""{"layers": [{"type": "dense", "units": {{units}}, "activation": "softmax"}], "loss": "sparse_categorical_crossentropy", "optimizer": "adam"}""";
        var job = await client.SubmitAsync(new JobSpec { Model = Model(3), Dataset = reference, Epochs = 1, GlobalBatchSize = 10, Workers = 1 });
        Assert.Equal((40, 4), (job.TrainSamples, job.StepsPerEpoch));
        var refused = await Assert.ThrowsAsync<CoordinatorException>(() =>
            client.SubmitAsync(new JobSpec { Model = Model(2), Dataset = reference, Epochs = 1, GlobalBatchSize = 10, Workers = 1 }));
        Assert.Contains("points's training split has 3 classes but the last layer has 2 units", refused.Message);
        await client.CancelAsync(job.Id);
    }

    [Fact]
    public async Task A_submitted_job_is_listed_got_and_cancelled_and_its_watch_ends_with_it()
    {
        using var client = Client();
        var job = await client.SubmitAsync(Spec());
        Assert.Equal(JobStatus.Pending, job.Status);
        Assert.Equal(4, job.StepsPerEpoch);
        Assert.Equal(200, job.TrainSamples);
        var other = await client.SubmitAsync(Spec());

        var list = await client.ListAsync();
        Assert.Equal(new[] { other.Id, job.Id }, list.Select(j => j.Id)); // newest first
        var got = await client.GetAsync(job.Id);
        Assert.Equal((job.Id, JobStatus.Pending, "mnist-mlp"), (got.Id, got.Status, got.Spec.Model));

        // The watch sees the job pending, then cancelled, and ends by itself.
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var first = new TaskCompletionSource();
        var watched = Task.Run(async () =>
        {
            var seen = new List<Job>();
            await foreach (var j in client.WatchAsync(job.Id, bound.Token))
            {
                seen.Add(j);
                first.TrySetResult();
            }
            return seen;
        });
        await first.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var cancelled = await client.CancelAsync(job.Id);
        Assert.Equal(JobStatus.Cancelled, cancelled.Status);
        var seen = await watched.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(JobStatus.Pending, seen[0].Status);
        Assert.Equal(JobStatus.Cancelled, seen[^1].Status);
        Assert.All(seen, j => Assert.Equal(job.Id, j.Id));

        // Waiting for an ended job returns at once; the other job is untouched.
        Assert.Equal(JobStatus.Cancelled, (await client.WaitAsync(job.Id, TimeSpan.FromSeconds(30))).Status);
        Assert.Equal(JobStatus.Pending, (await client.GetAsync(other.Id)).Status);
    }

    [Fact]
    public async Task Failures_name_the_coordinator_the_call_and_the_status()
    {
        using var client = Client();
        var missing = await Assert.ThrowsAsync<CoordinatorException>(() => client.GetAsync("job-404"));
        Assert.Equal(StatusCode.NotFound, missing.StatusCode);
        Assert.Equal($"get job-404 at {_url}: NotFound: no job job-404", missing.Message);
        Assert.IsType<RpcException>(missing.InnerException);

        var refused = await Assert.ThrowsAsync<CoordinatorException>(() => client.SubmitAsync(Spec(model: "no-such-model")));
        Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
        Assert.StartsWith($"submit no-such-model on mnist at {_url}: InvalidArgument: the job's model must be a preset", refused.Message);

        var job = await client.SubmitAsync(Spec());
        var noModel = await Assert.ThrowsAsync<InvalidOperationException>(() => client.DownloadModelAsync(job.Id, Path.Combine(_state, "model.dtm")));
        Assert.Equal($"{job.Id} has no final model: it is Pending; a job's trained model is stored when it completes", noModel.Message);
        Assert.False(File.Exists(Path.Combine(_state, "model.dtm")));

        await client.CancelAsync(job.Id);
        var twice = await Assert.ThrowsAsync<CoordinatorException>(() => client.CancelAsync(job.Id));
        Assert.Equal(StatusCode.FailedPrecondition, twice.StatusCode);
        Assert.Contains("only pending or running jobs can be cancelled", twice.Message);

        // Without the cluster token, and where no coordinator listens.
        using var stranger = new DistTrainClient(_url);
        Assert.Equal(StatusCode.Unauthenticated, (await Assert.ThrowsAsync<CoordinatorException>(() => stranger.ListAsync())).StatusCode);
        string nowhere = $"http://127.0.0.1:{LoopbackPort.Free()}";
        using var lost = new DistTrainClient(nowhere, new ClusterSecurity(Token));
        var down = await Assert.ThrowsAsync<CoordinatorException>(() => lost.ListAsync());
        Assert.Equal(StatusCode.Unavailable, down.StatusCode);
        Assert.StartsWith($"list jobs at {nowhere}: Unavailable: no coordinator answered", down.Message);
    }

    [Fact]
    public async Task Waiting_is_bounded_and_cancellation_is_a_cancellation()
    {
        using var client = Client();
        var job = await client.SubmitAsync(Spec());
        var timeout = await Assert.ThrowsAsync<TimeoutException>(() => client.WaitAsync(job.Id, TimeSpan.FromSeconds(1)));
        Assert.Equal($"{job.Id} did not end within 1 s; it is Pending", timeout.Message);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => client.WaitAsync(job.Id, Timeout.InfiniteTimeSpan));

        using var stop = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.WaitAsync(job.Id, TimeSpan.FromSeconds(30), stop.Token));
        using var stopped = new CancellationTokenSource();
        stopped.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.GetAsync(job.Id, stopped.Token));
    }
}
