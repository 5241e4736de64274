using System.IO.Compression;
using DistTrain.Data;
using Xunit.Abstractions;

namespace DistTrain.Cli.Tests;

/// <summary>
/// Hostile files through the real CLI (the file part of the hostile-input suite; the readers' own cases are in
/// Data.Tests HostileInputTests, CsvTests, NpyTests, NpzTests and Engine.Tests HostileModelFileTests): each case writes a
/// broken model, checkpoint or dataset (IDX, CSV, NPY, NPZ, a dataset description, labels the model cannot take), runs `disttrain`, and must get exit code 1 and one line naming what was wrong, never a stack trace, within
/// a bound. Every case's exit code and message are recorded (test output, and hostile-file-cases.tsv).
/// </summary>
public class HostileFileTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dt-hostile-files-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    // A real model file (format v2, with training state), made once per run, that cases then break.
    private static readonly Lazy<byte[]> Model = new(() =>
    {
        string dir = Directory.CreateTempSubdirectory("dt-hostile-model-").FullName;
        try
        {
            SyntheticDigits.Write(dir);
            string file = Path.Combine(dir, "m.dtm");
            var r = CliProcess.Run(["train", "--model", "mnist-mlp", "--data-dir", dir, "--epochs", "1", "--batch-size", "60", "--save", file],
                new Dictionary<string, string> { ["DISTTRAIN_DATA"] = Path.Combine(dir, "cache") }, timeoutSeconds: 120);
            Assert.True(r.ExitCode == 0, r.Stderr);
            return File.ReadAllBytes(file);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    });

    private static void Gz(string path, byte[] bytes)
    {
        using var file = File.Create(path);
        using var gz = new GZipStream(file, CompressionLevel.Fastest);
        gz.Write(bytes);
    }

    private static byte[] IdxHeader(byte type, params int[] dims)
    {
        var h = new List<byte> { 0, 0, type, (byte)dims.Length };
        foreach (int d in dims) h.AddRange(BitConverter.GetBytes(System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(d)));
        return [.. h];
    }

    // Each case: what it writes into the folder, the command, and words the error must hold.
    private static readonly Dictionary<string, (Action<string> Write, Func<string, string[]> Args, string Says)> Cases = new()
    {
        ["model/empty"] = (d => File.WriteAllBytes(Path.Combine(d, "m.dtm"), []), d => Evaluate(d), "m.dtm"),
        ["model/garbage"] = (d => File.WriteAllBytes(Path.Combine(d, "m.dtm"), new byte[4096]), d => Evaluate(d), "m.dtm"),
        ["model/truncated-half"] = (d => File.WriteAllBytes(Path.Combine(d, "m.dtm"), Model.Value[..(Model.Value.Length / 2)]), d => Evaluate(d), "m.dtm"),
        ["model/one-byte-flipped"] = (d =>
        {
            var b = (byte[])Model.Value.Clone();
            b[b.Length / 3] ^= 0x40;
            File.WriteAllBytes(Path.Combine(d, "m.dtm"), b);
        }, d => Evaluate(d), "m.dtm"),
        ["checkpoint/resume-truncated"] = (d =>
        {
            SyntheticDigits.Write(d);
            File.WriteAllBytes(Path.Combine(d, "m.dtm"), Model.Value[..^7]);
        }, d => ["train", "--resume", Path.Combine(d, "m.dtm"), "--data-dir", d, "--epochs", "2"], "m.dtm"),
        ["idx/images-not-gzip"] = (d =>
        {
            SyntheticDigits.Write(d);
            File.WriteAllBytes(Path.Combine(d, "train-images-idx3-ubyte.gz"), "this is not gzip"u8.ToArray());
        }, Train, "train-images-idx3-ubyte.gz"),
        ["idx/images-truncated-gzip"] = (d =>
        {
            SyntheticDigits.Write(d);
            string p = Path.Combine(d, "train-images-idx3-ubyte.gz");
            File.WriteAllBytes(p, File.ReadAllBytes(p)[..200]);
        }, Train, "train-images-idx3-ubyte.gz"),
        ["idx/header-promises-2GB"] = (d =>
        {
            SyntheticDigits.Write(d);
            Gz(Path.Combine(d, "train-images-idx3-ubyte.gz"), IdxHeader(0x08, 2_800_000, 28, 28));
        }, Train, "train-images-idx3-ubyte.gz"),
        ["idx/gzip-bomb"] = (d =>
        {
            SyntheticDigits.Write(d);
            Gz(Path.Combine(d, "train-labels-idx1-ubyte.gz"), [.. IdxHeader(0x08, 600), .. new byte[64 << 20]]);
        }, Train, "train-labels-idx1-ubyte.gz"),
        ["idx/labels-count-mismatch"] = (d =>
        {
            SyntheticDigits.Write(d);
            Idx.Write(Path.Combine(d, "train-labels-idx1-ubyte.gz"), [599], new byte[599]);
        }, Train, "599"),
        ["idx/label-out-of-range"] = (d =>
        {
            SyntheticDigits.Write(d);
            Idx.Write(Path.Combine(d, "train-labels-idx1-ubyte.gz"), [600], Enumerable.Repeat((byte)200, 600).ToArray());
        }, Train, "200"),
        ["spec/units-over-the-limit"] = (d =>
        {
            SyntheticDigits.Write(d);
            File.WriteAllText(Path.Combine(d, "spec.json"),
                """{"input_shape":[28,28,1],"layers":[{"type":"flatten"},{"type":"dense","units":100000000}],"loss":"sparse_categorical_crossentropy","optimizer":"adam"}""");
        }, d => ["train", "--model", Path.Combine(d, "spec.json"), "--data-dir", d, "--epochs", "1"], "limit"),
        // Your own data (issue 17): CSV, TSV, NPY/NPZ and dataset descriptions through `train --data`.
        ["csv/unclosed-quote"] = (d => Text(d, "t.csv", "a,b,label\n1,2,0\n\"3,4,1\n5,6,0\n"), d => TrainData(d, "t.csv"), "t.csv"),
        ["csv/ragged-row"] = (d => Text(d, "t.csv", "a,b,label\n1,2,0\n3,4,5,1\n"), d => TrainData(d, "t.csv"), "line 3"),
        ["csv/word-in-a-feature"] = (d => Text(d, "t.csv", "a,b,label\n1,2,0\n3,oops,1\n"), d => TrainData(d, "t.csv"), "oops"),
        ["csv/escape-codes-shown-escaped"] = (d => Text(d, "t.csv", "a,b,label\n1,2,0\n3,\u001b[31mred,1\n"), d => TrainData(d, "t.csv"), "\\x1b"),
        ["csv/only-a-header"] = (d => Text(d, "t.csv", "a,b,label\n"), d => TrainData(d, "t.csv"), "t.csv"),
        ["csv/binary-garbage"] = (d => File.WriteAllBytes(Path.Combine(d, "t.csv"), [.. Enumerable.Range(0, 4096).Select(i => (byte)(i * 37))]), d => TrainData(d, "t.csv"), "t.csv"),
        ["csv/million-quotes"] = (d => Text(d, "t.csv", "a,label\n" + new string('"', 1_000_001) + "\n"), d => TrainData(d, "t.csv"), "t.csv"),
        ["csv/too-few-classes-for-the-model"] = (d => Text(d, "t.csv", "a,label\n" + string.Concat(Enumerable.Range(0, 50).Select(i => $"{i},{i % 10}\n"))),
            d => ["train", "--data", Path.Combine(d, "t.csv"), "--model", Spec(d, 2, "sparse_categorical_crossentropy"), "--epochs", "1"], "10 classes but the last layer has 2 units"),
        ["csv/binary-loss-on-three-classes"] = (d => Text(d, "t.csv", "a,label\n" + string.Concat(Enumerable.Range(0, 50).Select(i => $"{i},{i % 3}\n"))),
            d => ["train", "--data", Path.Combine(d, "t.csv"), "--model", Spec(d, 1, "binary_crossentropy"), "--epochs", "1"], "3 classes"),
        ["npy/pickled-object-array"] = (d => Npz(d, "t.npz", ("x_train.npy", TabularData.Npy("|O", "(4,)", new byte[32]))), d => TrainData(d, "t.npz"), "pickle"),
        ["npy/header-promises-2^40-elements"] = (d => Npz(d, "t.npz", ("x_train.npy", TabularData.Npy("<f4", "(1048576, 1048576)", new byte[64]))), d => TrainData(d, "t.npz"), "x_train"),
        ["npy/data-shorter-than-its-shape"] = (d => Npz(d, "t.npz", ("x_train.npy", TabularData.Npy("<f4", "(100, 3)", new byte[40]))), d => TrainData(d, "t.npz"), "x_train"),
        ["npy/big-endian"] = (d => Npz(d, "t.npz", ("x_train.npy", TabularData.Npy(">f4", "(2,)", new byte[8]))), d => TrainData(d, "t.npz"), "big-endian"),
        ["npz/not-a-zip"] = (d => Text(d, "t.npz", "PK but not really a zip archive"), d => TrainData(d, "t.npz"), "t.npz"),
        ["npz/missing-arrays"] = (d => Npz(d, "t.npz", ("a.npy", TabularData.Npy("<f4", "(2,)", new byte[8]))), d => TrainData(d, "t.npz"), "x_train"),
        ["description/unknown-key"] = (d => Text(d, "data.json", """{"format": "csv", "train": "t.csv", "tset": "u.csv"}"""), d => TrainData(d, "data.json"), "tset"),
        ["description/missing-train-file"] = (d => Text(d, "data.json", """{"format": "csv", "train": "nowhere.csv", "test_fraction": 0.2}"""), d => TrainData(d, "data.json"), "nowhere.csv"),
        ["description/not-json"] = (d => Text(d, "data.json", "format = csv"), d => TrainData(d, "data.json"), "data.json"),
    };

    private static void Text(string dir, string file, string text) => File.WriteAllText(Path.Combine(dir, file), text);

    private static void Npz(string dir, string file, params (string Name, byte[] Bytes)[] entries)
    {
        using var zip = ZipFile.Open(Path.Combine(dir, file), ZipArchiveMode.Create);
        foreach (var (name, bytes) in entries)
        {
            using var entry = zip.CreateEntry(name).Open();
            entry.Write(bytes);
        }
    }

    // A model spec (input shape from the data) whose last layer has `units` units, trained with `loss`.
    private static string Spec(string dir, int units, string loss)
    {
        string path = Path.Combine(dir, "spec.json");
        File.WriteAllText(path, TabularData.Spec(units, loss));
        return path;
    }

    private static string[] TrainData(string d, string file) =>
        ["train", "--data", Path.Combine(d, file), "--model", Spec(d, 2, "sparse_categorical_crossentropy"), "--epochs", "1"];

    private static string[] Evaluate(string d) => ["evaluate", "--model-file", Path.Combine(d, "m.dtm"), "--dataset", "mnist", "--data-dir", d];

    private static string[] Train(string d) => ["train", "--model", "mnist-mlp", "--data-dir", d, "--epochs", "1", "--batch-size", "60"];

    public static TheoryData<string> Names => new(Cases.Keys);

    // One run's record: emptied before the first case appends to it.
    private static readonly Lazy<string> Record = new(() =>
    {
        string path = Path.Combine(AppContext.BaseDirectory, "hostile-file-cases.tsv");
        File.Delete(path);
        return path;
    });

    [Theory]
    [MemberData(nameof(Names))]
    public void A_hostile_file_gets_exit_code_1_and_a_message_naming_what_was_wrong(string name)
    {
        var (write, args, says) = Cases[name];
        write(_dir);
        var r = CliProcess.Run(args(_dir), new Dictionary<string, string> { ["DISTTRAIN_DATA"] = Path.Combine(_dir, "cache") }, timeoutSeconds: 120);
        string message = r.Stderr.Trim();
        string line = $"{name}\t{r.ExitCode}\t{message}";
        output.WriteLine(line);
        lock (Cases) File.AppendAllText(Record.Value, line + "\n");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains(says, message);
        Assert.DoesNotContain("   at ", message);
    }
}
