using DistTrain.Data.Tabular;

namespace DistTrain.Data.Tests;

/// <summary>CSV and TSV tables: headers given or guessed, quoting, class names, and errors that name the line and column.</summary>
public class CsvTests
{
    private static Table Read(string text, CsvOptions? options = null, IReadOnlyList<string>? classes = null) =>
        Csv.Read(new StringReader(text), "t.csv", options ?? new CsvOptions(), classes);

    private static string Error(string text, CsvOptions? options = null, IReadOnlyList<string>? classes = null) =>
        Assert.Throws<DataException>(() => Read(text, options, classes)).Message;

    [Fact]
    public void A_csv_with_a_header_gives_features_row_major_and_the_label_column_by_name()
    {
        var t = Read("a,label,b\r\n1,0,2\r\n3.5,1,-4e-1\r\n");
        Assert.Equal(["a", "b"], t.FeatureNames);
        Assert.Equal("label", t.LabelName);
        Assert.Equal(2, t.Rows);
        Assert.Equal([1f, 2f, 3.5f, -0.4f], t.Features);
        Assert.Equal([0f, 1f], t.Labels);
        Assert.Null(t.Classes);
    }

    [Fact]
    public void A_tsv_without_a_header_takes_its_last_column_as_the_label_unless_told_otherwise()
    {
        var t = Read("1\t2\t7\n3\t4\t8\n", new CsvOptions('\t'));
        Assert.Equal(["column 1", "column 2"], t.FeatureNames);
        Assert.Equal([7f, 8f], t.Labels);
        var first = Read("1\t2\t7\n3\t4\t8\n", new CsvOptions('\t', Header: false, Label: "0"));
        Assert.Equal([1f, 3f], first.Labels);
        Assert.Equal([2f, 7f, 4f, 8f], first.Features);
    }

    [Fact]
    public void Quoted_fields_hold_delimiters_doubled_quotes_and_line_breaks_and_blank_lines_are_skipped()
    {
        var t = Read("\"x, the first\",\"say \"\"hi\"\"\",label\n\n\"1\",2,\"cat\"\n3,4,\"two\nlines\"\n  \n");
        Assert.Equal(["x, the first", "say \"hi\""], t.FeatureNames);
        Assert.Equal(["cat", "two\nlines"], t.Classes);
        Assert.Equal([0f, 1f], t.Labels);
        Assert.Equal([1f, 2f, 3f, 4f], t.Features);
    }

    [Fact]
    public void Word_labels_are_classes_in_sorted_order_and_a_test_file_keeps_the_training_ids()
    {
        var train = Read("f,species\n1,versicolor\n2,setosa\n3,virginica\n4,setosa\n");
        Assert.Equal(["setosa", "versicolor", "virginica"], train.Classes);
        Assert.Equal([1f, 0f, 2f, 0f], train.Labels);
        var test = Read("f,species\n5,virginica\n6,setosa\n", classes: train.Classes);
        Assert.Equal([2f, 0f], test.Labels);
        Assert.Contains("line 3, column 2 ('species'): the label 'daisy' is not one of the 3 classes of the training data ('setosa', 'versicolor', 'virginica')",
            Error("f,species\n5,virginica\n6,daisy\n", classes: train.Classes));
    }

    [Fact]
    public void The_header_is_guessed_from_words_above_numbers_and_a_first_row_of_numbers_is_data()
    {
        Assert.Equal(3, Read("1,2,0\n3,4,1\n5,6,0\n").Rows);
        Assert.Equal(2, Read("w,h,label\n3,4,1\n5,6,0\n").Rows);
        // A word label on the first row is not a header when the feature columns hold numbers on both rows.
        Assert.Equal(2, Read("5.1,3.5,setosa\n4.9,3.0,setosa\n").Rows);
    }

    [Theory]
    [InlineData("a,b,label\n1,2,0\n3,x,1\n", "t.csv line 3, column 2 ('b'): 'x' is not a number")]
    [InlineData("a,b,label\n1,2,0\n3,,1\n", "t.csv line 3, column 2 ('b') is empty; missing values are not supported")]
    [InlineData("a,b,label\n1,2,0\n3,4\n", "t.csv line 3 has 2 columns; the header has 3")]
    [InlineData("a,b,label\n1,2,0\n3,4,\n", "t.csv line 3, column 3 ('label'): the label is empty")]
    [InlineData("a,b,label\n1,2,0\n3,Infinity,1\n", "t.csv line 3, column 2 ('b'): 'Infinity' is not a finite number")]
    [InlineData("a,b,label\n1,\"2\n", "t.csv line 2: a quoted field is never closed")]
    [InlineData("a,b,label\n1,\"2\"x,0\n", "t.csv line 2, column 2: 'x' after a closing quote")]
    [InlineData("a;b;label\n1;2;0\n", "has 1 column; a table needs a label and at least one feature (is the delimiter ',' right?)")]
    [InlineData("a,b,label\n", "t.csv has a header but no rows")]
    [InlineData("", "t.csv holds no rows")]
    public void Broken_tables_are_refused_naming_the_line_and_column(string text, string expected) => Assert.Contains(expected, Error(text));

