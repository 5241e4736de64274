using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using DistTrain.Engine.Model;

namespace DistTrain.Engine.Tests.Model;

/// <summary>
/// Corrupt and hostile model files. Each is refused by <see cref="ModelFile.Read(byte[], string)"/> with an
/// <see cref="InvalidDataException"/> naming the source and what is wrong: never an index, overflow or out-of-memory
/// exception. A hostile writer can compute the SHA-256 of whatever it writes, so most cases carry a valid checksum.
/// </summary>
public class HostileModelFileTests
{
    private const string Source = "hostile.dtm";

    // Dropout (one random stream), then Dense 4 → 3: 15 trainable parameters, no state, Adam's two slots.
    private const string Spec = """
        {"input_shape":[4],"layers":[{"type":"dropout","rate":0.5,"seed":3},{"type":"dense","units":3}],"optimizer":"adam","loss":"mse"}
        """;

    private static readonly float[] Values = [.. Enumerable.Range(0, 15).Select(i => i * 0.1f)];

    private static string Training(string epochs = "1", string seed = "1", string random = "[[0,0,0]]") =>
        $$"""{"epoch":1,"step":0,"steps_per_epoch":1,"global_batch":1,"seed":{{seed}},"epochs":{{epochs}},"world_size":1,"random":{{random}}}""";

    // A well-formed version 2 file, hashed; its fields can be replaced one at a time.
    private static byte[] Build(string spec = Spec, float[]? values = null, long iterations = 3, int slots = 2, string? training = null,
        byte[]? trailing = null, uint version = 2)
    {
        values ??= Values;
        using var body = new MemoryStream();
        using (var w = new BinaryWriter(body, Encoding.UTF8, leaveOpen: true))
        {
            w.Write("DTMODEL\0"u8);
            w.Write(version);
            Block(w, Encoding.UTF8.GetBytes(spec));
            Floats(w, values);
            Floats(w, []);
            w.Write(iterations);
            w.Write(slots);
            for (int i = 0; i < slots; i++) Floats(w, values);
            Block(w, Encoding.UTF8.GetBytes(training ?? Training()));
            if (trailing is not null) w.Write(trailing);
        }
        return Rehash([.. body.ToArray(), .. new byte[32]]);
    }

    private static void Block(BinaryWriter w, byte[] bytes)
    {
        w.Write(bytes.Length);
        w.Write(bytes);
    }

    private static void Floats(BinaryWriter w, float[] values)
    {
        w.Write(values.Length);
        foreach (var v in values) w.Write(v);
    }

    // Recomputes the trailing SHA-256, as a hostile writer would.
    private static byte[] Rehash(byte[] bytes)
    {
        SHA256.HashData(bytes.AsSpan(0, bytes.Length - 32)).CopyTo(bytes, bytes.Length - 32);
        return bytes;
    }

    private static byte[] WithInt(byte[] bytes, int offset, int value)
    {
        var copy = (byte[])bytes.Clone();
        BinaryPrimitives.WriteInt32LittleEndian(copy.AsSpan(offset), value);
        return Rehash(copy);
    }

    private static int SpecBytes => Encoding.UTF8.GetByteCount(Spec);
    private const int SpecLengthAt = 12;
    private static int ValuesLengthAt => 16 + SpecBytes;

    public static TheoryData<string, byte[], string> Cases()
    {
        var good = Build();
        var flipped = (byte[])good.Clone();
        flipped[good.Length / 2] ^= 0x40;
        var wrongMagic = (byte[])good.Clone();
        wrongMagic[0] = (byte)'X';
        return new()
        {
            { "empty", [], "not a DistTrain model file (bad magic header)" },
            { "truncated inside the magic", good[..5], "bad magic header" },
            { "truncated after the header", good[..44], "checksum mismatch" },
            { "truncated in the middle", good[..(good.Length / 2)], "checksum mismatch" },
            { "truncated by one byte", good[..^1], "checksum mismatch" },
            { "flipped byte", flipped, "checksum mismatch" },
            { "wrong magic", wrongMagic, "bad magic header" },
            { "unknown version", Build(version: 3), "model file version 3 is not supported (this build reads versions 1 to 2)" },
            { "version zero", Build(version: 0), "model file version 0 is not supported" },
            { "spec length claims gigabytes", WithInt(good, SpecLengthAt, 2_000_000_000), "the spec block claims 2,000,000,000 bytes" },
            { "spec length negative", WithInt(good, SpecLengthAt, -1), "the spec block's length is -1" },
            { "parameter block claims gigabytes", WithInt(good, ValuesLengthAt, int.MaxValue), "the parameter block claims 2,147,483,647 values" },
            { "only the header, hashed", Rehash([.. good[..12], .. new byte[32]]), "the model file ends early" },
            { "parameter count mismatch", Build(values: Values[..14]), "holds 14 parameters and 0 state values, but its architecture needs 15 and 0" },
            { "spec is not JSON", Build(spec: "dense 3 relu"), "not valid JSON" },
            { "spec asks for a huge layer", Build(spec: Spec.Replace("\"units\":3", "\"units\":10000000")), "layers[1] (dense): units 10000000 is above the limit of 65,536" },
            { "negative step count", Build(iterations: -5), "the optimizer step count is -5" },
            { "implausible slot count", Build(slots: 1000), "implausible optimizer slot count 1000" },
            { "slot count of another optimizer", Build(slots: 1), "the optimizer state does not fit its optimizer" },
            { "training state is garbage", Build(training: "}{ not json"), "the training state is not valid JSON" },
            { "training state nested too deep", Build(training: new string('[', 5000) + new string(']', 5000)), "the training state is not valid JSON" },
            { "training state of the wrong types", Build(training: Training(epochs: "\"many\"")), "the training state is malformed (" },
            { "training seed overflows", Build(training: Training(seed: "1e20")), "the training state is malformed" },
            { "training epochs over the limit", Build(training: Training(epochs: "1000000000")), "'epochs' is 1000000000, above the limit of 100,000" },
            { "random states of another model", Build(training: Training(random: "[[0,0,0],[1,1,1]]")), "holds 2 random stream states, but the model has 1" },
            { "trailing bytes", Build(trailing: [1, 2, 3]), "3 unexpected bytes after the model's last block" },
        };
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void A_corrupt_model_file_is_refused_naming_the_problem(string name, byte[] bytes, string expected)
    {
        var e = Assert.Throws<InvalidDataException>(() => ModelFile.Read(bytes, Source));
        Assert.True(e.Message.StartsWith(Source, StringComparison.Ordinal), $"{name}: '{e.Message}' does not name the source");
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void The_well_formed_file_the_cases_start_from_reads()
    {
        var contents = ModelFile.Read(Build(), Source);
        Assert.Equal(Values, contents.Model.Store.Values);
        Assert.Equal(1, contents.Training!.Epochs);
    }
}
