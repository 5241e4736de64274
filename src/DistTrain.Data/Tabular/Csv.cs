using System.Globalization;
using System.Text;

namespace DistTrain.Data.Tabular;

/// <summary>How to read a delimited text file.</summary>
/// <param name="Delimiter">',' for CSV, '\t' for TSV, or any other single character.</param>
/// <param name="Header">Whether the first line names the columns; null guesses: it does when some column holds a word on the
/// first line and a number on the second.</param>
/// <param name="Label">The label's column: a name from the header, or a 0-based index; null takes the column named "label"
/// (any case), else the last one.</param>
public sealed record CsvOptions(char Delimiter = ',', bool? Header = null, string? Label = null);

/// <summary>
/// A table of numbers read from a delimited file: each row's features, row-major (Rows × FeatureNames.Count), and its label.
/// </summary>
/// <param name="Classes">When the labels were words (class names), the names in class-id order, so that a label of
/// <c>Classes[i]</c> is stored as i; null when the labels were numbers.</param>
public sealed record Table(string Source, IReadOnlyList<string> FeatureNames, string LabelName, float[] Features, float[] Labels, int Rows,
    IReadOnlyList<string>? Classes)
{
    public int Columns => FeatureNames.Count;
}

/// <summary>
/// Reads CSV and TSV files (RFC 4180: quoted fields may hold the delimiter, doubled quotes and line breaks) into a
/// <see cref="Table"/>. Every error names the file, the line and the column, and what was expected there. Hostile files
/// are bounded: the file's size, a line's length and the number of columns are capped, so a file without line breaks
/// or with a million delimiters is refused rather than read into memory.
/// </summary>
public static class Csv
{
    /// <summary>The longest record: 1 Mi characters.</summary>
    public const int MaxRecordChars = 1 << 20;

    /// <summary>The most columns a table may have.</summary>
    public const int MaxColumns = 1 << 16;

    /// <summary>Reads <paramref name="path"/>; <paramref name="classes"/> are the class names a training file gave, which
    /// its test file's word labels must come from (each keeps its id).</summary>
    public static Table Read(string path, CsvOptions? options = null, IReadOnlyList<string>? classes = null)
    {
        if (!File.Exists(path)) throw new DataException($"{path}: no such file");
        long size = new FileInfo(path).Length;
        if (size > DataLimits.MaxTableBytes)
            throw new DataException($"{path} is {size:N0} bytes; a table may be at most {DataLimits.MaxTableBytes:N0}");
        using var reader = new StreamReader(path, Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        return Read(reader, Path.GetFileName(path), options ?? new CsvOptions(), classes);
    }

    public static Table Read(TextReader reader, string source, CsvOptions options, IReadOnlyList<string>? classes = null)
    {
        if (options.Delimiter is '"' or '\r' or '\n')
            throw new ArgumentException($"the delimiter cannot be {Describe(options.Delimiter)}");
        // The first two records decide the header; the rest stream through, converted as they come, so that a large
        // file is held once, as floats, and not as strings.
        using var records = Records(reader, source, options.Delimiter).GetEnumerator();
        var head = new List<(int Line, string[] Fields)>();
        while (head.Count < 2 && records.MoveNext()) head.Add(records.Current);
        if (head.Count == 0) throw new DataException($"{source} holds no rows");

        bool header = options.Header ?? GuessHeader(head);
        var names = header ? head[0].Fields.Select(f => f.Trim()).ToArray()
            : [.. Enumerable.Range(0, head[0].Fields.Length).Select(i => $"column {i + 1}")];
        int columns = names.Length;
        if (columns < 2)
            throw new DataException($"{source} line {head[0].Line} has 1 column; a table needs a label and at least one feature (is the delimiter {Describe(options.Delimiter)} right?)");
        int label = LabelColumn(options.Label, names, header, source);
        int features = columns - 1;
        var x = new List<float>();
        var labelText = new List<string>();
        var lines = new List<int>();
        var interned = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (line, fields) in head.Skip(header ? 1 : 0).Concat(Rest(records)))
        {
            if (fields.Length != columns)
                throw new DataException($"{source} line {line} has {fields.Length} columns; {(header ? "the header" : $"line {head[0].Line}")} has {columns}");
            if ((long)(lines.Count + 1) * columns > DataLimits.MaxTableValues)
                throw new DataException($"{source} has more than {DataLimits.MaxTableValues:N0} values (rows × columns), the most a table may hold");
            for (int c = 0; c < columns; c++)
            {
                if (c != label)
                {
                    x.Add(Number(fields[c], source, line, c, names[c]));
                    continue;
                }
                string text = fields[c].Trim();
                if (text.Length == 0) throw new DataException($"{source} line {line}, column {c + 1} ('{names[c]}'): the label is empty");
                labelText.Add(interned.TryGetValue(text, out var known) ? known : interned[text] = text);
            }
            lines.Add(line);
        }
        if (lines.Count == 0) throw new DataException($"{source} has a header but no rows");
        var (y, classNames) = Labels(labelText, lines, label, names[label], source, classes);
        return new Table(source, [.. names.Where((_, i) => i != label)], names[label], [.. x], y, lines.Count, classNames);
    }

    private static IEnumerable<(int Line, string[] Fields)> Rest(IEnumerator<(int Line, string[] Fields)> records)
    {
        while (records.MoveNext()) yield return records.Current;
    }

