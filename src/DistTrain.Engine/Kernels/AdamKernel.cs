using System.Runtime.CompilerServices;
using static DistTrain.Engine.Kernels.VectorMath;

namespace DistTrain.Engine.Kernels;

/// <summary>
/// Adam's update in one pass over the flat buffers: m ← β1·m + (1−β1)·g, v ← β2·v + (1−β2)·g²,
/// p ← p − α·m/(√v + ε), with α the bias-corrected step size. One pass instead of a chain of element-wise calls
/// matters for embedding models, whose tables dwarf the rest of the step. m and v are flushed below
/// <see cref="VectorMath.FlushLimit"/> (see <see cref="FlushToZero"/>): without it, imdb-lstm's embedding rows that
/// go unused decayed into subnormals and its second epoch ran at 60% of the first. One generic loop at every width;
/// width Scalar is the twin the vector widths are tested against, and it runs the tail.
/// </summary>
public static unsafe class AdamKernel
{
    public static void Update(Span<float> p, ReadOnlySpan<float> g, Span<float> m, Span<float> v, float alpha, float beta1, float beta2,
        float epsilon, SimdWidth width = default)
    {
        if (g.Length != p.Length || m.Length != p.Length || v.Length != p.Length)
            throw new ArgumentException($"Adam buffers differ in length: p {p.Length}, g {g.Length}, m {m.Length}, v {v.Length}");
        fixed (float* pp = p, pg = g, pm = m, pv = v)
        {
            var loop = new Loop(pp, pg, pm, pv, alpha, beta1, beta2, epsilon);
            WidthDispatch.Run(ref loop, p.Length, width);
        }
    }

    private readonly struct Loop(float* p, float* g, float* m, float* v, float alpha, float beta1, float beta2, float epsilon) : IWidthLoop
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Run<W, TV>(int from, int to) where W : IVectorOps<TV> where TV : struct
        {
            TV b1 = W.Splat(beta1), b2 = W.Splat(beta2), k1 = W.Splat(1 - beta1), k2 = W.Splat(1 - beta2);
            TV a = W.Splat(alpha), e = W.Splat(epsilon);
            for (int i = from; i < to; i += W.Count)
            {
                var gv = W.Load(g + i);
                var mv = Flush<W, TV>(W.Add(W.Mul(b1, W.Load(m + i)), W.Mul(k1, gv)));
                var vv = Flush<W, TV>(W.Add(W.Mul(b2, W.Load(v + i)), W.Mul(k2, W.Mul(gv, gv))));
                W.Store(mv, m + i);
                W.Store(vv, v + i);
                W.Store(W.Sub(W.Load(p + i), W.Div(W.Mul(a, mv), W.Add(W.Sqrt(vv), e))), p + i);
            }
        }
    }
}
