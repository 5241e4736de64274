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

    /// <summary>How much of a field a message shows.</summary>
    internal const int ShownChars = 40;

    /// <summary>Reads <paramref name="path"/>; <paramref name="classes"/> are the class names a training file gave, which
    /// its test file's word labels must come from (each keeps its id).</summary>
    public static Table Read(string path, CsvOptions? options = null, IReadOnlyList<string>? classes = null)
    {
        if (!File.Exists(path)) throw new DataException($"{path}: no such file");
        long size = new FileInfo(path).Length;
        if (size > DataLimits.MaxTableBytes)
            throw new DataException($"{path} is {size:N0} bytes; a table may be at most {DataLimits.MaxTableBytes:N0}");
        try
        {
            using var reader = new StreamReader(path, Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
            return Read(reader, Path.GetFileName(path), options ?? new CsvOptions(), classes);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DataException($"{path}: cannot read ({e.Message})");
        }
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
        int label = LabelIndex(options.Label, names, header, source);
        var x = new List<float>();
        var labels = new LabelColumn(source, label, names[label], classes);
        int rows = 0;
        foreach (var (line, fields) in head.Skip(header ? 1 : 0).Concat(Rest(records)))
        {
            if (fields.Length != columns)
                throw new DataException($"{source} line {line} has {fields.Length} columns; {(header ? "the header" : $"line {head[0].Line}")} has {columns}");
            if ((long)(rows + 1) * columns > DataLimits.MaxTableValues)
                throw new DataException($"{source} has more than {DataLimits.MaxTableValues:N0} values (rows × columns), the most a table may hold");
            for (int c = 0; c < columns; c++)
            {
                if (c == label) labels.Add(fields[c].Trim(), line);
                else x.Add(Number(fields[c], source, line, c, names[c]));
            }
            rows++;
        }
        if (rows == 0) throw new DataException($"{source} has a header but no rows");
        var (y, classNames) = labels.Finish();
        return new Table(source, [.. names.Where((_, i) => i != label)], names[label], [.. x], y, rows, classNames);
    }

    private static IEnumerable<(int Line, string[] Fields)> Rest(IEnumerator<(int Line, string[] Fields)> records)
    {
        while (records.MoveNext()) yield return records.Current;
    }

    // A feature: a finite number in the invariant culture ("1.5", "-2e-3"), never empty.
    private static float Number(string field, string source, int line, int column, string name)
    {
        string text = field.Trim();
        string Where() => $"{source} line {line}, column {column + 1} ('{DataText.Show(name, ShownChars)}')";
        if (text.Length == 0) throw new DataException($"{Where()} is empty; missing values are not supported (fill or drop them first)");
        if (!TryNumber(text, out float value))
            throw new DataException($"{Where()}: '{DataText.Show(text, ShownChars)}' is not a number");
        if (!float.IsFinite(value)) throw new DataException($"{Where()}: '{DataText.Show(text, ShownChars)}' is not a finite number");
        return value;
    }

    private static int LabelIndex(string? label, string[] names, bool header, string source)
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
            ? $"{source} has no column named '{DataText.Show(label, ShownChars)}'; its columns are {string.Join(", ", names.Take(20).Select(n => $"'{DataText.Show(n, ShownChars)}'"))}"
            : $"{source} has no header, so the label column is a number (from 0), not '{DataText.Show(label, ShownChars)}'");
    }

    // A header when some column holds a word on the first line and a number on the second (an empty field is neither:
    // a missing value), or when the first line numbers the columns 0, 1, 2... as pandas writes an unnamed frame's header;
    // a one-line file has one when every field is a word.
    private static bool GuessHeader(List<(int Line, string[] Fields)> records)
    {
        static bool IsNumber(string s) => TryNumber(s.Trim(), out _);
        static bool IsWord(string s) => s.Trim().Length > 0 && !IsNumber(s);
        var first = records[0].Fields;
        if (first.Length > 1 && first.Select((f, i) => f.Trim() == i.ToString(CultureInfo.InvariantCulture)).All(b => b)) return true;
        if (records.Count == 1) return first.All(IsWord);
        var second = records[1].Fields;
        return Enumerable.Range(0, Math.Min(first.Length, second.Length)).Any(c => IsWord(first[c]) && IsNumber(second[c]));
    }

    // The file's records with the line each starts on; blank lines are skipped.
    private static IEnumerable<(int Line, string[] Fields)> Records(TextReader reader, string source, char delimiter)
    {
        var fields = new List<string>();
        var field = new StringBuilder();
        int line = 1, start = 1, chars = 0;
        // hasText: the field holds more than spaces, so a quote in it is a character (tracked, not looked up: a line of
        // a million quotes must not copy its field a million times).
        bool quoted = false, wasQuoted = false, any = false, hasText = false;
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
                    if (c == '\n' || (c == '\r' && reader.Peek() != '\n')) line++;
                    field.Append((char)c);
                }
                continue;
            }
            if (c == '"' && !hasText && !wasQuoted)
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
                throw new DataException($"{source} line {line}, column {fields.Count + 1}: '{DataText.Show(((char)c).ToString())}' after a closing quote (a quote inside a quoted field is written \"\")");
            field.Append((char)c);
            any = true;
            if (c != ' ' && c != '\t') hasText = true;
        }

        void End()
        {
            if (fields.Count >= MaxColumns) throw new DataException($"{source} line {start} has more than {MaxColumns:N0} columns");
            fields.Add(field.ToString());
            field.Clear();
            wasQuoted = hasText = false;
        }
    }

    /// <summary>A number as a table writes it: invariant culture, "1.5", "-2e-3" (also "NaN" and "Infinity", which callers refuse where they must).</summary>
    internal static bool TryNumber(string text, out float value) => float.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value);

    private static string Describe(char c) => c switch { '\t' => "a tab", ' ' => "a space", _ => $"'{c}'" };
}