    // A feature: a finite number in the invariant culture ("1.5", "-2e-3"), never empty.
    private static float Number(string field, string source, int line, int column, string name)
    {
        string text = field.Trim();
        string where = $"{source} line {line}, column {column + 1} ('{name}')";
        if (text.Length == 0) throw new DataException($"{where} is empty; missing values are not supported (fill or drop them first)");
        if (!float.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out float value))
            throw new DataException($"{where}: '{Clip(text)}' is not a number");
        if (!float.IsFinite(value)) throw new DataException($"{where}: '{Clip(text)}' is not a finite number");
        return value;
    }

    // Numbers stay numbers (class ids, or values to regress). Words are class names: ids in sorted order, or the
    // training file's ids for its test file.
    private static (float[] Labels, IReadOnlyList<string>? Classes) Labels(List<string> text, List<int> lines, int column, string name,
        string source, IReadOnlyList<string>? classes)
    {
        var y = new float[text.Count];
        bool numbers = classes is null && text.All(t => float.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out float v) && float.IsFinite(v));
        if (numbers)
        {
            for (int i = 0; i < y.Length; i++) y[i] = float.Parse(text[i], NumberStyles.Float, CultureInfo.InvariantCulture);
            return (y, null);
        }
        var names = classes ?? [.. text.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];
        var ids = names.Select((n, i) => (n, i)).ToDictionary(p => p.n, p => p.i, StringComparer.Ordinal);
        for (int i = 0; i < y.Length; i++)
        {
            if (!ids.TryGetValue(text[i], out int id))
                throw new DataException($"{source} line {lines[i]}, column {column + 1} ('{name}'): the label '{Clip(text[i])}' is not one of the "
                    + $"{names.Count} classes of the training data ({string.Join(", ", names.Take(10).Select(n => $"'{Clip(n)}'"))}{(names.Count > 10 ? ", ..." : "")})");
            y[i] = id;
        }
        return (y, names);
    }

    private static int LabelColumn(string? label, string[] names, bool header, string source)
    {
        if (label is null)
        {
            int named = Array.FindIndex(names, n => n.Equals("label", StringComparison.OrdinalIgnoreCase));
            return named >= 0 ? named : names.Length - 1;
        }
        int byName = header ? Array.IndexOf(names, label) : -1;
        if (byName >= 0) return byName;
        if (int.TryParse(label, NumberStyles.None, CultureInfo.InvariantCulture, out int index))
            return index < names.Length ? index
                : throw new DataException($"{source}: the label column {index} is past its {names.Length} columns (they count from 0)");
        throw new DataException(header
            ? $"{source} has no column named '{Clip(label)}'; its columns are {string.Join(", ", names.Take(20).Select(n => $"'{Clip(n)}'"))}"
            : $"{source} has no header, so the label column is a number (from 0), not '{Clip(label)}'");
    }

    // A header when some column holds a word on the first line and a number on the second (a one-line file: when
    // every field is a word).
    private static bool GuessHeader(List<(int Line, string[] Fields)> records)
    {
        static bool IsNumber(string s) => float.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out _);
        var first = records[0].Fields;
        if (records.Count == 1) return first.All(f => !IsNumber(f));
        var second = records[1].Fields;
        return Enumerable.Range(0, Math.Min(first.Length, second.Length)).Any(c => !IsNumber(first[c]) && IsNumber(second[c]));
    }

    // The file's records with the line each starts on; blank lines are skipped.
    private static IEnumerable<(int Line, string[] Fields)> Records(TextReader reader, string source, char delimiter)
    {
        var fields = new List<string>();
        var field = new StringBuilder();
        int line = 1, start = 1, chars = 0;
        bool quoted = false, wasQuoted = false, any = false;
        while (true)
        {
            int c = reader.Read();
            if (++chars > MaxRecordChars)
                throw new DataException($"{source} line {start} is longer than {MaxRecordChars:N0} characters (an unclosed quote, or not a text table?)");
            if (quoted)
            {
                if (c < 0) throw new DataException($"{source} line {start}: a quoted field is never closed");
                if (c == '"')
                {
                    if (reader.Peek() == '"')
                    {
                        reader.Read();
                        field.Append('"');
                    }
                    else quoted = false;
                }
                else
                {
                    if (c == '\n') line++;
                    field.Append((char)c);
                }
                continue;
            }
            if (c == '"' && field.ToString().Trim().Length == 0 && !wasQuoted)
            {
                field.Clear();
                quoted = wasQuoted = any = true;
                continue;
            }
            if (c == delimiter)
            {
                End();
                continue;
            }
            if (c is '\n' or '\r' or -1)
            {
                if (c == '\r' && reader.Peek() == '\n') reader.Read();
                if (any || field.Length > 0 || fields.Count > 0)
                {
                    End();
                    if (fields.Count > 1 || fields[0].Trim().Length > 0) yield return (start, fields.ToArray());
                }
                fields.Clear();
                if (c == -1) yield break;
                line++;
                start = line;
                chars = 0;
                any = false;
                continue;
            }
            if (wasQuoted && !char.IsWhiteSpace((char)c))
                throw new DataException($"{source} line {line}, column {fields.Count + 1}: '{(char)c}' after a closing quote (a quote inside a quoted field is written \"\")");
            field.Append((char)c);
            any = true;
        }

        void End()
        {
            if (fields.Count >= MaxColumns) throw new DataException($"{source} line {start} has more than {MaxColumns:N0} columns");
            fields.Add(field.ToString());
            field.Clear();
            wasQuoted = false;
        }
    }

    private static string Describe(char c) => c switch { '\t' => "a tab", ' ' => "a space", _ => $"'{c}'" };

    private static string Clip(string text) => text.Length <= 40 ? text : text[..37] + "...";
}
