using System.Text.Json;
using System.Text.Json.Serialization;
using Orleans.Runtime;
using Orleans.Storage;

namespace DistTrain.State;

/// <summary>
/// Grain state as one JSON file per grain under a state directory: the embedded storage for a single coordinator.
/// A write goes to a temporary file in the same directory, is flushed to disk, and is renamed over the old file, so
/// a reader sees the old state or the new one, never half of either. Each file carries an ETag, and a write from a
/// stale copy is refused (InconsistentStateException), as Orleans' own providers do.
/// </summary>
public sealed class FileGrainStorage(string root) : IGrainStorage
{
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter() },
        // A diverged job's loss is NaN: stored as the string "NaN" (and read back as NaN), never refused.
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    private sealed record Envelope<T>(string ETag, T State);

    public string Root { get; } = Directory.CreateDirectory(root).FullName;

    public async Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        string path = PathOf(stateName, grainId);
        if (!File.Exists(path))
        {
            grainState.RecordExists = false;
            grainState.ETag = null;
            return;
        }
        var envelope = await ReadAsync<T>(path);
        grainState.State = envelope.State;
        grainState.ETag = envelope.ETag;
        grainState.RecordExists = true;
    }

    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        string path = PathOf(stateName, grainId);
        await CheckETagAsync<T>(path, grainState.ETag);
        string etag = Guid.NewGuid().ToString("N");
        string tmp = $"{path}.{etag}.tmp";
        await using (var file = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 4096, FileOptions.Asynchronous))
        {
            await JsonSerializer.SerializeAsync(file, new Envelope<T>(etag, grainState.State!), Json);
            file.Flush(flushToDisk: true);
        }
        File.Move(tmp, path, overwrite: true);
        grainState.ETag = etag;
        grainState.RecordExists = true;
    }

    public async Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        string path = PathOf(stateName, grainId);
        await CheckETagAsync<T>(path, grainState.ETag);
        File.Delete(path);
        grainState.ETag = null;
        grainState.RecordExists = false;
    }

    private async Task CheckETagAsync<T>(string path, string? expected)
    {
        string? stored = File.Exists(path) ? (await ReadAsync<T>(path)).ETag : null;
        if (stored != expected)
            throw new InconsistentStateException($"{path} changed since it was read (stored ETag {stored ?? "none"}, expected {expected ?? "none"})",
                stored ?? "", expected ?? "");
    }

    private static async Task<Envelope<T>> ReadAsync<T>(string path)
    {
        try
        {
            await using var file = File.OpenRead(path);
            return await JsonSerializer.DeserializeAsync<Envelope<T>>(file, Json)
                ?? throw new InvalidDataException($"grain state file {path} is empty");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"grain state file {path} is not valid state JSON: {e.Message}", e);
        }
    }

    // state-name/grain-type/key.json, with anything outside [A-Za-z0-9._-] escaped so any key maps to one safe name.
    private string PathOf(string stateName, GrainId grainId)
    {
        string dir = Path.Combine(Root, Safe(stateName), Safe(grainId.Type.ToString()!));
        Directory.CreateDirectory(dir);
        return Path.Combine(dir, Safe(grainId.Key.ToString()!) + ".json");
    }

    private static string Safe(string s) =>
        string.Concat(s.Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_' ? c.ToString() : $"%{(int)c:X2}"));
}
