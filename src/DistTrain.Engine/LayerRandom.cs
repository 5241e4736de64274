namespace DistTrain.Engine;

/// <summary>
/// A stochastic layer's random numbers (dropout masks, augmentation draws): a counter-based stream in which the n-th
/// draw of training step k is SplitMix64(key(seed, stream, k) + n·γ). Its whole state is (stream, step, counter),
/// three integers a checkpoint holds, and the trainer moves it to the start of each step (<see cref="Seek"/>), so a
/// step draws the same numbers however the run got there: straight through, resumed from a checkpoint, or done again
/// after a failure. Data-parallel replicas take one stream each (their rank), so their masks differ.
/// </summary>
public sealed class LayerRandom(int seed)
{
    private const ulong Gamma = 0x9E3779B97F4A7C15UL;
    private ulong _key = Key(seed, 0, 0);

    public int Seed { get; } = seed;
    public int Stream { get; private set; }
    public long Step { get; private set; }

    /// <summary>Draws taken since the start of <see cref="Step"/>.</summary>
    public long Counter { get; private set; }

    /// <summary>Moves to stream <paramref name="stream"/> (a replica's rank; 0 is the seed's own), at the same step.</summary>
    public void UseStream(int stream)
    {
        Stream = stream;
        Seek(Step);
    }

    /// <summary>Moves to the first draw of training step <paramref name="step"/> (counted over the whole run).</summary>
    public void Seek(long step)
    {
        Step = step;
        Counter = 0;
        _key = Key(Seed, Stream, step);
    }

    public RandomState State => new(Stream, Step, Counter);

    /// <summary>Puts the stream back where <see cref="State"/> found it.</summary>
    public void Restore(RandomState state)
    {
        Stream = state.Stream;
        Seek(state.Step);
        Counter = state.Counter;
    }

    public ulong NextUInt64() => Mix(_key + (ulong)Counter++ * Gamma);

    /// <summary>Uniform in [0, 1) with 24 random bits, like <see cref="Random.NextSingle"/>.</summary>
    public float NextSingle() => (NextUInt64() >> 40) * (1f / (1 << 24));

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    private static ulong Key(int seed, int stream, long step) =>
        Mix(Mix(Mix((ulong)(uint)seed) ^ (ulong)(uint)stream * Gamma) ^ (ulong)step);

    // SplitMix64's finaliser (Steele, Lea, Flood 2014): a bijection that spreads every input bit over the output.
    private static ulong Mix(ulong z)
    {
        z += Gamma;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}

/// <summary>Where a <see cref="LayerRandom"/> stands: its stream, the training step, and the draws taken in it.</summary>
public readonly record struct RandomState(int Stream, long Step, long Counter);
