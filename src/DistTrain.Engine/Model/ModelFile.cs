using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using DistTrain.Engine.Spec;

namespace DistTrain.Engine.Model;

/// <summary>
/// The model file format, version 2, little-endian:
/// <code>
/// "DTMODEL\0"            8 bytes magic
/// u32 version            2 (1: the same without the training state)
/// i32 n, n bytes         UTF-8 spec JSON (architecture, optimizer, loss, metrics)
/// i32 n, n floats        trainable parameters, in the flat buffer's layout
/// i32 n, n floats        non-trainable state (batch-norm statistics)
/// i64 iterations         optimizer step count
/// i32 s, then s × (i32 n, n floats)   optimizer slots
/// i32 n, n bytes         v2: UTF-8 JSON of the training state (<see cref="TrainingCheckpoint"/>), n = 0 for none
/// 32 bytes               SHA-256 of everything before it
/// </code>
/// Saving writes a temporary file, flushes it to the disk and renames it over the target, so a crash never leaves
/// half a model behind. Loading checks the magic, the version and the checksum before it reads anything else.
/// </summary>
public static class ModelFile
{
    private static readonly byte[] Magic = "DTMODEL\0"u8.ToArray();
    public const uint Version = 2;

    /// <summary>A model file's contents: the model, and where its training stood (null for a file without one).</summary>
    public sealed record Contents(Sequential Model, TrainingCheckpoint? Training);

    public static void Save(Sequential model, string path, TrainingCheckpoint? training = null)
    {
        model.Build();
        WriteDurably(path, Serialize(model, training));
    }

    /// <summary>The file's bytes for the model as it stands.</summary>
    public static byte[] Serialize(Sequential model, TrainingCheckpoint? training = null)
    {
        model.Build();
        return Serialize(ModelSpec.ToJson(model).ToJsonString(), model.Store.Values, model.Store.State, model.Optimizer?.Iterations ?? 0,
            model.Optimizer?.Slots ?? [], training);
    }

    /// <summary>The file's bytes from copies of a model's buffers (a snapshot taken while training goes on).</summary>
    public static byte[] Serialize(string specJson, ReadOnlySpan<float> values, ReadOnlySpan<float> state, long iterations,
        IReadOnlyList<float[]> slots, TrainingCheckpoint? training)
    {
        using var body = new MemoryStream(sizeof(float) * (values.Length * (1 + slots.Count) + state.Length) + specJson.Length + 4096);
        using (var w = new BinaryWriter(body, Encoding.UTF8, leaveOpen: true))
        {
            w.Write(Magic);
            w.Write(Version);
            WriteBytes(w, Encoding.UTF8.GetBytes(specJson));
            WriteFloats(w, values);
            WriteFloats(w, state);
            w.Write(iterations);
            w.Write(slots.Count);
            foreach (var s in slots) WriteFloats(w, s);
            WriteBytes(w, training is null ? [] : Encoding.UTF8.GetBytes(training.ToJson().ToJsonString()));
        }
        var hash = SHA256.HashData(body.GetBuffer().AsSpan(0, (int)body.Length));
        body.Write(hash);
        return body.ToArray();
    }

    /// <summary>Writes bytes to a temporary name beside <paramref name="path"/>, flushes them to the disk, then renames.</summary>
    public static void WriteDurably(string path, ReadOnlySpan<byte> bytes)
    {
        string full = Path.GetFullPath(path);
        string tmp = $"{full}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}"; // two writers of one file never share a temporary
        using (var f = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            f.Write(bytes);
            f.Flush(flushToDisk: true);
        }
        File.Move(tmp, full, overwrite: true);
    }

    public static Sequential Load(string path) => Read(path).Model;

