using System.Collections.Immutable;

namespace DistTrain.State;

/// <summary>
/// The one place a job's record changes. Allowed:
/// <code>
///   (none)   ── submit ──► Pending
///   Pending  ── start ───► Running          Pending ── fail / cancel ──► Failed / Cancelled
///   Running  ── restart ──► Pending         (for want of workers, with restarts left)
///   Running  ── progress, epoch end, checkpoint, re-form, wait for workers, recover ──► Running
///   Running  ── complete ──► Completed      Running ── fail / cancel ──► Failed / Cancelled
///   Completed ── checkpoint ──► Completed   (the final model is written after the last epoch)
/// </code>
/// Anything else is refused with an <see cref="InvalidJobChangeException"/> that names the job, its phase and the change.
/// </summary>
public static class JobTransitions
{
    public static JobRecord Apply(string jobId, JobRecord? job, JobChange change, DateTime nowUtc)
    {
        if (job is null)
            return change is JobSubmitted s
                ? Submitted(jobId, s, nowUtc)
                : throw new InvalidJobChangeException($"{jobId} does not exist; it cannot {change.Name}");
        var next = (job.Phase, change) switch
        {
            (JobPhase.Pending, JobStarted s) => job with
            {
                Phase = JobPhase.Running, Workers = s.Workers, Generation = s.Generation, WorkerIds = s.WorkerIds,
            },
            (JobPhase.Running, JobProgressed p) => job with
            {
                Epoch = p.Epoch, Step = p.Step, Loss = p.Loss, Accuracy = p.Accuracy, SamplesPerSecond = p.SamplesPerSecond,
            },
            // An epoch's report can arrive twice (retried across a coordinator restart, or sent again by the rank 0 of
            // a re-formed worker set): it is recorded once.
            (JobPhase.Running, JobEpochEnded e) when job.History.Any(h => h.Epoch == e.Epoch.Epoch) => job,
            // An earlier epoch reported late (its report was lost, and the rank 0 of a later ring, perhaps resumed from a
            // checkpoint, reports the finished epochs again) fills its row in without moving the job back.
            (JobPhase.Running, JobEpochEnded e) when e.Epoch.Epoch < job.Epoch => job with
            {
                History = [.. job.History.Add(e.Epoch).OrderBy(h => h.Epoch)],
            },
            (JobPhase.Running, JobEpochEnded e) => job with
            {
                Epoch = e.Epoch.Epoch, Loss = e.Epoch.Loss, Accuracy = e.Epoch.Accuracy, SamplesPerSecond = e.Epoch.SamplesPerSecond,
                History = job.History.Add(e.Epoch),
            },
            (JobPhase.Running, JobReformed m) => job with
            {
                Workers = m.Workers, Generation = m.Generation, WorkerIds = m.WorkerIds, ShortSinceUtc = null,
                Events = (job.Events ?? []).Add(new JobEvent(nowUtc, job.ShortSinceUtc is null ? job.WorkerIds.Count : 0, m.WorkerIds.Count, m.Reason,
                    job.Epoch, job.Step, 0, m.Generation)),
            },
            (JobPhase.Running, JobShort w) => job with
            {
                Workers = w.Workers, WorkerIds = w.WorkerIds, Generation = w.Generation, ShortSinceUtc = job.ShortSinceUtc ?? nowUtc,
                Events = job.ShortSinceUtc is null
                    ? (job.Events ?? []).Add(new JobEvent(nowUtc, job.WorkerIds.Count, 0, w.Reason, job.Epoch, job.Step, 0, w.Generation))
                    : job.Events,
            },
            // A count only grows: a late report from before a skip changes nothing.
            (JobPhase.Running, JobStepsSkipped k) => job with { SkippedSteps = Math.Max(job.SkippedSteps, k.Total) },
            (JobPhase.Running or JobPhase.Completed, JobRecovered r) => job with
            {
                Events = (job.Events ?? []).Select(e => e.Generation == r.Generation && e.PauseSeconds == 0 ? e with { PauseSeconds = r.Seconds } : e)
                    .ToImmutableList(),
            },
            (JobPhase.Running or JobPhase.Completed, JobCheckpointed c) when (job.Checkpoints ?? []).Any(k => k.Digest == c.Checkpoint.Digest) => job,
            // Kept in order of training position, not of arrival: an upload that finishes late (a former rank 0's, a
            // retried one) never passes for the latest.
            (JobPhase.Running or JobPhase.Completed, JobCheckpointed c) => Kept(job, c.Checkpoint),
            (JobPhase.Running, JobRestarted r) => job with
            {
                Phase = JobPhase.Pending, Workers = [], WorkerIds = [], Generation = r.Generation, ShortSinceUtc = null, Restarts = job.Restarts + 1,
                Events = (job.Events ?? []).Add(new JobEvent(nowUtc, job.ShortSinceUtc is null ? job.WorkerIds.Count : 0, 0,
                    $"restart {job.Restarts + 1} of {job.MaxRestarts}: {r.Reason}", job.Epoch, job.Step, 0, r.Generation, JobEvent.Restart)),
            },
            (JobPhase.Running, JobCompleted) => job with { Phase = JobPhase.Completed, Events = WithGapWarning(job, nowUtc) },
            (JobPhase.Pending or JobPhase.Running, JobFailed f) => job with { Phase = JobPhase.Failed, Error = f.Reason },
            (JobPhase.Pending or JobPhase.Running, JobCancelled c) => job with { Phase = JobPhase.Cancelled, Error = c.Reason },
            (_, JobSubmitted) => throw new InvalidJobChangeException($"{jobId} already exists ({job.Phase}); it cannot be submitted again"),
            _ => throw new InvalidJobChangeException(
                $"{jobId} is {job.Phase}{(job.IsFinal ? " (final)" : "")}; it cannot {change.Name}"),
        };
        return next with { UpdatedUtc = nowUtc };
    }

