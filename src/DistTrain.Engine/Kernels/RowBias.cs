using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace DistTrain.Engine.Kernels;

/// <summary>
/// Bias along rows, the forward and backward of "z = xW + b" over an (R, C) matrix: <see cref="Add"/> computes
/// m[r, c] = m[r, c] + b[c] (optionally followed by relu in the same pass), and <see cref="SumInto"/> computes
/// db[c] += Σ_r m[r, c]. Convolutions have R = B·OH·OW rows of only C = 32 or 64 columns, where one library call
/// per row would cost more than the arithmetic; these loops keep a row in vector registers instead.
/// Width Scalar is the reference.
/// </summary>
public static class RowBias
{
    /// <param name="m">(rows, bias.Length), changed in place</param>
    public static void Add(Span<float> m, ReadOnlySpan<float> bias, bool relu = false, SimdWidth width = default)
    {
        int cols = bias.Length;
        if (cols == 0) return;
        if (m.Length % cols != 0) throw new ArgumentException($"a matrix of {m.Length} floats does not have rows of {cols}");
        if (width == default) width = Simd.Best;
        ref float pm = ref MemoryMarshal.GetReference(m);
        ref float pb = ref MemoryMarshal.GetReference(bias);
        int vec = width == SimdWidth.V512 ? cols / 16 * 16 : width == SimdWidth.V256 ? cols / 8 * 8 : width == SimdWidth.V128 ? cols / 4 * 4 : 0;
        for (int r = 0; r < m.Length; r += cols)
        {
            int j = 0;
            if (width == SimdWidth.V512)
                for (; j < vec; j += 16)
                {
                    var v = Vector512.LoadUnsafe(ref pm, (nuint)(r + j)) + Vector512.LoadUnsafe(ref pb, (nuint)j);
                    if (relu) v = Vector512.Max(v, Vector512<float>.Zero);
                    v.StoreUnsafe(ref pm, (nuint)(r + j));
                }
            else if (width == SimdWidth.V256)
                for (; j < vec; j += 8)
                {
                    var v = Vector256.LoadUnsafe(ref pm, (nuint)(r + j)) + Vector256.LoadUnsafe(ref pb, (nuint)j);
                    if (relu) v = Vector256.Max(v, Vector256<float>.Zero);
                    v.StoreUnsafe(ref pm, (nuint)(r + j));
                }
            else if (width == SimdWidth.V128)
                for (; j < vec; j += 4)
                {
                    var v = Vector128.LoadUnsafe(ref pm, (nuint)(r + j)) + Vector128.LoadUnsafe(ref pb, (nuint)j);
                    if (relu) v = Vector128.Max(v, Vector128<float>.Zero);
                    v.StoreUnsafe(ref pm, (nuint)(r + j));
                }
            for (; j < cols; j++)
            {
                float v = m[r + j] + bias[j];
                m[r + j] = relu ? Math.Max(v, 0) : v;
            }
        }
    }

    /// <summary>db[c] += Σ_r m[r, c] for m (rows, db.Length).</summary>
    public static void SumInto(Span<float> db, ReadOnlySpan<float> m, SimdWidth width = default)
    {
        int cols = db.Length;
        if (cols == 0) return;
        if (m.Length % cols != 0) throw new ArgumentException($"a matrix of {m.Length} floats does not have rows of {cols}");
        if (width == default) width = Simd.Best;
        ref float pm = ref MemoryMarshal.GetReference(m);
        ref float pd = ref MemoryMarshal.GetReference(db);
        int j = 0;
        // Column strips of one vector: sum down the rows in a register, then add into db once.
        if (width == SimdWidth.V512)
            for (; j + 16 <= cols; j += 16)
            {
                var acc = Vector512<float>.Zero;
                for (int r = j; r < m.Length; r += cols) acc += Vector512.LoadUnsafe(ref pm, (nuint)r);
                (Vector512.LoadUnsafe(ref pd, (nuint)j) + acc).StoreUnsafe(ref pd, (nuint)j);
            }
        if (width >= SimdWidth.V256)
            for (; j + 8 <= cols; j += 8)
            {
                var acc = Vector256<float>.Zero;
                for (int r = j; r < m.Length; r += cols) acc += Vector256.LoadUnsafe(ref pm, (nuint)r);
                (Vector256.LoadUnsafe(ref pd, (nuint)j) + acc).StoreUnsafe(ref pd, (nuint)j);
            }
        if (width >= SimdWidth.V128)
            for (; j + 4 <= cols; j += 4)
            {
                var acc = Vector128<float>.Zero;
                for (int r = j; r < m.Length; r += cols) acc += Vector128.LoadUnsafe(ref pm, (nuint)r);
                (Vector128.LoadUnsafe(ref pd, (nuint)j) + acc).StoreUnsafe(ref pd, (nuint)j);
            }
        for (; j < cols; j++)
        {
            float acc = 0;
            for (int r = j; r < m.Length; r += cols) acc += m[r];
            db[j] += acc;
        }
    }
}
