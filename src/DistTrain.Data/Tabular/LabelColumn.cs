namespace DistTrain.Data.Tabular;

/// <summary>
/// A table's labels as its rows arrive. Numbers stay numbers (class ids, or values to regress); words are class names,
/// numbered in sorted order once all are seen, or by the training file's classes for its test file. The kind is the
/// first row's: a word after numbers is refused naming its line. At most <see cref="MaxClasses"/> names.
/// </summary>
internal sealed class LabelColumn(string source, int column, string name, IReadOnlyList<string>? classes)
{
    public const int MaxClasses = 1 << 16;

    private readonly List<float> _values = [];
    private readonly Dictionary<string, int> _ids = classes?.Select((n, i) => (n, i)).ToDictionary(p => p.n, p => p.i, StringComparer.Ordinal)
        ?? new(StringComparer.Ordinal);
    private readonly List<string> _names = [.. classes ?? []];
    private bool? _words = classes is null ? null : true;

    public void Add(string text, int line)
    {
        string Where() => $"{source} line {line}, column {column + 1} ('{name}')";
        if (text.Length == 0) throw new DataException($"{Where()}: the label is empty");
        bool number = Csv.TryNumber(text, out float value) && float.IsFinite(value);
        _words ??= !number;
        if (_words == false)
        {
            if (!number) throw new DataException($"{Where()}: the label '{DataText.Show(text, Csv.ShownChars)}' is a word, but the labels above it are numbers");
            _values.Add(value);
            return;
        }
        if (!_ids.TryGetValue(text, out int id))
        {
            if (classes is not null)
                throw new DataException($"{Where()}: the label '{DataText.Show(text, Csv.ShownChars)}' is not one of the {classes.Count} classes of the training data "
                    + $"({string.Join(", ", classes.Take(10).Select(n => $"'{DataText.Show(n, Csv.ShownChars)}'"))}{(classes.Count > 10 ? ", ..." : "")})");
            if (_names.Count >= MaxClasses) throw new DataException($"{Where()}: more than {MaxClasses:N0} different word labels; a label column of classes holds fewer");
            _ids[text] = id = _names.Count;
            _names.Add(text);
        }
        _values.Add(id);
    }

    /// <summary>The labels, and the class names in id order when they were words (ids renumbered to sorted order, unless
    /// the training file's classes gave them).</summary>
    public (float[] Labels, IReadOnlyList<string>? Classes) Finish()
    {
        var y = _values.ToArray();
        if (_words != true) return (y, null);
        if (classes is not null) return (y, classes);
        var sorted = _names.Order(StringComparer.Ordinal).ToList();
        var renumber = _names.Select(n => (float)sorted.BinarySearch(n, StringComparer.Ordinal)).ToArray();
        for (int i = 0; i < y.Length; i++) y[i] = renumber[(int)y[i]];
        return (y, sorted);
    }

}
