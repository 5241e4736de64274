using System.Runtime.CompilerServices;
using DistTrain.Engine.Model;
using DistTrain.Protos;
using DistTrain.Protos.Security;
using Grpc.Core;
using Grpc.Net.Client;

namespace DistTrain.Client;

/// <summary>
/// Jobs on a DistTrain coordinator, from C#: what `disttrain submit`, `jobs`, `status`, `cancel` and `export` do, over
/// the same gRPC Jobs and Checkpoints services. One instance holds one channel; it is thread-safe and meant to be kept.
/// </summary>
/// <remarks>
/// Every call is bounded: the unary ones by <see cref="CallTimeout"/>, a download by <see cref="DownloadTimeout"/>, and
/// a watch, which lasts as long as its job, by the caller's cancellation token (or <see cref="WaitAsync"/>'s timeout).
/// A failed call throws <see cref="CoordinatorException"/>, whose message names the coordinator, the call and the
/// status; a cancelled one throws <see cref="OperationCanceledException"/>, as .NET callers expect, not gRPC's
/// Cancelled status.
/// </remarks>
public sealed class DistTrainClient : IDisposable
{
    private readonly string _coordinator;
    private readonly GrpcChannel _channel;
    private readonly Jobs.JobsClient _jobs;

    /// <param name="coordinator">The coordinator's URL, such as http://127.0.0.1:7070, or several coordinators of one
    /// cluster as URL1,URL2: calls go to any that is up.</param>
    /// <param name="security">The cluster token and TLS settings (default: none, which a coordinator accepts only on
    /// loopback or when started with --insecure).</param>
    /// <exception cref="ArgumentException">The URL is not an http:// or https:// URL, or TLS settings came with http://.</exception>
    public DistTrainClient(string coordinator, ClusterSecurity? security = null)
    {
        if (string.IsNullOrWhiteSpace(coordinator))
            throw new ArgumentException("give the coordinator's URL, such as http://127.0.0.1:7070", nameof(coordinator));
        _coordinator = coordinator;
        // No retry policy: like the CLI's commands, a caller learns at once that no coordinator answers.
        _channel = CoordinatorChannel.Create(coordinator, retry: false, security);
        _jobs = new Jobs.JobsClient(_channel);
    }

