using System.Diagnostics;
using DistTrain.Protos;
using DistTrain.Telemetry;
using Grpc.Core;

namespace DistTrain.Worker;

/// <summary>
/// Rank 0's checkpoint uploads for one job, in the background of training. A snapshot offered while another uploads
/// waits; a newer one replaces a waiting one (the newest is what a resume wants), so training never waits on the
/// network and at most one upload is in flight. The final model is uploaded last and awaited, with retries, since the
/// job is not complete until the coordinator holds it.
/// </summary>
public sealed class CheckpointUploader(Checkpoints.CheckpointsClient client, string workerId, string jobId, Func<long> generation, Action<string> log)
{
    private static readonly TimeSpan UploadDeadline = TimeSpan.FromMinutes(5);
    private readonly object _sync = new();
    private Task _running = Task.CompletedTask;
    private bool _draining; // changed only under _sync: a drain that finds nothing waiting clears it before it returns
    private CheckpointSnapshot? _waiting;
    // Snapshots done with (uploaded or superseded), whose arrays the next snapshot writes over; two at most.
    private readonly System.Collections.Concurrent.ConcurrentStack<CheckpointSnapshot> _spent = new();

    /// <summary>A snapshot this uploader is done with, for <see cref="CheckpointSnapshot.Take"/> to write over; null when none is.</summary>
    public CheckpointSnapshot? Recycled() => _spent.TryPop(out var s) ? s : null;

    private void Spend(CheckpointSnapshot s)
    {
        if (!s.Final && _spent.Count < 2) _spent.Push(s);
    }

    /// <summary>Uploads the snapshot in the background, after the one in flight (replacing any that waits).</summary>
    public void Offer(CheckpointSnapshot snapshot)
    {
        DistTrainMetrics.CheckpointPause.Record(snapshot.CopyTime.TotalSeconds, DistTrainMetrics.Job(jobId));
        lock (_sync)
        {
            if (_draining)
            {
                if (_waiting is { } dropped)
                {
                    log($"{workerId}: {jobId}'s checkpoint {dropped.Where} is superseded by {snapshot.Where} before its upload began");
                    Spend(dropped);
                }
                _waiting = snapshot;
                return;
            }
            _draining = true;
            _running = Task.Run(() => DrainAsync(snapshot));
        }
    }

    /// <summary>Uploads the final model once what is in flight is done, retrying while the coordinator is unreachable.</summary>
    public async Task FinishAsync(CheckpointSnapshot final, CancellationToken cancellationToken)
    {
        Task running;
        lock (_sync)
        {
            _waiting = null; // the final model supersedes any checkpoint still waiting
            running = _running;
        }
        await running.WaitAsync(cancellationToken); // DrainAsync never faults: it logs what it could not store
        for (var pause = TimeSpan.FromSeconds(1); ; pause = TimeSpan.FromSeconds(Math.Min(2 * pause.TotalSeconds, 10)))
        {
            try
            {
                await UploadAsync(final, cancellationToken);
                return;
            }
            // Unknown and ResourceExhausted: the coordinator failed to store it (a full disk, say), which may pass.
            catch (RpcException e) when (e.StatusCode is StatusCode.Unavailable or StatusCode.Aborted or StatusCode.DeadlineExceeded or StatusCode.Internal
                or StatusCode.Unknown or StatusCode.ResourceExhausted && pause < TimeSpan.FromSeconds(10))
            {
                log($"{workerId}: uploading {jobId}'s final model: {e.Status.StatusCode} {e.Status.Detail}; trying again in {pause.TotalSeconds:0} s");
                await Task.Delay(pause, cancellationToken);
            }
        }
    }

    private async Task DrainAsync(CheckpointSnapshot snapshot)
    {
        for (CheckpointSnapshot? next = snapshot; next is not null;)
        {
            try
            {
                await UploadAsync(next, CancellationToken.None);
            }
            catch (Exception e)
            {
                // Not fatal: training goes on, and the next checkpoint (or the final model) is uploaded all the same.
                log($"{workerId}: {jobId}'s checkpoint {next.Where} was not stored: {(e is RpcException r ? $"{r.Status.StatusCode} {r.Status.Detail}" : e.Message)}");
            }
            Spend(next);
            lock (_sync)
            {
                next = _waiting;
                _waiting = null;
                if (next is null) _draining = false;
            }
        }
    }

    private async Task UploadAsync(CheckpointSnapshot snapshot, CancellationToken cancellationToken)
    {
        long started = Stopwatch.GetTimestamp();
        byte[] bytes = snapshot.Serialize();
        using var call = client.Upload(new CallOptions(deadline: DateTime.UtcNow + UploadDeadline, cancellationToken: cancellationToken).WithWaitForReady());
        var header = new CheckpointHeader { WorkerId = workerId, JobId = jobId, Generation = generation(), Final = snapshot.Final };
        try
        {
            foreach (var chunk in CheckpointTransfer.Chunks(bytes))
            {
                if (header is not null) (chunk.Header, header) = (header, null); // the first chunk carries it
                await call.RequestStream.WriteAsync(chunk, cancellationToken);
            }
            await call.RequestStream.CompleteAsync();
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested
            && e is RpcException or InvalidOperationException or IOException or HttpRequestException)
        {
            // The coordinator ended the call before it had every chunk (its cluster re-forming after a coordinator died, a
            // refusal): the write only sees the stream cut off, as Cancelled or an aborted request. Its reason, which
            // decides whether to try again, is the call's status, read below.
        }
        var stored = await call.ResponseAsync;
        var took = Stopwatch.GetElapsedTime(started);
        DistTrainMetrics.CheckpointUpload.Record(took.TotalSeconds, DistTrainMetrics.Job(jobId));
        log($"{workerId}: {jobId}'s {(snapshot.Final ? "final model" : "checkpoint")} {snapshot.Where} stored as {stored.Digest[..12]} ({bytes.Length:N0} bytes): "
            + $"training paused {snapshot.CopyTime.TotalMilliseconds:F2} ms to copy it; writing and uploading took {took.TotalMilliseconds:F0} ms in the background");
    }
}
