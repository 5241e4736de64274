namespace DistTrain.Engine;

/// <summary>
/// Weight initializers with Keras' definitions. fan_in and fan_out follow Keras: for a Dense kernel (in, out) they
/// are in and out; for a convolution kernel (KH, KW, C, F) they are KH·KW·C and KH·KW·F.
/// </summary>
public abstract class Initializer
{
    /// <summary>The Keras name, e.g. "glorot_uniform".</summary>
    public abstract string Name { get; }

    /// <summary>Fills <paramref name="values"/> deterministically from <paramref name="seed"/>.</summary>
    public abstract void Fill(Span<float> values, int[] shape, int seed);

    public static Initializer Zeros { get; } = new Constant("zeros", 0);
    public static Initializer Ones { get; } = new Constant("ones", 1);
    public static Initializer GlorotUniform { get; } = new Scaled("glorot_uniform", FanMode.Average, uniform: true);
    public static Initializer GlorotNormal { get; } = new Scaled("glorot_normal", FanMode.Average, uniform: false);
    public static Initializer HeUniform { get; } = new Scaled("he_uniform", FanMode.In, uniform: true);
    public static Initializer HeNormal { get; } = new Scaled("he_normal", FanMode.In, uniform: false);

    /// <summary>Keras' RandomUniform default, U(−0.05, 0.05): what Embedding starts from.</summary>
    public static Initializer Uniform { get; } = new UniformRange("uniform", 0.05f);

    /// <summary>Keras' Orthogonal: a random orthogonal matrix, what recurrent kernels start from.</summary>
    public static Initializer Orthogonal { get; } = new OrthogonalInit();

    /// <summary>Looks an initializer up by its Keras name.</summary>
    public static Initializer FromName(string name) => name switch
    {
        "zeros" => Zeros,
        "ones" => Ones,
        "glorot_uniform" or "xavier_uniform" => GlorotUniform,
        "glorot_normal" or "xavier_normal" => GlorotNormal,
        "he_uniform" => HeUniform,
        "he_normal" => HeNormal,
        "uniform" or "random_uniform" => Uniform,
        "orthogonal" => Orthogonal,
        _ => throw new ArgumentException(
            $"unknown initializer '{name}'; expected one of zeros, ones, glorot_uniform, glorot_normal, he_uniform, he_normal, uniform, orthogonal"),
    };

    internal static (double FanIn, double FanOut) Fans(int[] shape)
    {
        if (shape.Length < 2) return (shape.Length == 1 ? shape[0] : 1, shape.Length == 1 ? shape[0] : 1);
        double receptive = 1;
        for (int i = 0; i < shape.Length - 2; i++) receptive *= shape[i];
        return (shape[^2] * receptive, shape[^1] * receptive);
    }

    private sealed class Constant(string name, float value) : Initializer
    {
        public override string Name => name;
        public override void Fill(Span<float> values, int[] shape, int seed) => values.Fill(value);
    }

    private sealed class UniformRange(string name, float limit) : Initializer
    {
        public override string Name => name;

        public override void Fill(Span<float> values, int[] shape, int seed)
        {
            var rng = new Random(seed);
            for (int i = 0; i < values.Length; i++) values[i] = (float)((rng.NextDouble() * 2 - 1) * limit);
        }
    }

    /// <summary>
    /// Orthogonal rows or columns by Gram–Schmidt on a Gaussian matrix, viewed as (prod(shape[..^1]), shape[^1]).
    /// A recurrent kernel (U, G·U) gets orthonormal rows, so repeated multiplication neither explodes nor vanishes.
    /// </summary>
    private sealed class OrthogonalInit : Initializer
    {
        public override string Name => "orthogonal";

        public override void Fill(Span<float> values, int[] shape, int seed)
        {
            int cols = shape.Length == 0 ? 1 : shape[^1], rows = values.Length / Math.Max(cols, 1);
            bool transpose = rows > cols;          // orthonormalise along the shorter side
            int n = transpose ? cols : rows, len = transpose ? rows : cols;
            var rng = new Random(seed);
            var q = new double[n, len];
            for (int i = 0; i < n; i++)
            {
                for (int j = 0; j < len; j++) q[i, j] = Gaussian(rng);
                for (int k = 0; k < i; k++)
                {
                    double dot = 0;
                    for (int j = 0; j < len; j++) dot += q[i, j] * q[k, j];
                    for (int j = 0; j < len; j++) q[i, j] -= dot * q[k, j];
                }
                double norm = 0;
                for (int j = 0; j < len; j++) norm += q[i, j] * q[i, j];
                norm = Math.Sqrt(norm);
                for (int j = 0; j < len; j++) q[i, j] /= norm;
            }
            for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                values[r * cols + c] = (float)(transpose ? q[c, r] : q[r, c]);
        }
    }

    private enum FanMode { In, Average }

    private sealed class Scaled(string name, FanMode mode, bool uniform) : Initializer
    {
        public override string Name => name;

        public override void Fill(Span<float> values, int[] shape, int seed)
        {
            var (fanIn, fanOut) = Fans(shape);
            // Variance scaling: glorot uses scale 1 over the average fan, he uses scale 2 over fan_in.
            double variance = mode == FanMode.In ? 2.0 / fanIn : 2.0 / (fanIn + fanOut);
            var rng = new Random(seed);
            if (uniform)
            {
                double limit = Math.Sqrt(3 * variance);
                for (int i = 0; i < values.Length; i++) values[i] = (float)((rng.NextDouble() * 2 - 1) * limit);
                return;
            }
            // Keras draws from a normal truncated at two standard deviations, whose std is 0.8796 of the untruncated one.
            double std = Math.Sqrt(variance) / 0.87962566103423978;
            for (int i = 0; i < values.Length; i++)
            {
                double z;
                do z = Gaussian(rng); while (Math.Abs(z) > 2);
                values[i] = (float)(z * std);
            }
        }
    }

    internal static double Gaussian(Random rng)
    {
        // Box–Muller; 1 - NextDouble() is in (0, 1], so the log is finite.
        double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}
