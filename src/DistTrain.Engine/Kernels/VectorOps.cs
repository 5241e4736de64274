using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace DistTrain.Engine.Kernels;

/// <summary>
/// A vector width as a type. A kernel is written once as a generic body over <c>W : IVectorOps&lt;TV&gt;</c>, and the
/// JIT compiles one copy per width (TV = float, Vector128, Vector256 or Vector512 of float) with every call inlined:
/// TensorPrimitives' operator-struct pattern, for kernels with several inputs and outputs. The float instantiation
/// (<see cref="Ops1"/>) is the scalar path, which runs the tail of every vector loop and is the twin every vector
/// width is tested against.
/// </summary>
public unsafe interface IVectorOps<TV> where TV : struct
{
    /// <summary>Floats per vector.</summary>
    static abstract int Count { get; }
    static abstract TV Load(float* p);
    static abstract void Store(TV v, float* p);
    static abstract TV Splat(float x);
    static abstract TV Add(TV a, TV b);
    static abstract TV Sub(TV a, TV b);
    static abstract TV Mul(TV a, TV b);
    static abstract TV Div(TV a, TV b);

    /// <summary>a·b + c, rounded once.</summary>
    static abstract TV Fma(TV a, TV b, TV c);
    static abstract TV Max(TV a, TV b);
    static abstract TV Sqrt(TV a);
    static abstract TV Exp(TV a);

    /// <summary>|v| &lt; limit ? 0 : v, lane by lane.</summary>
    static abstract TV FlushBelow(TV v, TV limit);
}

/// <summary>The integer lanes that go with a float vector width, for kernels that track indices (max pooling's argmax).</summary>
public unsafe interface IVectorIndexOps<TV, TI> where TV : struct where TI : struct
{
    /// <summary>0, 1, …, Count − 1.</summary>
    static abstract TI Lanes { get; }
    static abstract TI SplatIndex(int x);
    static abstract TI AddIndex(TI a, TI b);
    static abstract void StoreIndex(TI v, int* p);

    /// <summary>Where a &gt; b, (x, i) from the first pair, else from the second: the running max and its index.</summary>
    static abstract void KeepGreater(TV a, TI ia, ref TV best, ref TI at);
}

/// <summary>Scalar: one float at a time.</summary>
public readonly unsafe struct Ops1 : IVectorOps<float>
{
    public static int Count => 1;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Load(float* p) => *p;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(float v, float* p) => *p = v;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Splat(float x) => x;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Add(float a, float b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sub(float a, float b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Mul(float a, float b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Div(float a, float b) => a / b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Fma(float a, float b, float c) => MathF.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Max(float a, float b) => MathF.Max(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sqrt(float a) => MathF.Sqrt(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Exp(float a) => MathF.Exp(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float FlushBelow(float v, float limit) => MathF.Abs(v) < limit ? 0f : v;
}

/// <summary>SSE / NEON: 4 floats.</summary>
public readonly unsafe struct Ops128 : IVectorOps<Vector128<float>>, IVectorIndexOps<Vector128<float>, Vector128<int>>
{
    public static int Count => 4;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Load(float* p) => Vector128.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector128<float> v, float* p) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Splat(float x) => Vector128.Create(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Add(Vector128<float> a, Vector128<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Sub(Vector128<float> a, Vector128<float> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Mul(Vector128<float> a, Vector128<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Div(Vector128<float> a, Vector128<float> b) => a / b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Fma(Vector128<float> a, Vector128<float> b, Vector128<float> c) => Vector128.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Max(Vector128<float> a, Vector128<float> b) => Vector128.Max(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Sqrt(Vector128<float> a) => Vector128.Sqrt(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Exp(Vector128<float> a) => Vector128.Exp(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> FlushBelow(Vector128<float> v, Vector128<float> limit) => Vector128.AndNot(v, Vector128.LessThan(Vector128.Abs(v), limit));
    public static Vector128<int> Lanes => Vector128.Create(0, 1, 2, 3);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<int> SplatIndex(int x) => Vector128.Create(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<int> AddIndex(Vector128<int> a, Vector128<int> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void StoreIndex(Vector128<int> v, int* p) => v.Store(p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void KeepGreater(Vector128<float> a, Vector128<int> ia, ref Vector128<float> best, ref Vector128<int> at)
    {
        var more = Vector128.GreaterThan(a, best);
        best = Vector128.ConditionalSelect(more, a, best);
        at = Vector128.ConditionalSelect(more.AsInt32(), ia, at);
    }
}

/// <summary>AVX2: 8 floats.</summary>
public readonly unsafe struct Ops256 : IVectorOps<Vector256<float>>, IVectorIndexOps<Vector256<float>, Vector256<int>>
{
    public static int Count => 8;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Load(float* p) => Vector256.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector256<float> v, float* p) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Splat(float x) => Vector256.Create(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Add(Vector256<float> a, Vector256<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Sub(Vector256<float> a, Vector256<float> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Mul(Vector256<float> a, Vector256<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Div(Vector256<float> a, Vector256<float> b) => a / b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Fma(Vector256<float> a, Vector256<float> b, Vector256<float> c) => Vector256.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Max(Vector256<float> a, Vector256<float> b) => Vector256.Max(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Sqrt(Vector256<float> a) => Vector256.Sqrt(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Exp(Vector256<float> a) => Vector256.Exp(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> FlushBelow(Vector256<float> v, Vector256<float> limit) => Vector256.AndNot(v, Vector256.LessThan(Vector256.Abs(v), limit));
    public static Vector256<int> Lanes => Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<int> SplatIndex(int x) => Vector256.Create(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<int> AddIndex(Vector256<int> a, Vector256<int> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void StoreIndex(Vector256<int> v, int* p) => v.Store(p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void KeepGreater(Vector256<float> a, Vector256<int> ia, ref Vector256<float> best, ref Vector256<int> at)
    {
        var more = Vector256.GreaterThan(a, best);
        best = Vector256.ConditionalSelect(more, a, best);
        at = Vector256.ConditionalSelect(more.AsInt32(), ia, at);
    }
}

/// <summary>AVX-512: 16 floats.</summary>
public readonly unsafe struct Ops512 : IVectorOps<Vector512<float>>, IVectorIndexOps<Vector512<float>, Vector512<int>>
{
    public static int Count => 16;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Load(float* p) => Vector512.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector512<float> v, float* p) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Splat(float x) => Vector512.Create(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Add(Vector512<float> a, Vector512<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Sub(Vector512<float> a, Vector512<float> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Mul(Vector512<float> a, Vector512<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Div(Vector512<float> a, Vector512<float> b) => a / b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Fma(Vector512<float> a, Vector512<float> b, Vector512<float> c) => Vector512.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Max(Vector512<float> a, Vector512<float> b) => Vector512.Max(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Sqrt(Vector512<float> a) => Vector512.Sqrt(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Exp(Vector512<float> a) => Vector512.Exp(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> FlushBelow(Vector512<float> v, Vector512<float> limit) => Vector512.AndNot(v, Vector512.LessThan(Vector512.Abs(v), limit));
    public static Vector512<int> Lanes => Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<int> SplatIndex(int x) => Vector512.Create(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<int> AddIndex(Vector512<int> a, Vector512<int> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void StoreIndex(Vector512<int> v, int* p) => v.Store(p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void KeepGreater(Vector512<float> a, Vector512<int> ia, ref Vector512<float> best, ref Vector512<int> at)
    {
        var more = Vector512.GreaterThan(a, best);
        best = Vector512.ConditionalSelect(more, a, best);
        at = Vector512.ConditionalSelect(more.AsInt32(), ia, at);
    }
}
