using System.Text.Json;
using System.Text.Json.Nodes;

namespace DistTrain.Engine.Spec;

/// <summary>
/// Reads one object of a JSON spec with errors that name the field's path ("layers[2].filters") and what was
/// expected. It remembers which keys were read so that <see cref="EnsureAllUsed"/> can reject typos.
/// </summary>
public sealed class SpecReader
{
    private readonly JsonObject _obj;
    private readonly HashSet<string> _used = [];

    public SpecReader(JsonObject obj, string path)
    {
        _obj = obj;
        Path = path;
    }

    /// <summary>The object's path in the spec, e.g. "layers[2]".</summary>
    public string Path { get; }

    private string Field(string key) => Path.Length == 0 ? key : $"{Path}.{key}";

    private JsonNode? Get(string key)
    {
        _used.Add(key);
        return _obj.TryGetPropertyValue(key, out var v) ? v : null;
    }

    /// <summary>True when the key is present and not null.</summary>
    public bool Has(string key) => _obj.TryGetPropertyValue(key, out var v) && v is not null;

    public int Int(string key, int? fallback = null, int min = int.MinValue, int max = int.MaxValue)
    {
        var node = Get(key);
        if (node is null) return fallback ?? throw Error(key, "is required (an integer)");
        if (node is not JsonValue v || !TryNumber(v, out double d) || d != Math.Floor(d))
            throw Error(key, $"must be an integer, got {node.ToJsonString()}");
        if (d < min || d > max) throw Error(key, $"must be between {min} and {max}, got {d}");
        return (int)d;
    }

    /// <summary>
    /// A size (units, filters, vocabulary...): an integer from 1 to <paramref name="limit"/>. A value over the limit is
    /// refused naming the layer, the field, the value and the bound, e.g. "layers[2] (dense): units 10000000 is above
    /// the limit of 65,536".
    /// </summary>
    public int Size(string key, int limit, int? fallback = null)
    {
        var node = Get(key);
        if (node is null) return fallback ?? throw Error(key, $"is required (an integer from 1 to {limit})");
        if (node is not JsonValue v || !TryNumber(v, out double d) || d != Math.Floor(d))
            throw Error(key, $"must be an integer, got {node.ToJsonString()}");
        if (d < 1) throw Error(key, $"must be between 1 and {limit}, got {d}");
        if (d > limit) throw LimitError(key, d, limit);
        return (int)d;
    }

    /// <summary>"layers[2] (dense): units 10000000 is above the limit of 65,536".</summary>
    public SpecException LimitError(string key, double value, long limit) =>
        new($"{Label}: {key} {value:0} is above the limit of {limit:N0}");

    /// <summary>The object's path and, for a layer, its type: "layers[2] (dense)".</summary>
    public string Label
    {
        get
        {
            string path = Path.Length == 0 ? "the spec" : Path;
            return _obj.TryGetPropertyValue("type", out var t) && t is JsonValue v && v.TryGetValue(out string? type) ? $"{path} ({type})" : path;
        }
    }

    public float Float(string key, float? fallback = null, double min = double.NegativeInfinity, double max = double.PositiveInfinity)
    {
        var node = Get(key);
        if (node is null) return fallback ?? throw Error(key, "is required (a number)");
        if (node is not JsonValue v || !TryNumber(v, out double d) || !double.IsFinite(d))
            throw Error(key, $"must be a number, got {node.ToJsonString()}");
        if (d < min || d > max) throw Error(key, $"must be between {min} and {max}, got {d}");
        return (float)d;
    }

    public bool Bool(string key, bool fallback)
    {
        var node = Get(key);
        if (node is null) return fallback;
        if (node is not JsonValue v || !v.TryGetValue(out bool b)) throw Error(key, $"must be true or false, got {node.ToJsonString()}");
        return b;
    }

    public string? OptionalString(string key)
    {
        var node = Get(key);
        if (node is null) return null;
        if (node is not JsonValue v || !v.TryGetValue(out string? s)) throw Error(key, $"must be a string, got {node.ToJsonString()}");
        return s;
    }

    public string String(string key, string? fallback = null, params string[] allowed)
    {
        string s = OptionalString(key) ?? fallback ?? throw Error(key, "is required (a string)");
        if (allowed.Length > 0 && !allowed.Contains(s))
            throw Error(key, $"must be one of {string.Join(", ", allowed)}, got '{s}'");
        return s;
    }