    private static JobRecord Submitted(string jobId, JobSubmitted s, DateTime nowUtc)
    {
        ImmutableList<JobEvent> events = [];
        if (s.ResumeFrom is [var first, ..])
            events = events.Add(new JobEvent(nowUtc, 0, 0, $"resumes from {first.JobId}'s checkpoint {first.Digest[..12]} after {first.EpochsDone} epochs and {first.Step} steps",
                first.EpochsDone + 1, first.Step, 0, 0, JobEvent.Resume));
        events = events.AddRange((s.Warnings ?? []).Select(w => new JobEvent(nowUtc, 0, 0, w, 0, 0, 0, 0, JobEvent.Warning)));
        return new JobRecord(jobId, s.Spec, JobPhase.Pending, "", 0, 0, s.StepsPerEpoch, s.TrainSamples, s.TestSamples, 0, 0, 0,
            s.History ?? [], [], 0, null, nowUtc, nowUtc, [], s.DatasetDigest, s.Workers, s.MinWorkers, events, s.WaitForWorkersSeconds,
            KeepCheckpoints: s.KeepCheckpoints, MaxRestarts: s.MaxRestarts, ResumeFrom: s.ResumeFrom ?? [], Launch: s.Launch);
    }

    // A job completes with the history it has. Should an epoch's report never have reached it (every way of losing one is
    // meant to be closed: a later ring's rank 0 tells the finished epochs again, and so does the last report), the
    // record says so rather than pass a gap off as the whole run.
    private static ImmutableList<JobEvent> WithGapWarning(JobRecord job, DateTime nowUtc)
    {
        var events = job.Events ?? [];
        if (job.History.Count == 0) return events;
        var missing = Enumerable.Range(1, job.History.Max(h => h.Epoch)).Except(job.History.Select(h => h.Epoch)).ToList();
        if (missing.Count == 0) return events;
        string which = missing.Count <= 10 ? string.Join(", ", missing) : $"{string.Join(", ", missing.Take(10))} and {missing.Count - 10} more";
        return events.Add(new JobEvent(nowUtc, 0, 0, $"completed without the report of epoch{(missing.Count == 1 ? "" : "s")} {which}; the final model went through them",
            job.Epoch, job.Step, 0, job.Generation, JobEvent.Warning));
    }

    // The most advanced `KeepCheckpoints` (3 for a record stored before jobs had the setting), oldest first.
    private static JobRecord Kept(JobRecord job, CheckpointRecord added)
    {
        int keep = job.KeepCheckpoints > 0 ? job.KeepCheckpoints : 3;
        var all = (job.Checkpoints ?? []).Add(added).OrderBy(c => c.EpochsDone).ThenBy(c => c.Step).ThenBy(c => c.Final).ThenBy(c => c.TimeUtc).ToImmutableList();
        if (all.Count > keep) all = all.RemoveRange(0, all.Count - keep);
        return job with { Checkpoints = all, Checkpoint = all[^1].Digest };
    }
}

/// <summary>A change that the job's phase does not allow; the record is left as it was.</summary>
[GenerateSerializer]
public sealed class InvalidJobChangeException : Exception
{
    public InvalidJobChangeException() { }

    public InvalidJobChangeException(string message) : base(message) { }

    public InvalidJobChangeException(string message, Exception inner) : base(message, inner) { }
}
