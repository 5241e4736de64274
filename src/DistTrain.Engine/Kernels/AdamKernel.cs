using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace DistTrain.Engine.Kernels;

/// <summary>
/// Adam's update in one pass over the flat buffers: m ← β1·m + (1−β1)·g, v ← β2·v + (1−β2)·g²,
/// p ← p − α·m/(√v + ε), with α the bias-corrected step size. One pass instead of a chain of element-wise calls
/// matters for embedding models, whose tables dwarf the rest of the step. Width Scalar is the reference.
/// </summary>
public static class AdamKernel
{
    public static void Update(Span<float> p, ReadOnlySpan<float> g, Span<float> m, Span<float> v, float alpha, float beta1, float beta2,
        float epsilon, SimdWidth width = default)
    {
        if (g.Length != p.Length || m.Length != p.Length || v.Length != p.Length)
            throw new ArgumentException($"Adam buffers differ in length: p {p.Length}, g {g.Length}, m {m.Length}, v {v.Length}");
        if (width == default) width = Simd.Best;
        ref float pp = ref MemoryMarshal.GetReference(p);
        ref float pg = ref MemoryMarshal.GetReference(g);
        ref float pm = ref MemoryMarshal.GetReference(m);
        ref float pv = ref MemoryMarshal.GetReference(v);
        int n = p.Length, i = 0;
        float c1 = 1 - beta1, c2 = 1 - beta2;
        if (width == SimdWidth.V512)
        {
            var b1 = Vector512.Create(beta1); var b2 = Vector512.Create(beta2); var k1 = Vector512.Create(c1); var k2 = Vector512.Create(c2);
            var a = Vector512.Create(alpha); var e = Vector512.Create(epsilon);
            for (; i <= n - 16; i += 16)
            {
                var gv = Vector512.LoadUnsafe(ref pg, (nuint)i);
                var mv = b1 * Vector512.LoadUnsafe(ref pm, (nuint)i) + k1 * gv;
                var vv = b2 * Vector512.LoadUnsafe(ref pv, (nuint)i) + k2 * gv * gv;
                mv.StoreUnsafe(ref pm, (nuint)i);
                vv.StoreUnsafe(ref pv, (nuint)i);
                (Vector512.LoadUnsafe(ref pp, (nuint)i) - a * mv / (Vector512.Sqrt(vv) + e)).StoreUnsafe(ref pp, (nuint)i);
            }
        }
        if (width >= SimdWidth.V256)
        {
            var b1 = Vector256.Create(beta1); var b2 = Vector256.Create(beta2); var k1 = Vector256.Create(c1); var k2 = Vector256.Create(c2);
            var a = Vector256.Create(alpha); var e = Vector256.Create(epsilon);
            for (; i <= n - 8; i += 8)
            {
                var gv = Vector256.LoadUnsafe(ref pg, (nuint)i);
                var mv = b1 * Vector256.LoadUnsafe(ref pm, (nuint)i) + k1 * gv;
                var vv = b2 * Vector256.LoadUnsafe(ref pv, (nuint)i) + k2 * gv * gv;
                mv.StoreUnsafe(ref pm, (nuint)i);
                vv.StoreUnsafe(ref pv, (nuint)i);
                (Vector256.LoadUnsafe(ref pp, (nuint)i) - a * mv / (Vector256.Sqrt(vv) + e)).StoreUnsafe(ref pp, (nuint)i);
            }
        }
        if (width >= SimdWidth.V128)
        {
            var b1 = Vector128.Create(beta1); var b2 = Vector128.Create(beta2); var k1 = Vector128.Create(c1); var k2 = Vector128.Create(c2);
            var a = Vector128.Create(alpha); var e = Vector128.Create(epsilon);
            for (; i <= n - 4; i += 4)
            {
                var gv = Vector128.LoadUnsafe(ref pg, (nuint)i);
                var mv = b1 * Vector128.LoadUnsafe(ref pm, (nuint)i) + k1 * gv;
                var vv = b2 * Vector128.LoadUnsafe(ref pv, (nuint)i) + k2 * gv * gv;
                mv.StoreUnsafe(ref pm, (nuint)i);
                vv.StoreUnsafe(ref pv, (nuint)i);
                (Vector128.LoadUnsafe(ref pp, (nuint)i) - a * mv / (Vector128.Sqrt(vv) + e)).StoreUnsafe(ref pp, (nuint)i);
            }
        }
        for (; i < n; i++)
        {
            float gv = g[i];
            m[i] = beta1 * m[i] + c1 * gv;
            v[i] = beta2 * v[i] + c2 * gv * gv;
            p[i] -= alpha * m[i] / (MathF.Sqrt(v[i]) + epsilon);
        }
    }
}
