using System.Globalization;
using System.Text;

namespace DistTrain.Data.Arrays;

/// <summary>
/// The dict a .npy header holds, e.g. <c>{'descr': '&lt;f4', 'fortran_order': False, 'shape': (60000, 28, 28), }</c>:
/// the element type, whether the data is column-major, and the dimensions.
/// </summary>
/// <param name="Shape">Each dimension, 0 or more; empty for a 0-d array (one element).</param>
internal sealed record NpyHeader(string Descr, bool FortranOrder, long[] Shape)
{
    /// <summary>What a header looks like, for error messages.</summary>
    public const string Example = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";

    /// <summary>
    /// Parses the header text. numpy evaluates it as a Python literal (ast.literal_eval); this accepts exactly the
    /// subset numpy and the other writers produce: one dict with the keys 'descr', 'fortran_order' and 'shape' in any
    /// order, quoted strings, True/False, a tuple of whole numbers (Python 2's 3L included, as numpy still reads it),
    /// an optional trailing comma, and whitespace, which is how numpy pads the header to 64 bytes. Anything else is
    /// refused, naming the character where it went wrong. It never recurses, so no header can exhaust the stack.
    /// </summary>
    /// <param name="source">Names the file in errors.</param>
    public static NpyHeader Parse(string text, string source) => new Parser(text, source).Dict();

    /// <summary>A shape as Python writes it: (), (5,), (3, 4).</summary>
    public static string ShapeText(IReadOnlyList<long> shape) =>
        shape.Count == 1 ? $"({shape[0]},)" : "(" + string.Join(", ", shape) + ")";

    // A cursor over the header text. Each method consumes one piece of the grammar or throws naming where it failed.
    private sealed class Parser(string text, string source)
    {
        private int _at;

        private int Peek => _at < text.Length ? text[_at] : -1;

        public NpyHeader Dict()
        {
            SkipSpace();
            Expect('{', "the header to open with '{'");
            string? descr = null;
            bool? fortranOrder = null;
            long[]? shape = null;
            while (true)
            {
                SkipSpace();
                if (Peek == '}') break;
                if (Peek is not ('\'' or '"')) throw Fail("expected a quoted key or '}'");
                string key = QuotedString();
                SkipSpace();
                Expect(':', $"':' after the key '{DataText.Show(key)}'");
                SkipSpace();
                switch (key)
                {
                    case "descr" when descr is null:
                        descr = Descr();
                        break;
                    case "fortran_order" when fortranOrder is null:
                        fortranOrder = Bool();
                        break;
                    case "shape" when shape is null:
                        shape = Shape();
                        break;
                    case "descr" or "fortran_order" or "shape":
                        throw Fail($"the key '{key}' appears twice");
                    default:
                        throw Fail($"unknown key '{DataText.Show(key)}'; a .npy header holds exactly 'descr', 'fortran_order' and 'shape'");
                }
                SkipSpace();
                if (Peek == ',') { _at++; continue; }
                if (Peek != '}') throw Fail("expected ',' or '}' after a value");
                break;
            }
            _at++; // the '}'
            SkipSpace();
            if (_at < text.Length) throw Fail("unexpected text after the dict's closing '}'");
            if (descr is null) throw Missing("descr");
            if (fortranOrder is null) throw Missing("fortran_order");
            if (shape is null) throw Missing("shape");
            return new NpyHeader(descr, fortranOrder.Value, shape);
        }

        // A list here is a structured dtype, [('a', '<f4'), ('b', '<i4')]; it is refused before being parsed.
        private string Descr() => Peek switch
        {
            '[' => throw new DataException($"{source}: the array has a structured dtype (a list of named fields); this reader takes plain numeric arrays: " +
                "save each field as an array of its own, e.g. np.savez(f, a=arr['a'], b=arr['b'])"),
            '\'' or '"' => QuotedString(),
            _ => throw Fail("'descr' must be a quoted dtype such as '<f4'"),
        };

