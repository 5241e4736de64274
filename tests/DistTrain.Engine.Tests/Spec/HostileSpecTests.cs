using DistTrain.Engine.Spec;

namespace DistTrain.Engine.Tests.Spec;

/// <summary>
/// Specs a hostile or careless job may carry. Each must be refused by <see cref="ModelSpec.ForData"/>, the coordinator's
/// entry point, with a <see cref="SpecException"/> naming the field at fault: never another exception, never a hang,
/// never the gigabytes it asks for.
/// </summary>
public class HostileSpecTests
{
    private const string Tail = """, "optimizer": "adam", "loss": "mse" }""";

    // One layer on a given input shape, with the rest of a valid spec around it.
    private static string One(string input, string layer) => $$"""{ "input_shape": {{input}}, "layers": [ {{layer}} ]{{Tail}}""";

    private static string Nested(int depth) => new string('[', depth) + new string(']', depth);

    public static TheoryData<string, string> Cases => new()
    {
        // Sizes over their bound name the layer, its type, the field, the value and the bound.
        { One("[4]", """{ "type": "dense", "units": 10000000 }"""), "layers[0] (dense): units 10000000 is above the limit of 65,536" },
        { One("[8, 4]", """{ "type": "lstm", "units": 100000 }"""), "layers[0] (lstm): units 100000 is above the limit of 65,536" },
        { One("[8, 4]", """{ "type": "gru", "units": 70000 }"""), "layers[0] (gru): units 70000 is above the limit of 65,536" },
        { One("[8, 4]", """{ "type": "simple_rnn", "units": 2147483647 }"""), "layers[0] (simple_rnn): units 2147483647 is above the limit of 65,536" },
        { One("[8, 4]", """{ "type": "bidirectional", "layer": { "type": "lstm", "units": 1000000 } }"""), "layers[0].layer (lstm): units 1000000 is above the limit" },
        { One("[8, 8, 1]", """{ "type": "conv2d", "filters": 5000, "kernel_size": 3 }"""), "layers[0] (conv2d): filters 5000 is above the limit of 4,096" },
        { One("[8, 8, 1]", """{ "type": "conv2d", "filters": 4, "kernel_size": [3, 65] }"""), "layers[0] (conv2d): kernel_size 65 is above the limit of 64" },
        { One("[8, 8, 1]", """{ "type": "conv2d", "filters": 4, "kernel_size": 3, "strides": 1000000000 }"""), "layers[0] (conv2d): strides 1000000000 is above the limit of 64" },
        { One("[8, 8, 1]", """{ "type": "max_pooling2d", "pool_size": 100000 }"""), "layers[0] (max_pooling2d): pool_size 100000 is above the limit of 64" },
        { One("[8]", """{ "type": "embedding", "input_dim": 1000001, "output_dim": 8 }"""), "layers[0] (embedding): input_dim 1000001 is above the limit of 1,000,000" },
        { One("[8]", """{ "type": "embedding", "input_dim": 100, "output_dim": 5000 }"""), "layers[0] (embedding): output_dim 5000 is above the limit of 4,096" },
        { One("[4]", """{ "type": "dense", "units": 1e300 }"""), "units 1" }, // a float far past int, not an overflow
        // Negative, zero and non-integer sizes.
        { One("[4]", """{ "type": "dense", "units": 0 }"""), "layers[0].units must be between 1 and 65536, got 0" },
        { One("[4]", """{ "type": "dense", "units": -5 }"""), "layers[0].units must be between 1 and 65536, got -5" },
        { One("[4]", """{ "type": "dense", "units": 2.5 }"""), "layers[0].units must be an integer" },
        { One("[8, 8, 1]", """{ "type": "conv2d", "filters": -1, "kernel_size": 3 }"""), "layers[0].filters must be between 1 and 4096" },
        { One("[8, 8, 1]", """{ "type": "conv2d", "filters": 4, "kernel_size": 0 }"""), "layers[0].kernel_size must be an integer ≥ 1" },
        { One("[8, 8, 1]", """{ "type": "conv2d", "filters": 4, "kernel_size": [3, -3] }"""), "layers[0].kernel_size must be an integer ≥ 1" },
        { One("[8]", """{ "type": "embedding", "input_dim": 0, "output_dim": 8 }"""), "layers[0].input_dim must be between 1" },
        { One("[0]", """{ "type": "dense", "units": 1 }"""), "input_shape must hold integers ≥ 1" },
        { One("[-4, 2]", """{ "type": "dense", "units": 1 }"""), "input_shape must hold integers ≥ 1" },
        // Wrong value types.
        { One("[4]", """{ "type": "dense", "units": "lots" }"""), "layers[0].units must be an integer, got \"lots\"" },
        { One("[4]", """{ "type": "dense", "units": [1, 2] }"""), "layers[0].units must be an integer" },
        { One("[4]", """{ "type": "dense", "units": 3, "use_bias": "yes" }"""), "layers[0].use_bias must be true or false" },
        { One("[4]", """{ "type": 7, "units": 3 }"""), "layers[0].type must be a string" },
        { One("\"big\"", """{ "type": "dense", "units": 3 }"""), "input_shape must be a non-empty array of integers" },
        { """{ "input_shape": [4], "layers": { "type": "dense" }, "optimizer": "adam", "loss": "mse" }""", "layers must be an array of objects" },
        { """{ "input_shape": [4], "layers": [ 5 ], "optimizer": "adam", "loss": "mse" }""", "layers[0] must be an object" },
        // Unknown names.
        { One("[4]", """{ "type": "transformer", "units": 3 }"""), "'transformer' is not a layer type" },
        { One("[4]", """{ "type": "dense", "units": 3, "kernel_initializer": "magic" }"""), "unknown initializer 'magic'" },
        { One("[4]", """{ "type": "dense", "units": 3, "activation": "swishy" }"""), "swishy" },
        { """{ "input_shape": [4], "layers": [ { "type": "dense", "units": 3 } ], "optimizer": "adam", "loss": "hinge" }""", "loss: unknown loss 'hinge'" },
        // Shapes whose totals are over a bound, refused before anything is allocated.
        { One("[4096, 4096, 4]", """{ "type": "flatten" }"""), "input_shape (None, 4096, 4096, 4) has 67,108,864 elements per sample, above the limit of 16,777,216" },
        { One("[2147483647, 2147483647, 2147483647]", """{ "type": "flatten" }"""), "input_shape (None, 2147483647, 2147483647, 2147483647) has" },
        { One("[65536]", """{ "type": "dense", "units": 65536 }"""), "layers[0]: weight dense/kernel of shape (65536, 65536) has 4,294,967,296 values, above the limit of 200,000,000 parameters" },
        { One("[20000]", """{ "type": "dense", "units": 20000 }"""), "weight dense/kernel of shape (20000, 20000) has 400,000,000 values" },
        { $$"""{ "input_shape": [10000], "layers": [ {{string.Join(", ", Enumerable.Repeat("""{ "type": "dense", "units": 10000 }""", 3))}} ]{{Tail}}""",
            "the model has 300,030,000 parameters, above the limit of 200,000,000; the largest layer, layers[0] (dense), has 100,010,000" },
        { One("[8]", """{ "type": "embedding", "input_dim": 1000000, "output_dim": 4096 }"""), "weight embedding/embeddings of shape (1000000, 4096) has 4,096,000,000 values, above the limit of 200,000,000" },
        { One("[512, 512, 3]", """{ "type": "conv2d", "filters": 4096, "kernel_size": 3 }"""), "layers[0] (conv2d): output (None, 510, 510, 4096) has 1,065,369,600 elements per sample, above the limit of 16,777,216" },
        { One("[20000]", """{ "type": "embedding", "input_dim": 100, "output_dim": 8 }"""), "layers[0] (embedding): sequence length 20000 is above the limit of 10,000" },
        { One("[20000, 4]", """{ "type": "lstm", "units": 4 }"""), "layers[0] (lstm): sequence length 20000 is above the limit of 10,000" },
        { $$"""{ "input_shape": [4], "layers": [ {{string.Join(", ", Enumerable.Repeat("""{ "type": "dropout", "rate": 0.1 }""", 300))}} ]{{Tail}}""",
            "layers hold 300 layers (nested ones included), above the limit of 256" },
        { One("[4]", $$"""{ "type": "residual", "layers": [ {{string.Join(", ", Enumerable.Repeat("""{ "type": "dropout", "rate": 0.1 }""", 256))}} ] }"""),
            "layers hold 257 layers (nested ones included), above the limit of 256" },
        // Malformed and oversized text.
        { """{ "input_shape": [4], "layers": [ { "type": "dense", "units": 3 """, "not valid JSON" },
        { "{ \"input_shape\": " + Nested(10_000) + Tail, "not valid JSON" },
        { """{ "input_shape": [4], "layers": [ { "type": "dense", "units": 3 } ], "optimizer": 5, "loss": "mse" }""", "optimizer must be an object or a name, got 5" },
        { "{ \"name\": \"" + new string('x', 1_100_000) + "\"" + Tail, "characters, above the limit of 1,048,576" },
        { """{ "input_shape": [4], "layers": [ { "type": "dense", "units": 3 } ], "optimizer": "adam", "loss": "mse", "epochs": 10 }""", "epochs is not a known setting" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void A_hostile_spec_is_refused_naming_the_field(string json, string expected)
    {
        long before = GC.GetTotalAllocatedBytes(precise: false);
        var e = Assert.Throws<SpecException>(() => ModelSpec.ForData(json, 1, null));
        Assert.StartsWith("job model: ", e.Message);
        Assert.Contains(expected, e.Message);
        // Nothing the spec asked for was allocated: the refusal costs at most its own text and parse tree.
        Assert.True(GC.GetTotalAllocatedBytes(precise: false) - before < 256L << 20, "the refusal allocated more than 256 MiB");
    }

    [Fact]
    public void A_preset_that_follows_a_hostile_max_len_is_refused()
    {
        var e = Assert.Throws<SpecException>(() => ModelSpec.ForData("imdb-lstm", 1, [1_000_000]));
        Assert.Contains("sequence length 1000000 is above the limit of 10,000", e.Message);
    }

    [Fact]
    public void A_spec_file_larger_than_the_limit_is_refused_without_reading_it_whole()
    {
        string path = Path.Combine(Path.GetTempPath(), $"hostile-spec-{Guid.NewGuid():N}.json");
        File.WriteAllBytes(path, new byte[SpecLimits.MaxSpecChars + 10]);
        try
        {
            var e = Assert.Throws<SpecException>(() => ModelSpec.ForData(path, 1, null));
            Assert.Contains("larger than the limit of 1,048,576 bytes", e.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void The_presets_sit_within_every_limit()
    {
        foreach (var name in Presets.Names) Assert.NotNull(ModelSpec.ForData(name, 1, null));
    }
}
