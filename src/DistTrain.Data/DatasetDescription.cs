using System.Globalization;
using System.Text.Json;
using DistTrain.Data.Arrays;
using DistTrain.Data.Tabular;
using DistTrain.Engine;
using DistTrain.Engine.Model;

namespace DistTrain.Data;

/// <summary>
/// A dataset of the user's own, described by a small JSON file: its format, its train and test files (or one file and
/// the fraction held out for testing), and how to read them. Paths are taken from the description's folder.
/// <code>
/// {"format": "csv", "train": "train.csv", "test": "test.csv", "label": "species"}
/// {"format": "tsv", "train": "all.tsv", "test_fraction": 0.2, "header": false, "label": "0"}
/// {"format": "npz", "train": "mnist.npz"}          (x_train, y_train, x_test, y_test inside)
/// {"format": "npz", "train": "train.npz", "test": "test.npz"}     (x and y inside each)
/// </code>
/// Commands take one with `--data spec.json` (<see cref="DataChoice"/>).
/// </summary>
/// <param name="TestFraction">With no test file: the share of the rows, drawn by <paramref name="Seed"/>, kept for testing.</param>
public sealed record DatasetDescription(string Path, string Format, string Train, string? Test, double TestFraction, string? Label, char Delimiter,
    bool? Header, int Seed)
{
    private static readonly string[] Keys = ["format", "train", "test", "test_fraction", "label", "delimiter", "header", "seed"];

    /// <summary>A description is a few lines; anything larger is not one.</summary>
    public const int MaxBytes = 64 << 10;

    /// <summary>Reads and checks a description; every mistake is a <see cref="DataException"/> naming the key.</summary>
    public static DatasetDescription Load(string path)
    {
        if (!File.Exists(path)) throw new DataException($"{path}: no such dataset description");
        if (new FileInfo(path).Length > MaxBytes) throw new DataException($"{path} is larger than {MaxBytes:N0} bytes; a dataset description is a small JSON object");
        JsonElement root;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            root = doc.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new DataException($"{path}: not JSON ({e.Message})");
        }
        if (root.ValueKind != JsonValueKind.Object) throw new DataException($"{path}: a dataset description is a JSON object, such as {{\"format\": \"csv\", \"train\": \"train.csv\", \"test\": \"test.csv\"}}");
        foreach (var p in root.EnumerateObject())
            if (!Keys.Contains(p.Name)) throw new DataException($"{path}: unknown key '{p.Name}'; a description has {string.Join(", ", Keys)}");
        string format = String(root, "format", path) ?? throw new DataException($"{path}: 'format' is missing (csv, tsv or npz)");
        if (format is not ("csv" or "tsv" or "npz")) throw new DataException($"{path}: 'format' is '{format}'; expected csv, tsv or npz");
        string train = String(root, "train", path) ?? throw new DataException($"{path}: 'train' is missing: the training file, relative to the description");
        string? test = String(root, "test", path);
        double fraction = root.TryGetProperty("test_fraction", out var f)
            ? f.ValueKind == JsonValueKind.Number && f.GetDouble() is > 0 and < 1 and var v ? v
                : throw new DataException($"{path}: 'test_fraction' must be a number between 0 and 1, such as 0.2")
            : 0;
        if (test is not null && fraction > 0) throw new DataException($"{path}: give 'test' (a file) or 'test_fraction', not both");
        string? label = root.TryGetProperty("label", out var l)
            ? l.ValueKind switch
            {
                JsonValueKind.String => l.GetString(),
                JsonValueKind.Number when l.TryGetInt32(out int i) && i >= 0 => i.ToString(CultureInfo.InvariantCulture),
                _ => throw new DataException($"{path}: 'label' is a column's name or its index from 0"),
            }
            : null;
        string? delimiter = String(root, "delimiter", path);
        if (delimiter is { Length: not 1 }) throw new DataException($"{path}: 'delimiter' is one character, such as \",\" or \"\\t\"");
        bool? header = root.TryGetProperty("header", out var h)
            ? h.ValueKind is JsonValueKind.True or JsonValueKind.False ? h.GetBoolean() : throw new DataException($"{path}: 'header' is true or false")
            : null;
        int seed = root.TryGetProperty("seed", out var s)
            ? s.ValueKind == JsonValueKind.Number && s.TryGetInt32(out int si) ? si : throw new DataException($"{path}: 'seed' is a whole number")
            : 1;
        if (format == "npz" && (label ?? delimiter ?? (object?)header) is not null)
            throw new DataException($"{path}: 'label', 'delimiter' and 'header' are for csv and tsv; an .npz names its arrays x and y");
        return new DatasetDescription(System.IO.Path.GetFullPath(path), format, train, test, fraction, label,
            delimiter?[0] ?? (format == "tsv" ? '\t' : ','), header, seed);
    }

    /// <summary>
    /// The description a bare data file implies: a CSV or TSV with its header guessed and its label column named
    /// "label" or else the last, 20% of its rows held out for testing; an .npz holding x_train, y_train, x_test, y_test.
    /// </summary>
    public static DatasetDescription ForFile(string path, string format) => new(System.IO.Path.GetFullPath(path), format,
        System.IO.Path.GetFileName(path), null, format == "npz" ? 0 : 0.2, null, format == "tsv" ? '\t' : ',', null, 1);

    /// <summary>Reads the files it names into a train/test split: inputs (N, features...) and labels (N).</summary>
    public Dataset Read(Action<string> log)
    {
        string folder = System.IO.Path.GetDirectoryName(Path)!;
        string Resolve(string file) => System.IO.Path.GetFullPath(file, folder);
        string name = System.IO.Path.GetFileNameWithoutExtension(Path);
        if (Test is null && TestFraction == 0 && Format != "npz")
            throw new DataException($"{Path}: name a 'test' file or a 'test_fraction' to hold out");
        log($"reading {name} ({Format}) from {Path}");
        var (trainX, trainY, testX, testY, details) = Format == "npz" ? ReadArrays(Resolve) : ReadTables(Resolve);
        if (TestFraction > 0) (trainX, trainY, testX, testY) = Split(trainX, trainY);
        if (testX.Shape.AsSpan(1).SequenceEqual(trainX.Shape.AsSpan(1)) is false)
            throw new DataException($"{Path}: the test samples are {ShapeText(testX.Shape[1..])}, the training samples {ShapeText(trainX.Shape[1..])}");
        if (trainX.Batch == 0 || testX.Batch == 0) throw new DataException($"{Path}: the {(trainX.Batch == 0 ? "training" : "test")} split has no samples");
        return new Dataset(name, trainX, trainY, testX, testY, Path) { Details = details };
    }

    private (Tensor, Tensor, Tensor, Tensor, string) ReadTables(Func<string, string> resolve)
    {
        var options = new CsvOptions(Delimiter, Header, Label);
        var train = Csv.Read(resolve(Train), options);
        var test = Test is null ? train : Csv.Read(resolve(Test), options, train.Classes);
        if (!test.FeatureNames.SequenceEqual(train.FeatureNames) && Header != false)
            throw new DataException($"{Path}: {Test} has the columns {string.Join(", ", test.FeatureNames)}; {Train} has {string.Join(", ", train.FeatureNames)}");
        if (test.Columns != train.Columns) throw new DataException($"{Path}: {Test} has {test.Columns} feature columns; {Train} has {train.Columns}");
        string details = $"{train.Columns} features; " + (train.Classes is { } c ? $"{c.Count} classes ({string.Join(", ", c.Take(10))}{(c.Count > 10 ? ", ..." : "")})" : "numeric labels");
        return (new Tensor(train.Features, train.Rows, train.Columns), new Tensor(train.Labels, train.Rows),
            new Tensor(test.Features, test.Rows, test.Columns), new Tensor(test.Labels, test.Rows), details);
    }

    private (Tensor, Tensor, Tensor, Tensor, string) ReadArrays(Func<string, string> resolve)
    {
        var train = Npz.Read(resolve(Train));
        (Tensor X, Tensor Y) Pair(IReadOnlyDictionary<string, NpyArray> arrays, string file, string x, string y)
        {
            if (!arrays.TryGetValue(x, out var xs) || !arrays.TryGetValue(y, out var ys))
                throw new DataException($"{file}: holds {string.Join(", ", arrays.Keys)}; expected the arrays {x} and {y} (np.savez(f, {x}=..., {y}=...))");
            if (xs.Shape.Length == 0) throw new DataException($"{file}: {x} is a single number; samples are its first axis");
            int n = xs.Shape[0];
            if (ys.Data.Length != n || ys.Shape.Length == 0 || ys.Shape[0] != n)
                throw new DataException($"{file}: {x} holds {n:N0} samples but {y} holds {ys.Data.Length:N0} labels (shape {ShapeText(ys.Shape)}); one label a sample");
            return (new Tensor(xs.Data, xs.Shape), new Tensor(ys.Data, n));
        }
        (Tensor X, Tensor Y) trainSet, testSet;
        if (Test is not null)
        {
            trainSet = Pair(train, Train, "x", "y");
            testSet = Pair(Npz.Read(resolve(Test)), Test, "x", "y");
        }
        else if (TestFraction > 0)
        {
            trainSet = Pair(train, Train, "x", "y");
            testSet = (new Tensor(0), new Tensor(0));
        }
        else
        {
            trainSet = Pair(train, Train, "x_train", "y_train");
            testSet = Pair(train, Train, "x_test", "y_test");
        }
        return (trainSet.X, trainSet.Y, testSet.X, testSet.Y, $"samples {ShapeText(trainSet.X.Shape[1..])}");
    }

    // The held-out rows, drawn by the seed (the same every time), kept in their file order on each side.
    private (Tensor, Tensor, Tensor, Tensor) Split(Tensor x, Tensor y)
    {
        int n = x.Batch, tests = (int)Math.Round(n * TestFraction);
        var order = ShardPlan.Permutation(n, Seed, 0);
        var held = order.Take(tests).Order().ToArray();
        var kept = order.Skip(tests).Order().ToArray();
        return (Gather(x, kept), Gather(y, kept), Gather(x, held), Gather(y, held));
    }

    private static Tensor Gather(Tensor t, int[] rows)
    {
        int size = t.Length / Math.Max(1, t.Batch);
        var data = new float[(long)rows.Length * size];
        for (int i = 0; i < rows.Length; i++) t.Span.Slice(rows[i] * size, size).CopyTo(data.AsSpan(i * size, size));
        return new Tensor(data, [rows.Length, .. t.Shape[1..]]);
    }

    private static string ShapeText(int[] shape) => "(" + string.Join(", ", shape) + ")";

    private static string? String(JsonElement root, string key, string path) =>
        !root.TryGetProperty(key, out var v) ? null
        : v.ValueKind == JsonValueKind.String && v.GetString() is { Length: > 0 } s ? s
        : throw new DataException($"{path}: '{key}' must be a non-empty string");
}
