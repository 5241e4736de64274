using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace DistTrain.Engine.Kernels;

/// <summary>
/// Short-row operations (an embedding row, one time step's features: 16 to 128 floats) done inline. At these
/// lengths a library call's set-up costs as much as the work, and these run once per token per step.
/// Each falls back to a scalar loop for the tail, which is also what the vector part is tested against.
/// </summary>
public static class Rows
{
    /// <summary>dst = src.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Copy(ReadOnlySpan<float> src, Span<float> dst)
    {
        if (src.Length != dst.Length) throw new ArgumentException($"row lengths differ: {src.Length} and {dst.Length}");
        ref float s = ref MemoryMarshal.GetReference(src);
        ref float d = ref MemoryMarshal.GetReference(dst);
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i + 16 <= src.Length; i += 16) Vector512.LoadUnsafe(ref s, (nuint)i).StoreUnsafe(ref d, (nuint)i);
        for (; i < src.Length; i++) Unsafe.Add(ref d, i) = Unsafe.Add(ref s, i);
    }

    /// <summary>dst += src.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void AddInto(Span<float> dst, ReadOnlySpan<float> src) => MultiplyAddInto(dst, src, 1f);

    /// <summary>dst += src · scale.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void MultiplyAddInto(Span<float> dst, ReadOnlySpan<float> src, float scale)
    {
        if (src.Length != dst.Length) throw new ArgumentException($"row lengths differ: {src.Length} and {dst.Length}");
        ref float s = ref MemoryMarshal.GetReference(src);
        ref float d = ref MemoryMarshal.GetReference(dst);
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var k = Vector512.Create(scale);
            for (; i + 16 <= src.Length; i += 16)
                Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref s, (nuint)i), k, Vector512.LoadUnsafe(ref d, (nuint)i)).StoreUnsafe(ref d, (nuint)i);
        }
        for (; i < src.Length; i++) Unsafe.Add(ref d, i) = MathF.FusedMultiplyAdd(Unsafe.Add(ref s, i), scale, Unsafe.Add(ref d, i));
    }
}
