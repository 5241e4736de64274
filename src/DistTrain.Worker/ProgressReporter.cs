using System.Threading.Channels;
using DistTrain.Protos;
using Grpc.Core;

namespace DistTrain.Worker;

/// <summary>
/// Rank 0's progress reports, sent to the coordinator in the background so that a slow or absent coordinator never
/// stalls a training step (the report is one call with a deadline, and the ring waits for no one else).
/// <para>
/// Reports go out in order. A step report is dropped when a newer one is already queued: it only moves a progress
/// bar (one that ends a membership change's pause is kept). An epoch report (the job's history; the last one completes the job) is retried while the coordinator is
/// unreachable, within <see cref="EpochReportPatience"/>; an answer that can never change (an unknown job)
/// is not retried (an unknown worker is, since its heartbeat registers it again). An ack that says the job has ended raises <see cref="StopAsked"/>.
/// </para>
/// <para>
/// <see cref="FlushAsync"/> waits for every queued report and fails if an epoch report was not delivered, so that
/// a job is never left running because its last report was lost. Disposing sends what is queued without failing:
/// within <see cref="DrainBound"/>, or one second once the job's token is cancelled.
/// </para>
/// </summary>
public sealed class ProgressReporter : IAsyncDisposable
{
    /// <summary>The deadline of one report call.</summary>
    public static readonly TimeSpan CallDeadline = TimeSpan.FromSeconds(5);

    /// <summary>How long an epoch report is retried before it is given up.</summary>
    public static readonly TimeSpan EpochReportPatience = TimeSpan.FromSeconds(60);

    /// <summary>How long disposing waits for the queue to drain.</summary>
    public static readonly TimeSpan DrainBound = TimeSpan.FromSeconds(15);

    private readonly Workers.WorkersClient _workers;
    private readonly Action<string> _log;
    private readonly CancellationToken _job;
    private readonly Channel<ProgressReport> _queue = Channel.CreateUnbounded<ProgressReport>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _abandon = new();
    private readonly Task _sender;
    private volatile bool _stopAsked;
    private volatile string? _undelivered;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<int, bool> _delivered = new();

    /// <param name="job">The job's token: once it is cancelled, disposing waits only briefly.</param>
    public ProgressReporter(Workers.WorkersClient workers, Action<string> log, CancellationToken job = default)
    {
        _workers = workers;
        _log = log;
        _job = job;
        _sender = Task.Run(SendAllAsync);
    }

    /// <summary>True once the coordinator has answered that the job has ended (cancelled, or failed elsewhere).</summary>
    public bool StopAsked => _stopAsked;

    /// <summary>Queues a report; never blocks.</summary>
    public void Post(ProgressReport report) => _queue.Writer.TryWrite(report);

    /// <summary>
    /// Whether the coordinator took this epoch's report (and so holds the epoch in the job's history). A report it
    /// refused (sent while this worker was out of the job's worker set, or at a rank it no longer had) is not delivered.
    /// </summary>
    public bool Delivered(int epoch) => _delivered.ContainsKey(epoch);

    private async Task SendAllAsync()
    {
        try
        {
            bool warned = false;
            await foreach (var report in _queue.Reader.ReadAllAsync(_abandon.Token).ConfigureAwait(false))
            {
                // A newer report supersedes a step's, unless it records something (the end of a membership change's pause).
                bool keep = report.EpochDone || report.RecoveredGeneration > 0;
                if (!keep && _queue.Reader.TryPeek(out _)) continue;
                var giveUp = DateTime.UtcNow + (keep ? EpochReportPatience : TimeSpan.Zero);
                for (int attempt = 0; ; attempt++)
                {
                    try
                    {
                        var ack = await _workers.ReportProgressAsync(report,
                            new CallOptions(deadline: DateTime.UtcNow + CallDeadline, cancellationToken: _abandon.Token).WithWaitForReady()).ConfigureAwait(false);
                        if (!ack.Continue) _stopAsked = true;
                        else if (report.EpochDone) _delivered[report.Epoch] = true;
                        warned = false;
                        break;
                    }
                    catch (RpcException e) when (!_abandon.IsCancellationRequested)
                    {
                        if (!warned) _log($"progress report to the coordinator failed: {e.Status.StatusCode} {e.Status.Detail}; training goes on");
                        warned = true;
                        // Refused as not this worker's to make (its rank changed with a new generation while the report was
                        // queued): the new rank 0 reports the job's figures, its finished epochs included.
                        if (e.StatusCode == StatusCode.PermissionDenied) break;
                        if (!Transient(e) || DateTime.UtcNow >= giveUp)
                        {
                            if (report.EpochDone) _undelivered = $"epoch {report.Epoch}'s report: {e.Status.StatusCode} {e.Status.Detail}";
                            break;
                        }
                        await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(2000, 100 << Math.Min(attempt, 5))), _abandon.Token).ConfigureAwait(false);
                    }
                }
            }
        }
        catch (Exception e) when (_abandon.IsCancellationRequested && e is OperationCanceledException or RpcException { StatusCode: StatusCode.Cancelled })
        {
            // Abandoned by DisposeAsync: what was still queued is dropped, as it logged.
        }
        catch (Exception e)
        {
            _undelivered = $"the reporter stopped: {e.Message}";
            _log($"progress reports stopped: {e.Message}");
        }
    }

    // Worth another try: the coordinator may come back or answer in time, or know this worker again once its heartbeat
    // has registered it again.
    private static bool Transient(RpcException e) => CoordinatorChannel.IsUnknownWorker(e) ||
        e.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded or StatusCode.ResourceExhausted or StatusCode.Aborted or StatusCode.Internal
            or StatusCode.Unknown
        // Sent with the secret of a registration this worker has just replaced (its coordinator lost track of it): the
        // next try carries the new one.
            or StatusCode.Unauthenticated;

    /// <summary>Sends every queued report; throws if an epoch report could not be delivered.</summary>
    public async Task FlushAsync()
    {
        _queue.Writer.TryComplete();
        await _sender.ConfigureAwait(false);
        if (_undelivered is { } what) throw new InvalidOperationException($"the coordinator did not take {what}");
    }

    /// <summary>Sends what is queued within <see cref="DrainBound"/> (a second once the job is cancelled), then stops.</summary>
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        var bound = _job.IsCancellationRequested ? TimeSpan.FromSeconds(1) : DrainBound;
        if (await Task.WhenAny(_sender, Task.Delay(bound)).ConfigureAwait(false) != _sender)
            _log($"progress reports still unsent after {bound.TotalSeconds:0} s; dropped");
        await _abandon.CancelAsync().ConfigureAwait(false);
        await _sender.ConfigureAwait(false); // never throws: SendAllAsync catches everything
        _abandon.Dispose();
    }
}
