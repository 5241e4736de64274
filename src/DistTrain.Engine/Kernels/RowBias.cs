using System.Runtime.CompilerServices;
namespace DistTrain.Engine.Kernels;

/// <summary>
/// Bias along rows, the forward and backward of "z = xW + b" over an (R, C) matrix: <see cref="Add"/> computes
/// m[r, c] = m[r, c] + b[c] (optionally followed by relu in the same pass), and <see cref="SumInto"/> computes
/// db[c] += Σ_r m[r, c]. Convolutions have R = B·OH·OW rows of only C = 32 or 64 columns, where one library call
/// per row would cost more than the arithmetic; these loops keep a row in vector registers instead.
/// One generic body at every width; width Scalar is the twin the vector widths are tested against.
/// </summary>
public static unsafe class RowBias
{
    /// <param name="m">(rows, bias.Length), changed in place</param>
    public static void Add(Span<float> m, ReadOnlySpan<float> bias, bool relu = false, SimdWidth width = default)
    {
        int cols = bias.Length;
        if (cols == 0) return;
        if (m.Length % cols != 0) throw new ArgumentException($"a matrix of {m.Length} floats does not have rows of {cols}");
        fixed (float* pm = m, pb = bias)
        {
            for (float* row = pm, end = pm + m.Length; row < end; row += cols)
            {
                var loop = new AddLoop(row, pb, relu);
                WidthDispatch.Run(ref loop, cols, width);
            }
        }
    }

    /// <summary>row += bias, then max(·, 0) when relu.</summary>
    private readonly struct AddLoop(float* row, float* bias, bool relu) : IWidthLoop
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Run<W, TV>(int from, int to) where W : IVectorOps<TV> where TV : struct
        {
            var zero = W.Splat(0f);
            for (int j = from; j < to; j += W.Count)
            {
                var v = W.Add(W.Load(row + j), W.Load(bias + j));
                if (relu) v = W.Max(v, zero);
                W.Store(v, row + j);
            }
        }
    }

    /// <summary>db[c] += Σ_r m[r, c] for m (rows, db.Length).</summary>
    public static void SumInto(Span<float> db, ReadOnlySpan<float> m, SimdWidth width = default)
    {
        int cols = db.Length;
        if (cols == 0) return;
        if (m.Length % cols != 0) throw new ArgumentException($"a matrix of {m.Length} floats does not have rows of {cols}");
        fixed (float* pd = db, pm = m)
        {
            var loop = new SumLoop(pd, pm, m.Length, cols);
            WidthDispatch.Run(ref loop, cols, width);
        }
    }

    // Column strips of one vector: sum down the rows in a register, then add into db once.
    private readonly struct SumLoop(float* db, float* m, int length, int cols) : IWidthLoop
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Run<W, TV>(int from, int to) where W : IVectorOps<TV> where TV : struct
        {
            for (int j = from; j < to; j += W.Count)
            {
                var acc = W.Splat(0f);
                for (int r = j; r < length; r += cols) acc = W.Add(acc, W.Load(m + r));
                W.Store(W.Add(W.Load(db + j), acc), db + j);
            }
        }
    }
}
