namespace DistTrain.Worker;

/// <summary>
/// A worker's stable identity: an id kept in a file under its data directory, so that a restarted worker registers
/// under the id it had and replaces its old entry instead of appearing twice. Several workers may share one data
/// directory (`disttrain local` starts them so): each takes the first identity slot no live worker holds. A slot is
/// held by an exclusive lock on its file for the life of the process, which the OS releases when the process dies,
/// even by kill -9, so the next worker started there takes the dead one's identity.
/// </summary>
public sealed class WorkerIdentity : IDisposable
{
    private readonly FileStream _lock;

    private WorkerIdentity(string id, FileStream held)
    {
        Id = id;
        _lock = held;
    }

    public string Id { get; }

    /// <summary>Takes the first free identity slot under <paramref name="root"/>, making an id for it the first time.</summary>
    public static WorkerIdentity Acquire(string root)
    {
        string folder = Directory.CreateDirectory(Path.Combine(root, "worker-identity")).FullName;
        for (int slot = 0; slot < 1024; slot++)
        {
            string path = Path.Combine(folder, $"slot-{slot}.id");
            FileStream file;
            try
            {
                // FileShare.None takes an exclusive advisory lock on Unix too (.NET locks the file with flock).
                file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException e) when (HeldByAnother(e))
            {
                continue; // a live worker holds this slot
            }
            using var reader = new StreamReader(file, leaveOpen: true);
            string id = reader.ReadToEnd().Trim();
            if (id.Length == 0)
            {
                id = $"{Environment.MachineName.ToLowerInvariant()}-{Guid.NewGuid().ToString("N")[..8]}";
                id = new string(id.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '-').ToArray());
                file.SetLength(0);
                using (var writer = new StreamWriter(file, leaveOpen: true)) writer.Write(id);
                file.Flush(flushToDisk: true);
            }
            return new WorkerIdentity(id, file);
        }
        throw new IOException($"every worker identity slot under {folder} is held by a running worker");
    }

    public void Dispose() => _lock.Dispose();

    // The lock is taken (EWOULDBLOCK from flock on Linux and macOS, a sharing or lock violation on Windows). Any other
    // I/O error, such as a full disk or a broken file system, is the caller's to see, not a reason to try the next slot.
    private static bool HeldByAnother(IOException e) =>
        e.HResult is 11 or 35 or unchecked((int)0x80070020) or unchecked((int)0x80070021);
}
