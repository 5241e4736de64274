namespace DistTrain.Engine.Kernels;

/// <summary>
/// The engine's thread budget. Kernels that parallelise use exactly <see cref="Threads"/> workers, and with one
/// thread they run inline on the caller, so a single-threaded step allocates nothing and never touches the pool.
/// </summary>
public static class Threading
{
    private static int _threads = 1;

    /// <summary>How many threads the engine's parallel kernels use (default 1).</summary>
    public static int Threads
    {
        get => _threads;
        set
        {
            if (value < 1 || value > 1024)
                throw new ArgumentOutOfRangeException(nameof(value), value, "threads must be between 1 and 1024");
            _threads = value;
            // The pool must be able to run every worker at once, or "threads = T" would silently mean fewer.
            ThreadPool.GetMinThreads(out int worker, out int io);
            if (worker < value) ThreadPool.SetMinThreads(value, io);
        }
    }

    /// <summary>Runs body(i) for i in [0, count), on at most <see cref="Threads"/> threads.</summary>
    public static void For(int count, Action<int> body)
    {
        int t = Math.Min(_threads, count);
        if (t <= 1)
        {
            for (int i = 0; i < count; i++) body(i);
            return;
        }
        Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = t }, body);
    }
}
