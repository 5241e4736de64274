using System.Runtime.CompilerServices;

namespace DistTrain.Engine.Kernels;

/// <summary>
/// Sigmoid and tanh at any width, for the fused recurrent gate passes. Both are written so that overflow of exp
/// saturates to the right limit: σ(x) = 1/(1 + e^−x) → 0 as e^−x → ∞, and tanh(x) = 1 − 2/(e^2x + 1) → ±1.
/// </summary>
public static class VectorMath
{
    /// <summary>
    /// Backward-through-time kernels flush gradients smaller than this (2^−80) to zero. Gradients decay
    /// exponentially back through the steps and cross the subnormal range (below 2^−126); on Intel CPUs every
    /// subnormal operand or result costs a microcode assist of about a hundred cycles, which made imdb-lstm's
    /// backward pass several times slower than its arithmetic. Below 2^−80 a product with any factor down to
    /// 2^−46 stays normal, and such gradients are far below what a float32 weight update can register. TensorFlow
    /// sets the CPU's flush-to-zero mode for the same reason; .NET exposes no control of it, so the kernels do it.
    /// </summary>
    public const float FlushLimit = 8.271806e-25f; // 2^-80

    /// <summary>Zeroes the lanes of a gradient below <see cref="FlushLimit"/> in magnitude.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Flush<W, TV>(TV gradient) where W : IVectorOps<TV> where TV : struct => W.FlushBelow(gradient, W.Splat(FlushLimit));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Sigmoid<W, TV>(TV x) where W : IVectorOps<TV> where TV : struct
    {
        var one = W.Splat(1f);
        return W.Div(one, W.Add(one, W.Exp(W.Sub(W.Splat(0f), x))));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Tanh<W, TV>(TV x) where W : IVectorOps<TV> where TV : struct
    {
        var one = W.Splat(1f);
        return W.Sub(one, W.Div(W.Splat(2f), W.Add(W.Exp(W.Add(x, x)), one)));
    }
}
