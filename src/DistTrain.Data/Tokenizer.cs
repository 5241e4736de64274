using DistTrain.Engine.Spec;

namespace DistTrain.Data;

/// <summary>How reviews become fixed-length id sequences; the defaults are Keras' IMDB conventions.</summary>
/// <param name="NumWords">Ids stay below this: 0 padding, 1 start, 2 out-of-vocabulary, then the NumWords − 3 most frequent words.</param>
/// <param name="Padding">"pre" (zeros in front, Keras' default) or "post".</param>
/// <param name="Truncating">"pre" (drop the beginning of long sequences, Keras' default) or "post".</param>
public sealed record TokenizerOptions(int NumWords = 10_000, int MaxLen = 256, string Padding = "pre", string Truncating = "pre")
{
    /// <summary>Refuses settings that cannot work, naming them.</summary>
    public void Validate()
    {
        if (NumWords < 4)
            throw new DataException($"num-words must be at least 4 (0 = padding, 1 = start, 2 = out-of-vocabulary, words from 3), got {NumWords}");
        if (NumWords > SpecLimits.MaxNumWords)
            throw new DataException($"num-words must be at most {SpecLimits.MaxNumWords:N0} (the largest vocabulary an embedding may have), got {NumWords}");
        if (MaxLen < 1) throw new DataException($"max-len must be at least 1, got {MaxLen}");
        if (MaxLen > SpecLimits.MaxSequenceLength)
            throw new DataException($"max-len must be at most {SpecLimits.MaxSequenceLength:N0} (the longest sequence a model may take), got {MaxLen}");
        if (Padding is not ("pre" or "post")) throw new DataException($"padding must be pre or post, got '{Padding}'");
        if (Truncating is not ("pre" or "post")) throw new DataException($"truncating must be pre or post, got '{Truncating}'");
    }

    /// <summary>A short name for cache entries.</summary>
    public string Key => $"w{NumWords}-l{MaxLen}-{Padding}-{Truncating}";
}

/// <summary>
/// Keras-style word tokenizer: lower-case the text, turn "&lt;br /&gt;" into a space, and take words as runs of
/// [a-z0-9']. The vocabulary is the NumWords − 3 most frequent words of the texts it is fitted on, ties broken by
/// ordinal string order so that it never depends on input order. Encoding prepends the start id and maps unknown
/// words to the out-of-vocabulary id.
/// </summary>
public sealed class Tokenizer
{
    public const int Pad = 0, Start = 1, OutOfVocabulary = 2, FirstWord = 3;

    private readonly Dictionary<string, int> _ids;

    private Tokenizer(IReadOnlyList<string> vocabulary, TokenizerOptions options)
    {
        Vocabulary = vocabulary;
        Options = options;
        _ids = new Dictionary<string, int>(vocabulary.Count, StringComparer.Ordinal);
        for (int i = 0; i < vocabulary.Count; i++) _ids[vocabulary[i]] = FirstWord + i;
    }

    /// <summary>Words by id − 3: Vocabulary[0] is the most frequent word, id 3.</summary>
    public IReadOnlyList<string> Vocabulary { get; }

    public TokenizerOptions Options { get; }

    /// <summary>Ids in use: the reserved three plus the vocabulary.</summary>
    public int VocabularySize => FirstWord + Vocabulary.Count;

    /// <summary>Splits text into words by the rules above.</summary>
    public static List<string> Words(string text)
    {
        var words = new List<string>();
        var lower = text.Replace("<br />", " ", StringComparison.OrdinalIgnoreCase).ToLowerInvariant();
        int start = -1;
        for (int i = 0; i <= lower.Length; i++)
        {
            bool word = i < lower.Length && (lower[i] is >= 'a' and <= 'z' or >= '0' and <= '9' or '\'');
            if (word && start < 0) start = i;
            else if (!word && start >= 0)
            {
                words.Add(lower[start..i]);
                start = -1;
            }
        }
        return words;
    }

    /// <summary>Builds the vocabulary from <paramref name="texts"/> (the training split).</summary>
    public static Tokenizer Fit(IEnumerable<string> texts, TokenizerOptions options)
    {
        options.Validate();
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var text in texts)
        foreach (var w in Words(text))
            counts[w] = counts.GetValueOrDefault(w) + 1;
        var vocabulary = counts.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal)
            .Take(options.NumWords - FirstWord).Select(kv => kv.Key).ToList();
        return new Tokenizer(vocabulary, options);
    }

    /// <summary>Rebuilds a tokenizer from a saved vocabulary.</summary>
    public static Tokenizer FromVocabulary(IReadOnlyList<string> vocabulary, TokenizerOptions options) => new(vocabulary, options);

    /// <summary>[start, id(w1), id(w2), ...], unknown words as the out-of-vocabulary id.</summary>
    public List<int> Encode(string text)
    {
        var ids = new List<int> { Start };
        foreach (var w in Words(text)) ids.Add(_ids.TryGetValue(w, out int id) ? id : OutOfVocabulary);
        return ids;
    }

    /// <summary>Encodes and pads or truncates to MaxLen, as Keras' pad_sequences does, into <paramref name="destination"/>.</summary>
    public void EncodePadded(string text, Span<int> destination)
    {
        int maxLen = Options.MaxLen;
        if (destination.Length != maxLen) throw new ArgumentException($"destination holds {destination.Length}, expected {maxLen}");
        var ids = Encode(text);
        var kept = ids.Count <= maxLen ? ids : Options.Truncating == "pre" ? ids.GetRange(ids.Count - maxLen, maxLen) : ids.GetRange(0, maxLen);
        destination.Clear();
        int offset = Options.Padding == "pre" ? maxLen - kept.Count : 0;
        for (int i = 0; i < kept.Count; i++) destination[offset + i] = kept[i];
    }
}
