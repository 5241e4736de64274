using System.Text;

namespace DistTrain.Data.Tests;

public class ImdbTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dt-imdb-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private void WriteAcl(int perClass = 3)
    {
        foreach (var split in new[] { "train", "test" })
        foreach (var (sub, word) in new[] { ("pos", "great"), ("neg", "awful") })
        {
            string folder = Directory.CreateDirectory(Path.Combine(_dir, split, sub)).FullName;
            for (int i = 0; i < perClass; i++) File.WriteAllText(Path.Combine(folder, $"{i}_7.txt"), $"A {word} movie<br />number {i}.");
        }
    }

    [Fact]
    public void Reads_the_aclimdb_layout_and_tokenizes_it()
    {
        WriteAcl();
        var data = Imdb.Load(_dir, new TokenizerOptions(NumWords: 20, MaxLen: 6));
        Assert.Equal([6, 6], data.TrainX.Shape);
        Assert.Equal([6], data.TestY.Shape);
        Assert.Equal(3, data.TrainY.Span.ToArray().Count(v => v == 1));
        // "a great movie number 0" → start + 5 words, padded to 6 at the front with nothing to pad.
        Assert.Equal(Tokenizer.Start, data.TrainX.Span[6 * 3]);
        Assert.Contains("vocabulary", data.Details);
    }

    [Fact]
    public void A_wrong_aclimdb_layout_is_named()
    {
        WriteAcl();
        Directory.Delete(Path.Combine(_dir, "test", "neg"), recursive: true);
        var e = Assert.Throws<DataException>(() => Imdb.Load(_dir, new TokenizerOptions()));
        Assert.Contains("missing test/neg", e.Message);
    }

    [Fact]
    public void An_empty_review_file_is_named()
    {
        WriteAcl();
        string empty = Path.Combine(_dir, "train", "pos", "9_1.txt");
        File.WriteAllText(empty, "  \n");
        var e = Assert.Throws<DataException>(() => Imdb.Load(_dir, new TokenizerOptions()));
        Assert.Contains(empty, e.Message);
        Assert.Contains("empty", e.Message);
    }

    [Theory]
    [InlineData("[{\"t\": \"good\", \"s\": 1}, {\"t\": \"bad\", \"s\": 0}", "malformed JSON")]
    [InlineData("{\"t\": \"good\"}", "expected an array of reviews")]
    [InlineData("[{\"t\": \"good\", \"s\": 1}, {\"text\": \"bad\", \"s\": 0}]", "review 1 is not an object")]
    [InlineData("[{\"t\": \"good\", \"s\": 2}]", "review 0 has label 2")]
    [InlineData("[{\"t\": \"good\", \"s\": 1}, {\"t\": \"\", \"s\": 0}]", "review 1 is empty")]
    [InlineData("[]", "holds no reviews")]
    public void Malformed_review_json_is_refused_by_review(string json, string expected)
    {
        var e = Assert.Throws<DataException>(() => Imdb.ReadReviewsJson(Encoding.UTF8.GetBytes(json), "reviews.json"));
        Assert.StartsWith("reviews.json", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Package_reviews_split_by_position()
    {
        string path = Path.Combine(_dir, "reviews.json");
        File.WriteAllText(path, "[" + string.Join(",", Enumerable.Range(0, 6).Select(i => $"{{\"t\": \"review {i}\", \"s\": {i % 3 % 2}}}")) + "]");
        var (train, test) = Imdb.ReadPackageReviews(path);
        Assert.Equal(["review 0", "review 2", "review 4"], train.Select(r => r.Text));
        Assert.Equal(["review 1", "review 3", "review 5"], test.Select(r => r.Text));
    }

    [Fact]
    public void Int32_idx_round_trips()
    {
        string path = Path.Combine(_dir, "x-idx2-int");
        Idx.WriteInt32(path, [2, 3], [1, -2, 300000, 4, 5, 6]);
        Assert.Equal([1, -2, 300000, 4, 5, 6], Idx.Read(path, 2, Idx.Int32).ToInt32());
        Assert.Contains("expected 0x08", Assert.Throws<DataException>(() => Idx.Read(path, 2)).Message);
    }
}
