using System.Collections.Immutable;
using DistTrain.Engine.Model;
using DistTrain.Protos;
using DistTrain.State;

namespace DistTrain.Coordinator.Checkpoints;

/// <summary>
/// The coordinator's side of checkpoints: takes an upload from a member of a job, checks the file's own checksum and
/// training state, stores it (<see cref="ICheckpointStore"/>) and records it in the job's grain, which keeps the newest
/// few (the store drops the rest); finds a job's latest intact checkpoint for a download or a resume, passing over
/// corrupt ones with a warning that names them.
/// </summary>
public sealed class CheckpointKeeper(IGrainFactory grains, ICheckpointStore store, Action<string> warn)
{
    private IJobGrain Job(string id) => grains.GetGrain<IJobGrain>(id);

    public ICheckpointStore Store => store;

    /// <summary>Refuses an upload unless <paramref name="workerId"/> is registered and a member of the job's worker set.</summary>
    public async Task AdmitAsync(string workerId, string jobId)
    {
        var worker = await grains.GetGrain<IWorkerGrain>(workerId).Get() ?? throw new UnknownWorkerException($"no worker {workerId}; register first");
        var job = await Job(jobId).Get() ?? throw new KeyNotFoundException($"no job {jobId}");
        if (!JobRegistry.IsMember(worker, job))
            throw new UnauthorizedAccessException($"{workerId} is not a member of {jobId}'s worker set; only its members upload its checkpoints");
    }

