namespace DistTrain.Data.Tests;

public class TokenizerTests
{
    [Fact]
    public void Words_follow_keras_conventions()
    {
        Assert.Equal(["it's", "a", "10", "10", "film", "really"],
            Tokenizer.Words("It's a 10/10 FILM!<br /><br />Really..."));
        Assert.Equal(["caf", "ol"], Tokenizer.Words("Café-Olé")); // non-ASCII letters split words, as [a-z0-9'] does
    }

    [Fact]
    public void Vocabulary_is_most_frequent_first_with_deterministic_ties()
    {
        var texts = new[] { "b a c", "a b d", "a e" };
        var tok = Tokenizer.Fit(texts, new TokenizerOptions(NumWords: 6, MaxLen: 8));
        // a ×3, b ×2, then c, d, e tie at 1 and go in ordinal order; 6 ids leave room for 3 words.
        Assert.Equal(["a", "b", "c"], tok.Vocabulary);
        Assert.Equal(6, tok.VocabularySize);
        var shuffled = Tokenizer.Fit(texts.Reverse(), new TokenizerOptions(NumWords: 6, MaxLen: 8));
        Assert.Equal(tok.Vocabulary, shuffled.Vocabulary);
    }

    [Fact]
    public void Encoding_reserves_pad_start_and_out_of_vocabulary()
    {
        var tok = Tokenizer.Fit(["a a b"], new TokenizerOptions(NumWords: 5, MaxLen: 6));
        Assert.Equal([Tokenizer.Start, 3, 4, Tokenizer.OutOfVocabulary], tok.Encode("a b zebra"));
    }

    [Theory]
    [InlineData("pre", "pre", new[] { 0, 0, 1, 3, 4 })]
    [InlineData("post", "pre", new[] { 1, 3, 4, 0, 0 })]
    public void Short_sequences_are_padded(string padding, string truncating, int[] expected)
    {
        var tok = Tokenizer.Fit(["a a b"], new TokenizerOptions(5, 5, padding, truncating));
        var ids = new int[5];
        tok.EncodePadded("a b", ids);
        Assert.Equal(expected, ids);
    }

    [Theory]
    [InlineData("pre", new[] { 4, 3, 4 })]
    [InlineData("post", new[] { 1, 3, 4 })]
    public void Long_sequences_are_truncated(string truncating, int[] expected)
    {
        var tok = Tokenizer.Fit(["a a b"], new TokenizerOptions(5, 3, "pre", truncating));
        var ids = new int[3];
        tok.EncodePadded("a b a b", ids); // [1, 3, 4, 3, 4]
        Assert.Equal(expected, ids);
    }

    [Theory]
    [InlineData(3, 10, "pre", "pre", "num-words must be at least 4")]
    [InlineData(100, 0, "pre", "pre", "max-len must be at least 1")]
    [InlineData(100, 10, "middle", "pre", "padding must be pre or post")]
    [InlineData(100, 10, "pre", "both", "truncating must be pre or post")]
    public void Bad_settings_are_named(int words, int len, string padding, string truncating, string expected)
    {
        var e = Assert.Throws<DataException>(() => new TokenizerOptions(words, len, padding, truncating).Validate());
        Assert.Contains(expected, e.Message);
    }
}