    /// <summary>The model and its training state from a file of either version.</summary>
    public static Contents Read(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidDataException($"{path}: cannot read the model file ({e.Message})");
        }
        return Read(bytes, path);
    }

    /// <summary>As <see cref="Read(string)"/>, from the file's bytes; <paramref name="source"/> names them in errors.</summary>
    public static Contents Read(byte[] bytes, string source)
    {
        if (bytes.Length < Magic.Length + 4 + 32 || !bytes.AsSpan(0, Magic.Length).SequenceEqual(Magic))
            throw new InvalidDataException($"{source}: not a DistTrain model file (bad magic header)");
        uint version = BitConverter.ToUInt32(bytes, Magic.Length);
        if (version is < 1 or > Version)
            throw new InvalidDataException($"{source}: model file version {version} is not supported (this build reads versions 1 to {Version})");
        var content = bytes.AsSpan(0, bytes.Length - 32);
        if (!SHA256.HashData(content).AsSpan().SequenceEqual(bytes.AsSpan(bytes.Length - 32)))
            throw new InvalidDataException($"{source}: checksum mismatch; the model file is corrupt or truncated");

        using var r = new BinaryReader(new MemoryStream(bytes, 0, content.Length), Encoding.UTF8);
        r.ReadBytes(Magic.Length + 4);
        try
        {
            string json = Encoding.UTF8.GetString(ReadBlock(r, 1, "spec", source));
            var model = ModelSpec.Parse(json, source);
            var values = ReadFloats(r, "parameter", source);
            var state = ReadFloats(r, "state", source);
            if (values.Length != model.Store.Values.Length || state.Length != model.Store.State.Length)
                throw new InvalidDataException(
                    $"{source}: holds {values.Length} parameters and {state.Length} state values, but its architecture needs {model.Store.Values.Length} and {model.Store.State.Length}");
            values.CopyTo(model.Store.Values, 0);
            state.CopyTo(model.Store.State, 0);
            long iterations = r.ReadInt64();
            if (iterations < 0) throw new InvalidDataException($"{source}: the optimizer step count is {iterations}; it cannot be negative");
            int slotCount = r.ReadInt32();
            if (slotCount < 0 || slotCount > 16) throw new InvalidDataException($"{source}: implausible optimizer slot count {slotCount}");
            var slots = new float[slotCount][];
            for (int i = 0; i < slotCount; i++)
            {
                slots[i] = ReadFloats(r, $"optimizer slot {i}", source);
                if (slots[i].Length != values.Length)
                    throw new InvalidDataException($"{source}: optimizer slot {i} has {slots[i].Length} values for {values.Length} parameters");
            }
            try
            {
                model.Optimizer!.Restore(iterations, slots);
            }
            catch (ArgumentException e)
            {
                throw new InvalidDataException($"{source}: the optimizer state does not fit its optimizer ({e.Message})");
            }
            TrainingCheckpoint? training = null;
            if (version >= 2 && ReadBlock(r, 1, "training state", source) is { Length: > 0 } trainingJson)
            {
                training = TrainingCheckpoint.FromJson(JsonNode.Parse(trainingJson), source);
                try
                {
                    model.RestoreRandomStates(training.Random);
                }
                catch (InvalidDataException e)
                {
                    throw new InvalidDataException($"{source}: {e.Message}");
                }
                model.TrainingState = training;
            }
            // The checksum covers these bytes too, but a writer that hashes whatever it wrote could still append them.
            if (r.BaseStream.Position != content.Length)
                throw new InvalidDataException($"{source}: {content.Length - r.BaseStream.Position:N0} unexpected bytes after the model's last block");
            return new Contents(model, training);
        }
        catch (EndOfStreamException)
        {
            throw new InvalidDataException($"{source}: the model file ends early, inside a fixed-size field");
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new InvalidDataException($"{source}: the training state is not valid JSON ({e.Message})");
        }
        catch (SpecException e)
        {
            throw new InvalidDataException(e.Message);
        }
    }

    private static void WriteBytes(BinaryWriter w, byte[] bytes)
    {
        w.Write(bytes.Length);
        w.Write(bytes);
    }

    private static void WriteFloats(BinaryWriter w, ReadOnlySpan<float> values)
    {
        w.Write(values.Length);
        w.Write(MemoryMarshal.AsBytes(values));
    }

    // A length-prefixed block. The length is checked against the bytes that remain before anything is allocated, so a
    // length field claiming gigabytes costs nothing.
    private static byte[] ReadBlock(BinaryReader r, int elementSize, string what, string source)
    {
        int n = r.ReadInt32();
        long remaining = r.BaseStream.Length - r.BaseStream.Position;
        if (n < 0) throw new InvalidDataException($"{source}: the {what} block's length is {n}; it cannot be negative");
        if ((long)n * elementSize > remaining)
            throw new InvalidDataException(
                $"{source}: the {what} block claims {n:N0} {(elementSize == 1 ? "bytes" : "values")} ({(long)n * elementSize:N0} bytes), but only {remaining:N0} bytes remain; the file is truncated or corrupt");
        return r.ReadBytes(n * elementSize);
    }

    private static float[] ReadFloats(BinaryReader r, string what, string source) =>
        MemoryMarshal.Cast<byte, float>(ReadBlock(r, sizeof(float), what, source)).ToArray();
}
