using System.Threading.Channels;
using DistTrain.Protos;
using Grpc.Core;

namespace DistTrain.Worker;

/// <summary>
/// Rank 0's progress reports, sent to the coordinator in the background so that a slow or absent coordinator never
/// stalls a training step (the report is one call with a deadline, and the ring waits for no one else).
/// <para>
/// Reports go out in order. A step report is dropped when a newer one is already queued: it only moves a progress
/// bar. An epoch report (the job's history; the last one completes the job) is retried until the coordinator takes
/// it, within <see cref="EpochReportPatience"/>. An ack that says the job has ended raises <see cref="StopAsked"/>.
/// Disposing sends what is queued, within <see cref="DrainBound"/>.
/// </para>
/// </summary>
public sealed class ProgressReporter : IAsyncDisposable
{
    /// <summary>The deadline of one report call.</summary>
    public static readonly TimeSpan CallDeadline = TimeSpan.FromSeconds(5);

    /// <summary>How long an epoch report is retried before it is given up (and logged).</summary>
    public static readonly TimeSpan EpochReportPatience = TimeSpan.FromSeconds(60);

    /// <summary>How long disposing waits for the queue to drain.</summary>
    public static readonly TimeSpan DrainBound = TimeSpan.FromSeconds(15);

    private readonly Workers.WorkersClient _workers;
    private readonly Action<string> _log;
    private readonly Channel<ProgressReport> _queue = Channel.CreateUnbounded<ProgressReport>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _abandon = new();
    private readonly Task _sender;
    private volatile bool _stopAsked;

    public ProgressReporter(Workers.WorkersClient workers, Action<string> log)
    {
        _workers = workers;
        _log = log;
        _sender = Task.Run(SendAllAsync);
    }

    /// <summary>True once the coordinator has answered that the job has ended (cancelled, or failed elsewhere).</summary>
    public bool StopAsked => _stopAsked;

    /// <summary>Queues a report; never blocks.</summary>
    public void Post(ProgressReport report) => _queue.Writer.TryWrite(report);

    private async Task SendAllAsync()
    {
        bool warned = false;
        await foreach (var report in _queue.Reader.ReadAllAsync(_abandon.Token).ConfigureAwait(false))
        {
            if (!report.EpochDone && _queue.Reader.TryPeek(out _)) continue; // a newer report supersedes this step
            var giveUp = DateTime.UtcNow + (report.EpochDone ? EpochReportPatience : TimeSpan.Zero);
            for (int attempt = 0; ; attempt++)
            {
                try
                {
                    var ack = await _workers.ReportProgressAsync(report, deadline: DateTime.UtcNow + CallDeadline,
                        cancellationToken: _abandon.Token).ConfigureAwait(false);
                    if (!ack.Continue) _stopAsked = true;
                    warned = false;
                    break;
                }
                catch (RpcException e) when (!_abandon.IsCancellationRequested)
                {
                    if (!warned) _log($"progress report to the coordinator failed: {e.Status.StatusCode} {e.Status.Detail}; training goes on");
                    warned = true;
                    if (DateTime.UtcNow >= giveUp)
                    {
                        if (report.EpochDone) _log($"gave up reporting epoch {report.Epoch} after {EpochReportPatience.TotalSeconds:0} s");
                        break;
                    }
                    await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(2000, 100 << Math.Min(attempt, 5))), _abandon.Token).ConfigureAwait(false);
                }
            }
        }
    }

    /// <summary>Sends what is queued, waiting at most <see cref="DrainBound"/>, then stops.</summary>
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        try
        {
            await _sender.WaitAsync(DrainBound).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            _log($"progress reports still unsent after {DrainBound.TotalSeconds:0} s; dropped");
        }
        catch (OperationCanceledException)
        {
            // Abandoned below.
        }
        await _abandon.CancelAsync().ConfigureAwait(false);
        try
        {
            await _sender.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // What was still queued is dropped, as logged above.
        }
        _abandon.Dispose();
    }
}