        private bool Bool()
        {
            int start = _at;
            while (_at < text.Length && char.IsAsciiLetterOrDigit(text[_at])) _at++;
            return text[start.._at] switch
            {
                "True" => true,
                "False" => false,
                var word => throw Fail($"'fortran_order' is '{DataText.Show(word)}'; expected True or False", start),
            };
        }

        private long[] Shape()
        {
            Expect('(', "'shape' to be a tuple such as (2, 3), (5,) or ()");
            var dims = new List<long>();
            SkipSpace();
            if (Peek == ')') { _at++; return []; }
            while (true)
            {
                SkipSpace();
                dims.Add(Dimension(dims.Count));
                if (dims.Count > DataLimits.MaxArrayDimensions)
                    throw new DataException($"{source}: the shape has more than {DataLimits.MaxArrayDimensions} dimensions; at most {DataLimits.MaxArrayDimensions} are supported");
                SkipSpace();
                if (Peek == ',')
                {
                    _at++;
                    SkipSpace();
                    if (Peek == ')') break;
                    continue;
                }
                if (Peek != ')') throw Fail("expected ',' or ')' in the shape");
                // In Python (5) is the number 5, not a tuple, and numpy refuses it.
                if (dims.Count == 1) throw Fail($"the shape ({dims[0]}) is not a tuple; a one-dimensional shape is written ({dims[0]},)");
                break;
            }
            _at++; // the ')'
            return [.. dims];
        }

        // A whole number: digits, an optional '-' so that a negative dimension gets its own message, an optional L.
        private long Dimension(int index)
        {
            int start = _at;
            bool negative = Peek == '-';
            if (negative) _at++;
            int digits = _at;
            while (_at < text.Length && char.IsAsciiDigit(text[_at])) _at++;
            if (_at == digits) throw Fail($"expected a whole number for dimension {index} of the shape", start);
            int end = _at;
            if (Peek == 'L') _at++;
            // 18 digits always fit a long; a longer number is far beyond any limit, and is refused before it can overflow.
            if (end - digits > 18)
                throw new DataException($"{source}: dimension {index} of the shape is {DataText.Show(text[start..end])}, beyond any array this reader takes " +
                    $"(at most {DataLimits.MaxArrayElements:N0} elements)");
            long value = long.Parse(text.AsSpan(digits, end - digits), NumberStyles.None, CultureInfo.InvariantCulture);
            if (negative && value != 0)
                throw new DataException($"{source}: dimension {index} of the shape is -{value}; dimensions must be 0 or more");
            return value;
        }

        // A Python string literal without escapes: numpy's dtype strings never need one.
        private string QuotedString()
        {
            char quote = text[_at];
            int start = ++_at;
            while (_at < text.Length && text[_at] != quote)
            {
                if (text[_at] == '\n') throw Fail("a quoted string is not closed on its line", start - 1);
                if (text[_at] == '\\') throw Fail("a backslash inside a quoted string, which no numpy dtype needs");
                _at++;
            }
            if (_at == text.Length) throw Fail("a quoted string is not closed", start - 1);
            return text[start.._at++];
        }

        private void SkipSpace()
        {
            while (_at < text.Length && text[_at] is ' ' or '\t' or '\n' or '\r' or '\f') _at++;
        }

        private void Expect(char c, string what)
        {
            if (Peek != c) throw Fail($"expected {what}");
            _at++;
        }

        private DataException Missing(string key) =>
            new($"{source}: the .npy header has no '{key}'; a header reads like {Example}");

        private DataException Fail(string problem, int? at = null)
        {
            int where = Math.Min(at ?? _at, text.Length);
            string near = where == text.Length ? "the end" : $"'{DataText.Show(text[where..], 24)}'";
            return new DataException($"{source}: the .npy header is not the dict numpy writes: {problem} (at character {where}, {near}); " +
                $"a header reads like {Example}. The header: {DataText.Show(text.TrimEnd(), 120)}");
        }
    }
}