    /// <summary>An integer pair written as n (meaning n, n) or [a, b], as Keras accepts kernel sizes and strides.</summary>
    /// <remarks>Either number over <paramref name="limit"/> is refused as <see cref="LimitError"/> words it.</remarks>
    public (int, int) Pair(string key, (int, int)? fallback = null, int min = 1, int limit = int.MaxValue)
    {
        var node = Get(key);
        if (node is null) return fallback ?? throw Error(key, "is required (an integer or a pair [a, b])");
        (double x, double y) = (0, 0);
        bool ok = node is JsonValue v && TryNumber(v, out x) && (y = x) == x
            || node is JsonArray { Count: 2 } a && a[0] is JsonValue a0 && TryNumber(a0, out x) && a[1] is JsonValue a1 && TryNumber(a1, out y);
        if (!ok || x != Math.Floor(x) || y != Math.Floor(y) || x < min || y < min)
            throw Error(key, $"must be an integer ≥ {min} or a pair [a, b] of them, got {node.ToJsonString()}");
        if (Math.Max(x, y) > limit) throw LimitError(key, Math.Max(x, y), limit);
        return ((int)x, (int)y);
    }

    public int[] IntArray(string key, int min = 1)
    {
        var node = Get(key);
        if (node is not JsonArray a || a.Count == 0)
            throw Error(key, $"must be a non-empty array of integers, got {node?.ToJsonString() ?? "nothing"}");
        var result = new int[a.Count];
        for (int i = 0; i < a.Count; i++)
        {
            if (a[i] is not JsonValue v || !TryNumber(v, out double d) || d != Math.Floor(d) || d < min)
                throw Error(key, $"must hold integers ≥ {min}, got {node.ToJsonString()}");
            result[i] = (int)d;
        }
        return result;
    }

    /// <summary>An array of strings.</summary>
    public List<string> StringArray(string key)
    {
        var node = Get(key);
        if (node is null) return [];
        if (node is not JsonArray a || a.Any(e => e is not JsonValue v || !v.TryGetValue(out string? _)))
            throw Error(key, $"must be an array of names, got {node.ToJsonString()}");
        return a.Select(e => e!.GetValue<string>()).ToList();
    }

    /// <summary>The elements of an array of objects, each with its own reader.</summary>
    public List<SpecReader> Objects(string key)
    {
        var node = Get(key);
        if (node is not JsonArray a) throw Error(key, $"must be an array of objects, got {node?.ToJsonString() ?? "nothing"}");
        var list = new List<SpecReader>();
        for (int i = 0; i < a.Count; i++)
        {
            if (a[i] is not JsonObject o) throw new SpecException($"{Field(key)}[{i}] must be an object, got {a[i]?.ToJsonString() ?? "null"}");
            list.Add(new SpecReader(o, $"{Field(key)}[{i}]"));
        }
        return list;
    }

    /// <summary>A nested object, or a string shorthand for {"type": s} (as "adam" for an optimizer).</summary>
    public SpecReader? OptionalObject(string key)
    {
        var node = Get(key);
        return node switch
        {
            null => null,
            JsonObject o => new SpecReader(o, Field(key)),
            JsonValue v when v.TryGetValue(out string? s) => new SpecReader(new JsonObject { ["type"] = s }, Field(key)),
            _ => throw Error(key, $"must be an object or a name, got {node.ToJsonString()}"),
        };
    }

    /// <summary>
    /// This layer object and the layers nested in it ("layers" of a residual block, "layer" of a bidirectional
    /// wrapper), counted in the JSON before any is built.
    /// </summary>
    public int CountLayers() => CountLayers(_obj);

    private static int CountLayers(JsonObject o) => 1
        + (o.TryGetPropertyValue("layers", out var body) && body is JsonArray a ? a.OfType<JsonObject>().Sum(CountLayers) : 0)
        + (o.TryGetPropertyValue("layer", out var inner) && inner is JsonObject i ? CountLayers(i) : 0);

    // Any JSON number, whether the node was parsed from text or built in code from an int or a float.
    private static bool TryNumber(JsonValue v, out double d)
    {
        d = 0;
        return v.GetValueKind() == JsonValueKind.Number &&
            double.TryParse(v.ToJsonString(), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out d);
    }

    /// <summary>Rejects keys that nothing read, which are almost always typos.</summary>
    public void EnsureAllUsed()
    {
        foreach (var (key, _) in _obj)
            if (!_used.Contains(key))
                throw new SpecException($"{Field(key)} is not a known setting here");
    }

    public SpecException Error(string key, string problem) => new($"{Field(key)} {problem}");

    /// <summary>Parses spec text into its root object, turning JSON syntax errors into a one-line message.</summary>
    public static JsonObject ParseRoot(string json, string source)
    {
        try
        {
            return JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip }) as JsonObject
                ?? throw new SpecException($"{source}: the spec must be a JSON object");
        }
        catch (JsonException e)
        {
            throw new SpecException($"{source}: not valid JSON (line {e.LineNumber + 1}, byte {e.BytePositionInLine}): {FirstSentence(e.Message)}");
        }
    }

    private static string FirstSentence(string message)
    {
        int cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        return cut > 0 ? message[..cut] : message;
    }
}
