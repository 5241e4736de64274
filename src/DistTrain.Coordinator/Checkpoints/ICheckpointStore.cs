namespace DistTrain.Coordinator.Checkpoints;

/// <summary>
/// Where the coordinator keeps checkpoint files, content-addressed: a file's name is its SHA-256, so storing the same
/// bytes twice is one file, and what is read back can be checked against its name. <see cref="FileCheckpointStore"/>
/// keeps them under the state directory; a shared volume or an object store fits behind the same four calls.
/// </summary>
public interface ICheckpointStore
{
    /// <summary>Stores the bytes; returns their digest (SHA-256, lower-case hex). Durable once it returns.</summary>
    Task<string> PutAsync(byte[] content, CancellationToken cancellationToken);

    /// <summary>
    /// The bytes stored under <paramref name="digest"/>, checked against it; null when there are none. Throws
    /// <see cref="CorruptCheckpointException"/>, naming where they are, when they no longer hash to the digest.
    /// </summary>
    Task<byte[]?> GetAsync(string digest, CancellationToken cancellationToken);

    /// <summary>Removes what is stored under the digest, if anything.</summary>
    Task DeleteAsync(string digest);

    /// <summary>Where the digest's bytes live, for messages (a path, a URL).</summary>
    string Locate(string digest);
}

/// <summary>A stored checkpoint whose bytes no longer match its digest (a bad disk, a truncated copy, a hand edit).</summary>
public sealed class CorruptCheckpointException(string message) : Exception(message);