    /// <summary>The deadline of each submit, get, list and cancel (default 2 minutes). A submit can take seconds:
    /// the coordinator prepares a dataset the first time a job names it.</summary>
    public TimeSpan CallTimeout { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>The deadline of a model download (default 10 minutes, as the CLI's).</summary>
    public TimeSpan DownloadTimeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>How long <see cref="WatchAsync"/> keeps trying to reach a coordinator that went away (restarted, or
    /// one of several died) before it gives up (default 2 minutes, as the CLI's watcher). The job goes on without it.</summary>
    public TimeSpan ReconnectPatience { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>Submits a job; it comes back with its id, Pending until enough workers have registered.</summary>
    /// <exception cref="CoordinatorException">InvalidArgument names what the coordinator refused in the spec.</exception>
    public Task<Job> SubmitAsync(JobSpec spec, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return UnaryAsync($"submit {(spec.Model.TrimStart().StartsWith('{') ? "a model spec" : spec.Model)} on {spec.Dataset}",
            options => _jobs.SubmitAsync(new SubmitJobRequest { Spec = spec }, options), cancellationToken);
    }

    /// <summary>The job as it stands.</summary>
    /// <exception cref="CoordinatorException">NotFound when the coordinator knows no such job.</exception>
    public Task<Job> GetAsync(string id, CancellationToken cancellationToken = default) =>
        UnaryAsync($"get {RequireId(id)}", options => _jobs.GetAsync(new GetJobRequest { Id = id }, options), cancellationToken);

    /// <summary>Every job the coordinator knows, newest first.</summary>
    public async Task<IReadOnlyList<Job>> ListAsync(CancellationToken cancellationToken = default) =>
        (await UnaryAsync("list jobs", options => _jobs.ListAsync(new ListJobsRequest(), options), cancellationToken)).Jobs;

    /// <summary>Cancels a pending or running job: its workers stop together after their current steps. Returns the job,
    /// now Cancelled.</summary>
    /// <exception cref="CoordinatorException">FailedPrecondition when the job has already ended; NotFound when there is none.</exception>
    public Task<Job> CancelAsync(string id, CancellationToken cancellationToken = default) =>
        UnaryAsync($"cancel {RequireId(id)}", options => _jobs.CancelAsync(new CancelJobRequest { Id = id }, options), cancellationToken);

    /// <summary>
    /// The job now, then again each time its progress changes; the sequence ends after the job has ended (Completed,
    /// Failed or Cancelled), with that state. A watch cut off by a coordinator restart is opened again, within
    /// <see cref="ReconnectPatience"/>; after one, the current state may come twice.
    /// </summary>
    public async IAsyncEnumerable<Job> WatchAsync(string id, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        RequireId(id);
        DateTime? lostSince = null;
        while (true)
        {
            RpcException lost;
            using (var call = _jobs.Watch(new GetJobRequest { Id = id }, cancellationToken: cancellationToken))
            {
                while (true)
                {
                    var (job, broke) = await NextAsync(call.ResponseStream, id, cancellationToken);
                    if (job is null)
                    {
                        // The coordinator restarted, or the one watched died and the cluster has others, or it stopped
                        // and ended the stream: the job goes on without it, so look for a coordinator again.
                        lost = broke ?? new RpcException(new Status(StatusCode.Unavailable, "the watch ended before the job did"));
                        break;
                    }
                    lostSince = null;
                    yield return job;
                    if (IsFinal(job.Status)) yield break;
                }
            }
            lostSince ??= DateTime.UtcNow;
            if (DateTime.UtcNow - lostSince > ReconnectPatience) throw new CoordinatorException(_coordinator, $"watch {id}", lost);
            await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
        }
    }

    /// <summary>
    /// Waits until the job has ended and returns it (check its Status: Completed, Failed with its Error, or Cancelled).
    /// </summary>
    /// <exception cref="TimeoutException">The job had not ended within <paramref name="timeout"/>; the message says where it stood.</exception>
    public async Task<Job> WaitAsync(string id, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        RequireId(id);
        if (timeout <= TimeSpan.Zero || timeout == Timeout.InfiniteTimeSpan)
            throw new ArgumentOutOfRangeException(nameof(timeout), timeout, "the wait needs a positive, finite timeout");
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(timeout);
        Job? last = null;
        try
        {
            await foreach (var job in WatchAsync(id, bounded.Token)) last = job;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"{id} did not end within {timeout.TotalSeconds:0.#} s"
                + (last is null ? "" : $"; it is {last.Status}" + (last.Epoch > 0 ? $" at epoch {last.Epoch}, step {last.Step}" : "")));
        }
        return last ?? throw new InvalidOperationException($"the watch of {id} ended without a state"); // WatchAsync yields before it ends
    }

    /// <summary>
    /// Downloads a completed job's trained model (its final checkpoint) to <paramref name="path"/>, replacing the file
    /// there, and returns it loaded, with its training state. The file is checked whole before it is written.
    /// </summary>
    /// <exception cref="InvalidOperationException">The job has no final model (it has not completed).</exception>
    /// <exception cref="InvalidDataException">What arrived is not a whole model file.</exception>
    public async Task<ModelFile.Contents> DownloadModelAsync(string jobId, string path, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var job = await GetAsync(jobId, cancellationToken);
        var final = job.Checkpoints.FirstOrDefault(c => c.Final)
            ?? throw new InvalidOperationException($"{jobId} has no final model: it is {job.Status}"
                + (job.Status == JobStatus.Completed ? "" : "; a job's trained model is stored when it completes"));
        try
        {
            return await ModelDownload.DownloadAsync(_channel, jobId, final.Digest, path,
                new CallOptions(deadline: DateTime.UtcNow + DownloadTimeout, cancellationToken: cancellationToken));
        }
        catch (RpcException e)
        {
            throw Translate(e, $"download {jobId}'s model", DownloadTimeout, cancellationToken);
        }
    }

    /// <summary>
    /// Uploads a dataset of your own (read with DistTrain.Data, e.g. <c>DataChoice.ForFile("iris.csv").Load(log)</c>)
    /// unless the coordinator already holds it; returns what a <see cref="JobSpec"/>'s Dataset names it by.
    /// </summary>
    public async Task<string> UploadDatasetAsync(Data.Dataset data, Action<string>? log = null, CancellationToken cancellationToken = default)
    {
        try
        {
            return await DatasetUploader.UploadAsync(_channel, data, log ?? (_ => { }), cancellationToken);
        }
        catch (Grpc.Core.RpcException e) when (e.StatusCode != Grpc.Core.StatusCode.Cancelled || !cancellationToken.IsCancellationRequested)
        {
            throw new CoordinatorException(_coordinator, $"upload {data.Name}", e);
        }
    }

    public void Dispose() => _channel.Dispose();

    private static bool IsFinal(JobStatus s) => s is JobStatus.Completed or JobStatus.Failed or JobStatus.Cancelled;

    private static string RequireId(string id)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(id);
        return id;
    }

    private async Task<T> UnaryAsync<T>(string what, Func<CallOptions, AsyncUnaryCall<T>> call, CancellationToken cancellationToken)
    {
        try
        {
            return await call(new CallOptions(deadline: DateTime.UtcNow + CallTimeout, cancellationToken: cancellationToken));
        }
        catch (RpcException e)
        {
            throw Translate(e, what, CallTimeout, cancellationToken);
        }
    }

    // The next job from a watch, or none with what broke it when a coordinator restart explains the break (the caller
    // then opens the watch again), or none and no error when the stream ended. Any other error is the caller's.
    private async Task<(Job? Job, RpcException? Broke)> NextAsync(IAsyncStreamReader<Job> stream, string id, CancellationToken cancellationToken)
    {
        try
        {
            return (await stream.MoveNext(cancellationToken) ? stream.Current : null, null);
        }
        catch (RpcException e) when (e.StatusCode is StatusCode.Unavailable or StatusCode.Internal or StatusCode.Unknown && !cancellationToken.IsCancellationRequested)
        {
            return (null, e);
        }
        catch (RpcException e)
        {
            throw Translate(e, $"watch {id}", null, cancellationToken);
        }
    }

    private Exception Translate(RpcException e, string what, TimeSpan? deadline, CancellationToken cancellationToken) =>
        e.StatusCode == StatusCode.Cancelled && cancellationToken.IsCancellationRequested
            ? new OperationCanceledException($"{what} at {_coordinator} was cancelled", e, cancellationToken)
            : new CoordinatorException(_coordinator, what, e, deadline);
}