    /// <summary>Stores and records a checkpoint uploaded by <paramref name="workerId"/>, whom <see cref="AdmitAsync"/> let in.</summary>
    public async Task<CheckpointRecord> RecordAsync(string workerId, string jobId, bool final, byte[] bytes, CancellationToken cancellationToken)
    {
        var job = await Job(jobId).Get() ?? throw new KeyNotFoundException($"no job {jobId}");
        TrainingCheckpoint training;
        try
        {
            training = ModelFile.Read(bytes, $"the checkpoint {workerId} uploaded for {jobId}").Training
                ?? throw new InvalidDataException($"the checkpoint {workerId} uploaded for {jobId} holds no training state");
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"the checkpoint {workerId} uploaded for {jobId} does not load: {e.Message}");
        }
        string digest = await store.PutAsync(bytes, cancellationToken);
        var record = new CheckpointRecord(digest, training.Epoch, training.Step, DateTime.UtcNow, bytes.Length, final, jobId);
        var before = (job.Checkpoints ?? []).Select(c => c.Digest).ToHashSet();
        JobRecord after;
        try
        {
            after = await Job(jobId).Update(new JobCheckpointed(record));
        }
        catch (InvalidJobChangeException)
        {
            if (!before.Contains(digest)) await store.DeleteAsync(digest); // the job ended meanwhile: nothing refers to it
            throw;
        }
        // Those the job no longer keeps go from the store, unless the job resumed from them.
        var kept = (after.Checkpoints ?? []).Select(c => c.Digest).Concat((after.ResumeFrom ?? []).Select(c => c.Digest)).ToHashSet();
        foreach (string gone in before.Where(d => !kept.Contains(d))) await store.DeleteAsync(gone);
        return record;
    }

    /// <summary>The bytes of the checkpoint with this digest; null when the store lacks it. Corrupt: logged and thrown.</summary>
    public async Task<byte[]?> GetAsync(string digest, CancellationToken cancellationToken)
    {
        try
        {
            return await store.GetAsync(digest, cancellationToken);
        }
        catch (CorruptCheckpointException e)
        {
            warn(e.Message);
            throw;
        }
    }

    /// <summary>
    /// A job's newest intact starting point (its own checkpoints, then those it resumed from), with its bytes, and a
    /// warning for each newer one passed over. Throws naming the job when there is none.
    /// </summary>
    public async Task<(CheckpointRecord Record, byte[] Bytes, ImmutableList<string> Warnings)> LatestAsync(string jobId, CancellationToken cancellationToken)
    {
        var job = await Job(jobId).Get() ?? throw new KeyNotFoundException($"no job {jobId}");
        var warnings = ImmutableList<string>.Empty;
        foreach (var c in job.StartingPoints())
        {
            try
            {
                if (await store.GetAsync(c.Digest, cancellationToken) is { } bytes) return (c, bytes, warnings);
                warnings = warnings.Add($"checkpoint {store.Locate(c.Digest)} of {c.JobId} is missing from the store; using the one before it");
            }
            catch (CorruptCheckpointException e)
            {
                warnings = warnings.Add($"{e.Message}; using the one before it");
            }
            warn(warnings[^1]);
        }
        throw new KeyNotFoundException(job.StartingPoints().Any()
            ? $"{jobId} has no intact checkpoint ({string.Join("; ", warnings)})"
            : $"{jobId} has no checkpoint yet");
    }

    /// <summary>
    /// What a job submitted with resume_from starts from: the source's intact checkpoints from the newest on, checked
    /// against the new job's plan, with the warnings and the source's history up to that point.
    /// </summary>
    public async Task<(ImmutableList<CheckpointRecord> From, ImmutableList<string> Warnings, ImmutableList<EpochRecord> History)> ResumeAsync(
        JobSpec spec, Sequential model, string datasetDigest, int stepsPerEpoch, CancellationToken cancellationToken)
    {
        // A job that still trains would go on pruning the very checkpoints the new one starts from.
        var source = await Job(spec.ResumeFrom).Get() ?? throw new KeyNotFoundException($"no job {spec.ResumeFrom}");
        if (!source.IsFinal)
            throw new InvalidOperationException($"{spec.ResumeFrom} is {source.Phase.ToString().ToLowerInvariant()}; resume from it once it has ended (cancel it first)");
        if (source.Launch is not null)
            throw new ArgumentException($"{spec.ResumeFrom} was a launched job (its program held the model and data); submit cannot resume it");
        if (source.DatasetDigest != datasetDigest)
            throw new ArgumentException($"{spec.ResumeFrom} trained on other data (dataset {source.DatasetDigest[..12]}, this job's is {datasetDigest[..12]})");
        var (first, bytes, warnings) = await LatestAsync(spec.ResumeFrom, cancellationToken);
        var contents = ModelFile.Read(bytes, $"{spec.ResumeFrom}'s checkpoint {first.Digest[..12]}");
        var training = contents.Training!;
        if (!System.Text.Json.Nodes.JsonNode.DeepEquals(Engine.Spec.ModelSpec.ToJson(contents.Model), Engine.Spec.ModelSpec.ToJson(model)))
            throw new ArgumentException($"this job's model or optimizer differs from {spec.ResumeFrom}'s; resume it with the same --model and --optimizer");
        try
        {
            training.CheckResumableBy(new TrainingCheckpoint
            {
                Sampler = TrainingCheckpoint.ShardSampler, GlobalBatch = spec.GlobalBatchSize, Seed = spec.Seed, StepsPerEpoch = stepsPerEpoch, Epochs = spec.Epochs,
            });
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"resuming from {spec.ResumeFrom}: {e.Message}");
        }
        var from = source.StartingPoints().SkipWhile(c => c.Digest != first.Digest).ToImmutableList();
        return (from, warnings, source.History.Where(h => h.Epoch <= training.Epoch).ToImmutableList());
    }

    /// <summary>The wire form of a checkpoint record.</summary>
    public static CheckpointInfo ToProto(CheckpointRecord c) => new()
    {
        Digest = c.Digest, EpochsDone = c.EpochsDone, Step = c.Step, Bytes = c.Bytes, Final = c.Final, JobId = c.JobId,
        TimeUnixMs = UnixTime.Ms(c.TimeUtc),
    };
}