    [Fact]
    public void A_label_column_that_is_not_there_is_named()
    {
        Assert.Contains("t.csv has no column named 'y'; its columns are 'a', 'b'", Error("a,b\n1,2\n", new CsvOptions(Label: "y")));
        Assert.Contains("the label column 5 is past its 2 columns", Error("1,2\n3,4\n", new CsvOptions(Label: "5")));
    }

    [Fact]
    public void Hostile_tables_are_bounded_a_line_without_end_and_a_row_of_delimiters()
    {
        Assert.Contains("is longer than 1,048,576 characters", Error(new string('1', Csv.MaxRecordChars + 10)));
        Assert.Contains("line 1 has more than 65,536 columns", Error(string.Join(',', Enumerable.Repeat("1", Csv.MaxColumns + 1))));
        Assert.Contains("is longer than", Error("a,b,label\n\"" + new string('x', Csv.MaxRecordChars)));
    }

    [Fact]
    public void A_file_is_read_from_disk_with_its_byte_order_mark_and_a_missing_one_is_named()
    {
        string path = Path.Combine(Directory.CreateTempSubdirectory("dt-csv-").FullName, "iris.csv");
        File.WriteAllText(path, "sepal,label\n1,0\n", new System.Text.UTF8Encoding(encoderShouldEmitUTF8Identifier: true));
        var t = Csv.Read(path);
        Assert.Equal(["sepal"], t.FeatureNames);
        Assert.Equal("iris.csv", t.Source);
        Assert.Contains("no such file", Assert.Throws<DataException>(() => Csv.Read(path + ".missing")).Message);
        Directory.Delete(Path.GetDirectoryName(path)!, recursive: true);
    }

    [Fact]
    public void A_line_of_a_million_quotes_is_read_in_one_pass()
    {
        var t = Read("f,label\n1,a" + new string('"', 1_000_000) + "\n");
        Assert.Equal(1, t.Rows);
        Assert.Single(t.Classes!);
    }

    [Fact]
    public void Labels_keep_the_kind_of_the_first_row_and_words_are_bounded()
    {
        Assert.Contains("t.csv line 3, column 2 ('label'): the label 'cat' is a word, but the labels above it are numbers", Error("f,label\n1,0\n2,cat\n"));
        var words = Read("f,label\n1,cat\n2,7\n");
        Assert.Equal(["7", "cat"], words.Classes);
        var many = "f,label\n" + string.Concat(Enumerable.Range(0, LabelColumn.MaxClasses + 1).Select(i => $"1,c{i}\n"));
        Assert.Contains($"more than {LabelColumn.MaxClasses:N0} different word labels", Error(many));
    }

    [Fact]
    public void The_header_guess_takes_a_missing_value_for_one_and_a_pandas_header_of_column_numbers_for_a_header()
    {
        Assert.Contains("t.csv line 1, column 2 ('column 2') is empty", Error("5.1,,1.4,setosa\n4.9,3.0,1.4,setosa\n"));
        var pandas = Read("0,1,2\n5,6,1\n7,8,0\n");
        Assert.Equal(2, pandas.Rows);
        Assert.Equal(["0", "1"], pandas.FeatureNames);
    }

    [Fact]
    public void A_file_cannot_put_terminal_escapes_into_a_message()
    {
        string message = Error("a,label\n\u001b[31mred,0\n");
        Assert.DoesNotContain("\u001b", message);
        Assert.Contains("'\\x1b[31mred' is not a number", message);
    }

    [Fact]
    public void A_lone_carriage_return_inside_quotes_counts_as_a_line()
    {
        // Old Mac line breaks: the quoted label spans lines 2 and 3, so the bad row is line 4.
        Assert.Contains("t.csv line 4, column 1 ('f'): 'x' is not a number", Error("f,label\r1,\"a\rb\"\rx,0\r"));
    }
}
