using System.Globalization;
using System.Text;

namespace DistTrain.Data;

/// <summary>What a data file (or a caller about data) said, for an error message: every reader, and the coordinator's
/// dataset service, shows untrusted text through here.</summary>
public static class DataText
{
    /// <summary>Text from a file, made safe to print: control and other invisible characters escaped, cut at <paramref name="max"/>.</summary>
    public static string Show(string text, int max = 60)
    {
        var sb = new StringBuilder();
        foreach (char c in text.Length > max ? text[..max] : text)
        {
            var category = char.GetUnicodeCategory(c);
            if (category is UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator
                or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned or UnicodeCategory.Surrogate)
                sb.Append(c <= 0xff ? $"\\x{(int)c:x2}" : $"\\u{(int)c:x4}");
            else
                sb.Append(c);
        }
        return text.Length > max ? sb.Append('…').ToString() : sb.ToString();
    }
}
