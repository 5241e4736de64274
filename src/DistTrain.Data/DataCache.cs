namespace DistTrain.Data;

/// <summary>Where converted datasets are kept: $DISTTRAIN_DATA, or ~/.cache/disttrain.</summary>
public static class DataCache
{
    /// <summary>The cache root; created on demand.</summary>
    public static string Root
    {
        get
        {
            string? env = Environment.GetEnvironmentVariable("DISTTRAIN_DATA");
            return !string.IsNullOrWhiteSpace(env)
                ? Path.GetFullPath(env)
                : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "disttrain");
        }
    }

    /// <summary>
    /// Produces a cache entry once: if <paramref name="name"/> is absent, <paramref name="fill"/> writes it into a
    /// temporary directory that is then renamed into place, so a reader never sees a half-written entry.
    /// </summary>
    public static string Ensure(string name, Action<string> fill)
    {
        string dir = Path.Combine(Root, name);
        if (Directory.Exists(dir)) return dir;
        Directory.CreateDirectory(Root);
        string tmp = Path.Combine(Root, $".{name}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(tmp);
        try
        {
            fill(tmp);
            try
            {
                Directory.Move(tmp, dir);
            }
            catch (IOException) when (Directory.Exists(dir))
            {
                // Another process finished the same entry first; theirs is as good as ours.
            }
        }
        finally
        {
            if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
        }
        return dir;
    }
}
