namespace DistTrain.Data.Tests;

/// <summary>A dataset of the user's own from a JSON description: CSV, TSV and NPZ, a test file or a held-out fraction.</summary>
public sealed class DatasetDescriptionTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dt-desc-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, string text)
    {
        string path = Path.Combine(_dir, name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
        return path;
    }

    private static Dataset Read(string path) => DatasetDescription.Load(path).Read(_ => { });

    private string Error(string json) => Assert.Throws<DataException>(() => Read(Write("bad.json", json))).Message;

    [Fact]
    public void A_csv_pair_reads_to_a_split_whose_test_keeps_the_training_classes()
    {
        Write("data/train.csv", "w,h,species\n1,2,b\n3,4,a\n5,6,b\n");
        Write("data/test.csv", "w,h,species\n7,8,a\n");
        var d = Read(Write("data/iris.json", """{"format": "csv", "train": "train.csv", "test": "test.csv", "label": "species"}"""));
        Assert.Equal("iris", d.Name);
        Assert.Equal([3, 2], d.TrainX.Shape);
        Assert.Equal([1f, 0f, 1f], d.TrainY.Span.ToArray());
        Assert.Equal([7f, 8f], d.TestX.Span.ToArray());
        Assert.Equal([0f], d.TestY.Span.ToArray());
        Assert.Equal("2 features; 2 classes (a, b)", d.Details);
    }

    [Fact]
    public void A_tsv_with_a_test_fraction_holds_out_the_same_rows_every_time()
    {
        Write("all.tsv", string.Concat(Enumerable.Range(0, 10).Select(i => $"{i}\t{i % 2}\n")));
        string desc = Write("all.json", """{"format": "tsv", "train": "all.tsv", "test_fraction": 0.3, "header": false}""");
        var a = Read(desc);
        var b = Read(desc);
        Assert.Equal((7, 3), (a.TrainCount, a.TestCount));
        Assert.Equal(a.TestX.Span.ToArray(), b.TestX.Span.ToArray());
        Assert.Equal(Enumerable.Range(0, 10).Select(i => (float)i), a.TrainX.Span.ToArray().Concat(a.TestX.Span.ToArray()).Order());
    }

    [Fact]
    public void An_npz_made_by_numpy_reads_with_a_held_out_fraction()
    {
        File.Copy(Path.Combine(AppContext.BaseDirectory, "Fixtures", "numpy", "savez.npz"), Path.Combine(_dir, "xy.npz"));
        var d = Read(Write("xy.json", """{"format": "npz", "train": "xy.npz", "test_fraction": 0.34}"""));
        Assert.Equal((2, 1), (d.TrainCount, d.TestCount));
        Assert.Equal([2, 2], d.TrainX.Shape);
        // Without a test file or a fraction, the one archive holds both splits under numpy's usual names.
        Assert.Contains("holds x, y; expected the arrays x_train and y_train", Error("""{"format": "npz", "train": "xy.npz"}"""));
    }

    [Theory]
    [InlineData("""{"format": "csv", "train": "t.csv", "test": "t.csv", "seeds": 2}""", "unknown key 'seeds'")]
    [InlineData("""{"format": "xlsx", "train": "t.csv"}""", "'format' is 'xlsx'; expected csv, tsv or npz")]
    [InlineData("""{"train": "t.csv"}""", "'format' is missing")]
    [InlineData("""{"format": "csv", "test": "t.csv"}""", "'train' is missing")]
    [InlineData("""{"format": "csv", "train": "t.csv", "test": "t.csv", "test_fraction": 0.2}""", "give 'test' (a file) or 'test_fraction', not both")]
    [InlineData("""{"format": "csv", "train": "t.csv", "test_fraction": 1.5}""", "'test_fraction' must be a number between 0 and 1")]
    [InlineData("""{"format": "csv", "train": "t.csv"}""", "name a 'test' file or a 'test_fraction' to hold out")]
    [InlineData("""{"format": "csv", "train": "missing.csv", "test_fraction": 0.5}""", "missing.csv: no such file")]
    [InlineData("""{"format": "npz", "train": "t.npz", "label": "y"}""", "'label', 'delimiter' and 'header' are for csv and tsv")]
    [InlineData("""{"format": "csv", "train": "t.csv", "test_fraction": 0.5, "delimiter": ";;"}""", "'delimiter' is one character")]
    [InlineData("""[1, 2]""", "a dataset description is a JSON object")]
    [InlineData("""{"format": """, "not JSON")]
    public void A_broken_description_is_refused_naming_the_key(string json, string expected) => Assert.Contains(expected, Error(json));

    [Fact]
    public void A_test_file_with_other_columns_is_refused()
    {
        Write("a.csv", "w,h,label\n1,2,0\n");
        Write("b.csv", "w,depth,label\n1,2,0\n");
        Assert.Contains("b.csv has the columns w, depth; a.csv has w, h", Error("""{"format": "csv", "train": "a.csv", "test": "b.csv"}"""));
    }
}
