using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace DistTrain.Data.Arrays;

/// <summary>The element types a .npy may hold here; every one is converted to float32.</summary>
internal enum NpyElement { Float32, Float64, UInt8, Int8, Int32, Int64, Bool }

/// <summary>
/// A .npy header's 'descr': a byte-order character ('&lt;' little, '&gt;' big, '|' not applicable, '=' native) then a
/// type code and size ("f4", "u1", "i8"). Only plain numeric types are taken. Anything else is refused by name, and an
/// object array ('|O') above all: numpy stores it pickled, and unpickling runs code chosen by whoever wrote the file.
/// </summary>
internal readonly record struct NpyDtype(string Descr, NpyElement Element, int Size)
{
    public const string Supported =
        "float32 '<f4', float64 '<f8', uint8 '|u1', int8 '|i1', int32 '<i4', int64 '<i8' and bool '|b1'";

    /// <summary>Parses a descr; <paramref name="source"/> names the file in errors.</summary>
    public static NpyDtype Parse(string descr, string source)
    {
        string shown = DataText.Show(descr);
        string code = descr.Length > 1 ? descr[1..] : descr;
        // The kind is judged before the byte order, so '|O' and '>U3' get the message about what they hold.
        if (code.StartsWith('O'))
            throw new DataException($"{source}: dtype '{shown}' is an array of Python objects, which numpy stores pickled; pickles are never loaded here, " +
                "since unpickling runs whatever code the file names. Save a numeric array instead, e.g. np.save(f, arr.astype('<f4'))");
        if (code.Length > 0 && code[0] is 'U' or 'S' or 'a')
            throw new DataException($"{source}: dtype '{shown}' holds strings; convert them to numbers (class indices, say) before saving");
        if (code.Length > 0 && code[0] == 'c')
            throw new DataException($"{source}: dtype '{shown}' is complex; save the real and imaginary parts as separate float arrays");
        // Size 0 marks a code this reader does not take.
        var (element, size) = code switch
        {
            "f4" => (NpyElement.Float32, 4),
            "f8" => (NpyElement.Float64, 8),
            "u1" => (NpyElement.UInt8, 1),
            "i1" => (NpyElement.Int8, 1),
            "i4" => (NpyElement.Int32, 4),
            "i8" => (NpyElement.Int64, 8),
            "b1" => (NpyElement.Bool, 1),
            _ => (default(NpyElement), 0),
        };
        if (size == 0 || descr.Length != 3 || descr[0] is not ('<' or '>' or '|' or '='))
            throw new DataException($"{source}: dtype '{shown}' is not supported; the supported dtypes are {Supported}. Convert with arr.astype('<f4')");
        // Byte order only matters for multi-byte elements; numpy writes '|' for single bytes, but any order means the same.
        if (size > 1)
        {
            if (descr[0] == '>' || (descr[0] == '=' && !BitConverter.IsLittleEndian))
                throw new DataException($"{source}: dtype '{shown}' is big-endian; this reader takes little-endian data: save it with arr.astype('<{code}')");
            if (descr[0] == '|')
                throw new DataException($"{source}: dtype '{shown}' has no byte order ('|'), which a {size}-byte element needs; expected '<{code}'");
        }
        return new NpyDtype(descr, element, size);
    }

    /// <summary>
    /// Converts whole little-endian elements: effectively <c>destination[i] = (float)element[i]</c>. float64 outside
    /// float32's range becomes ±infinity, and int32 and int64 above 2^24 in magnitude round to the nearest float32,
    /// which is exact for class labels but not for identifiers. bool is 0 or 1.
    /// </summary>
    /// <param name="source">(n * Size) bytes</param>
    /// <param name="destination">(n) values</param>
    public void Convert(ReadOnlySpan<byte> source, Span<float> destination)
    {
        System.Diagnostics.Debug.Assert(source.Length == destination.Length * Size);
        switch (Element)
        {
            case NpyElement.Float32 when BitConverter.IsLittleEndian:
                MemoryMarshal.Cast<byte, float>(source).CopyTo(destination);
                break;
            case NpyElement.Float32:
                for (int i = 0; i < destination.Length; i++) destination[i] = BinaryPrimitives.ReadSingleLittleEndian(source[(4 * i)..]);
                break;
            case NpyElement.Float64:
                for (int i = 0; i < destination.Length; i++) destination[i] = (float)BinaryPrimitives.ReadDoubleLittleEndian(source[(8 * i)..]);
                break;
            case NpyElement.UInt8:
                for (int i = 0; i < destination.Length; i++) destination[i] = source[i];
                break;
            case NpyElement.Int8:
                for (int i = 0; i < destination.Length; i++) destination[i] = (sbyte)source[i];
                break;
            case NpyElement.Int32:
                for (int i = 0; i < destination.Length; i++) destination[i] = BinaryPrimitives.ReadInt32LittleEndian(source[(4 * i)..]);
                break;
            case NpyElement.Int64:
                for (int i = 0; i < destination.Length; i++) destination[i] = BinaryPrimitives.ReadInt64LittleEndian(source[(8 * i)..]);
                break;
            case NpyElement.Bool:
                for (int i = 0; i < destination.Length; i++) destination[i] = source[i] != 0 ? 1f : 0f;
                break;
        }
    }
}
