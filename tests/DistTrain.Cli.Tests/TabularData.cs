using System.Globalization;
using System.IO.Compression;
using System.Runtime.InteropServices;

namespace DistTrain.Cli.Tests;

/// <summary>
/// A small tabular dataset the tests can learn: three classes of points around three centres in the first two of
/// three features (the third is noise), with word labels; a model that learns it reaches about 0.93 test accuracy,
/// chance is 0.33. Written as CSV, or as an NPZ (x_train, y_train, x_test, y_test) in NumPy's own format.
/// </summary>
public static class TabularData
{
    public static readonly string[] Species = ["setosa", "versicolor", "virginica"];

    /// <summary>(N, 3) features and (N) class ids, drawn by <paramref name="seed"/>.</summary>
    public static (float[] X, int[] Y) Blobs(int n, int seed)
    {
        var random = new Random(seed);
        float Gauss() => (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));
        (float, float)[] centres = [(0, 0), (3, 1), (1, 3)];
        var x = new float[n * 3];
        var y = new int[n];
        for (int i = 0; i < n; i++)
        {
            y[i] = i % 3;
            x[3 * i] = centres[y[i]].Item1 + 0.8f * Gauss();
            x[3 * i + 1] = centres[y[i]].Item2 + 0.8f * Gauss();
            x[3 * i + 2] = Gauss();
        }
        return (x, y);
    }

    /// <summary>A CSV with a header (a, b, noise, species) and word labels.</summary>
    public static void WriteCsv(string path, int n, int seed = 1)
    {
        var (x, y) = Blobs(n, seed);
        using var w = new StreamWriter(path);
        w.WriteLine("a,b,noise,species");
        for (int i = 0; i < n; i++)
            w.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{x[3 * i]:F4},{x[3 * i + 1]:F4},{x[3 * i + 2]:F4},{Species[y[i]]}"));
    }

    /// <summary>An NPZ holding float64 x_train and x_test (N, 3) and int64 y_train and y_test (N), as np.savez writes them.</summary>
    public static void WriteNpz(string path, int train, int test, int seed = 1)
    {
        var (x, y) = Blobs(train + test, seed);
        using var zip = ZipFile.Open(path, ZipArchiveMode.Create);
        void Add(string name, byte[] bytes)
        {
            using var entry = zip.CreateEntry(name).Open();
            entry.Write(bytes);
        }
        Add("x_train.npy", Npy("<f8", $"({train}, 3)", MemoryMarshal.AsBytes(x.AsSpan(0, 3 * train).ToArray().Select(v => (double)v).ToArray().AsSpan()).ToArray()));
        Add("y_train.npy", Npy("<i8", $"({train},)", MemoryMarshal.AsBytes(y.AsSpan(0, train).ToArray().Select(v => (long)v).ToArray().AsSpan()).ToArray()));
        Add("x_test.npy", Npy("<f8", $"({test}, 3)", MemoryMarshal.AsBytes(x.AsSpan(3 * train).ToArray().Select(v => (double)v).ToArray().AsSpan()).ToArray()));
        Add("y_test.npy", Npy("<i8", $"({test},)", MemoryMarshal.AsBytes(y.AsSpan(train).ToArray().Select(v => (long)v).ToArray().AsSpan()).ToArray()));
    }

    /// <summary>An NPY file (format 1.0) with this dtype and shape in its header, then <paramref name="data"/>, whatever it holds.</summary>
    public static byte[] Npy(string dtype, string shape, byte[] data)
    {
        string header = $"{{'descr': '{dtype}', 'fortran_order': False, 'shape': {shape}, }}";
        header = header.PadRight(((header.Length + 11) / 64 + 1) * 64 - 11) + "\n"; // magic, version and length take 10 bytes; the whole is a multiple of 64
        return [0x93, .. "NUMPY"u8, 1, 0, .. BitConverter.GetBytes((ushort)header.Length), .. System.Text.Encoding.ASCII.GetBytes(header), .. data];
    }

    /// <summary>A model spec for it (or any data of one axis): input_shape left to the data, a hidden layer, and a last layer of <paramref name="units"/>.</summary>
    public static string Spec(int units = 3, string loss = "sparse_categorical_crossentropy") =>
        $$"""{"name": "tabular-mlp", "layers": [{"type": "dense", "units": 32, "activation": "relu"}, {"type": "dense", "units": {{units}}, "activation": "{{(units == 1 ? "sigmoid" : "softmax")}}"}], "loss": "{{loss}}", "optimizer": {"type": "adam", "learning_rate": 0.01}, "metrics": ["accuracy"]}""";
}
