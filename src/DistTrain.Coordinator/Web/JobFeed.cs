namespace DistTrain.Coordinator.Web;

/// <summary>
/// One viewer's feed of a job's page: each turn the whole record (status, epochs, events, members), and of the per-step
/// curve only the points this viewer has not had. After the grain merged old points (<see cref="State.StepSeries"/>) or
/// lost unwritten ones, or on the first turn, the whole curve again, marked as a reset.
/// </summary>
public sealed class JobFeed(JobRegistry registry, string jobId, bool canAct)
{
    private bool _sent;
    private long _lastSeq;
    private int _merges;

    /// <summary>The next message's JSON, and whether the job has ended (nothing more will change).</summary>
    public async Task<(byte[] Json, bool Final)> NextAsync()
    {
        var record = await registry.RecordAsync(jobId);
        var series = await registry.SeriesAsync(jobId);
        var members = await Task.WhenAll(record.WorkerIds.Select(registry.WorkerAsync));
        // A reset also when the curve went back (its grain was restored from storage after a crash, without the points it
        // had not written yet): the new points reuse the lost ones' numbers.
        bool reset = !_sent || series.Merges != _merges || series.LastSeq < _lastSeq;
        var points = (reset ? series.Points : series.After(_lastSeq)).Select(WebViews.Point).ToList();
        (_sent, _lastSeq, _merges) = (true, series.LastSeq, series.Merges);
        var now = DateTime.UtcNow;
        var detail = WebViews.Detail(record, members, new SeriesView(reset, points), canAct, now);
        return (WebViews.Serialize(detail, UnixTime.Ms(now)), record.IsFinal);
    }
}
