using System.Text.Json.Nodes;

namespace DistTrain.Engine.Spec;

/// <summary>Regularizers in a spec: "l2", "l1", or {"l1": a, "l2": b}.</summary>
internal static class RegularizerSpec
{
    public static JsonObject Write(Regularizer r) => new() { ["l1"] = r.L1, ["l2"] = r.L2 };

    public static Regularizer? Read(SpecReader parent, string key)
    {
        var r = parent.OptionalObject(key);
        if (r is null) return null;
        if (r.Has("type"))
        {
            string type = r.String("type", null, "l1", "l2", "l1_l2");
            var result = type switch
            {
                "l1" => new Regularizer(r.Float("l1", 0.01f, 0), 0),
                "l2" => new Regularizer(0, r.Float("l2", 0.01f, 0)),
                _ => new Regularizer(r.Float("l1", 0.01f, 0), r.Float("l2", 0.01f, 0)),
            };
            r.EnsureAllUsed();
            return result;
        }
        var reg = new Regularizer(r.Float("l1", 0f, 0), r.Float("l2", 0f, 0));
        r.EnsureAllUsed();
        return reg;
    }
}
