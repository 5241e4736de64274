using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using DistTrain.Engine.Spec;

namespace DistTrain.Engine.Model;

/// <summary>
/// The model file format, version 1, little-endian:
/// <code>
/// "DTMODEL\0"            8 bytes magic
/// u32 version            1
/// i32 n, n bytes         UTF-8 spec JSON (architecture, optimizer, loss, metrics)
/// i32 n, n floats        trainable parameters, in the flat buffer's layout
/// i32 n, n floats        non-trainable state (batch-norm statistics)
/// i64 iterations         optimizer step count
/// i32 s, then s × (i32 n, n floats)   optimizer slots
/// 32 bytes               SHA-256 of everything before it
/// </code>
/// Saving writes a temporary file and renames it over the target, so a crash never leaves half a model behind.
/// Loading checks the magic, the version and the checksum before it reads anything else.
/// </summary>
public static class ModelFile
{
    private static readonly byte[] Magic = "DTMODEL\0"u8.ToArray();
    public const uint Version = 1;

    public static void Save(Sequential model, string path)
    {
        model.Build();
        using var body = new MemoryStream();
        using (var w = new BinaryWriter(body, Encoding.UTF8, leaveOpen: true))
        {
            w.Write(Magic);
            w.Write(Version);
            var spec = Encoding.UTF8.GetBytes(ModelSpec.ToJson(model).ToJsonString());
            w.Write(spec.Length);
            w.Write(spec);
            WriteFloats(w, model.Store.Values);
            WriteFloats(w, model.Store.State);
            w.Write(model.Optimizer?.Iterations ?? 0);
            var slots = model.Optimizer?.Slots ?? [];
            w.Write(slots.Count);
            foreach (var s in slots) WriteFloats(w, s);
        }
        var hash = SHA256.HashData(body.GetBuffer().AsSpan(0, (int)body.Length));
        body.Write(hash);

        string full = Path.GetFullPath(path);
        string tmp = full + ".tmp-" + Environment.ProcessId;
        File.WriteAllBytes(tmp, body.ToArray());
        File.Move(tmp, full, overwrite: true);
    }

    public static Sequential Load(string path)
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
        if (bytes.Length < Magic.Length + 4 + 32 || !bytes.AsSpan(0, Magic.Length).SequenceEqual(Magic))
            throw new InvalidDataException($"{path}: not a DistTrain model file (bad magic header)");
        uint version = BitConverter.ToUInt32(bytes, Magic.Length);
        if (version != Version)
            throw new InvalidDataException($"{path}: model file version {version} is not supported (this build reads version {Version})");
        var content = bytes.AsSpan(0, bytes.Length - 32);
        if (!SHA256.HashData(content).AsSpan().SequenceEqual(bytes.AsSpan(bytes.Length - 32)))
            throw new InvalidDataException($"{path}: checksum mismatch; the model file is corrupt or truncated");

        using var r = new BinaryReader(new MemoryStream(bytes, 0, content.Length), Encoding.UTF8);
        r.ReadBytes(Magic.Length + 4);
        try
        {
            string json = Encoding.UTF8.GetString(ReadBlock(r, 1));
            var model = ModelSpec.Parse(json, path);
            var values = ReadFloats(r);
            var state = ReadFloats(r);
            if (values.Length != model.Store.Values.Length || state.Length != model.Store.State.Length)
                throw new InvalidDataException(
                    $"{path}: holds {values.Length} parameters and {state.Length} state values, but its architecture needs {model.Store.Values.Length} and {model.Store.State.Length}");
            values.CopyTo(model.Store.Values, 0);
            state.CopyTo(model.Store.State, 0);
            long iterations = r.ReadInt64();
            int slotCount = r.ReadInt32();
            if (slotCount < 0 || slotCount > 16) throw new InvalidDataException($"{path}: implausible optimizer slot count {slotCount}");
            var slots = new float[slotCount][];
            for (int i = 0; i < slotCount; i++)
            {
                slots[i] = ReadFloats(r);
                if (slots[i].Length != values.Length)
                    throw new InvalidDataException($"{path}: optimizer slot {i} has {slots[i].Length} values for {values.Length} parameters");
            }
            model.Optimizer!.Restore(iterations, slots);
            return model;
        }
        catch (EndOfStreamException)
        {
            throw new InvalidDataException($"{path}: the model file ends early");
        }
        catch (SpecException e)
        {
            throw new InvalidDataException(e.Message);
        }
    }

    private static void WriteFloats(BinaryWriter w, ReadOnlySpan<float> values)
    {
        w.Write(values.Length);
        w.Write(MemoryMarshal.AsBytes(values));
    }

    private static byte[] ReadBlock(BinaryReader r, int elementSize)
    {
        int n = r.ReadInt32();
        long remaining = r.BaseStream.Length - r.BaseStream.Position;
        if (n < 0 || (long)n * elementSize > remaining) throw new EndOfStreamException();
        return r.ReadBytes(n * elementSize);
    }

    private static float[] ReadFloats(BinaryReader r) => MemoryMarshal.Cast<byte, float>(ReadBlock(r, sizeof(float))).ToArray();
}
