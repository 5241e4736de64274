using System.Runtime.Intrinsics;

namespace DistTrain.Engine.Kernels;

// Activation kernels TensorPrimitives has no operation for. Each backward operator takes (y, dy), the forward
// output and the upstream gradient, because every activation here has a derivative expressible in its output.

/// <summary>leaky_relu forward: y = x &gt; 0 ? x : 0.2·x (Keras' activation default slope).</summary>
public readonly struct LeakyReluOperator : IUnaryOperator
{
    public const float Slope = 0.2f;
    public static float Invoke(float x) => x > 0 ? x : Slope * x;
    public static Vector128<float> Invoke(Vector128<float> x) => Vector128.ConditionalSelect(Vector128.GreaterThan(x, Vector128<float>.Zero), x, x * Slope);
    public static Vector256<float> Invoke(Vector256<float> x) => Vector256.ConditionalSelect(Vector256.GreaterThan(x, Vector256<float>.Zero), x, x * Slope);
    public static Vector512<float> Invoke(Vector512<float> x) => Vector512.ConditionalSelect(Vector512.GreaterThan(x, Vector512<float>.Zero), x, x * Slope);
}

/// <summary>relu backward: y = max(x, 0) ⇒ dx = y &gt; 0 ? dy : 0.</summary>
public readonly struct ReluBackwardOperator : IBinaryOperator
{
    public static float Invoke(float y, float dy) => y > 0 ? dy : 0;
    public static Vector128<float> Invoke(Vector128<float> y, Vector128<float> dy) => Vector128.GreaterThan(y, Vector128<float>.Zero) & dy;
    public static Vector256<float> Invoke(Vector256<float> y, Vector256<float> dy) => Vector256.GreaterThan(y, Vector256<float>.Zero) & dy;
    public static Vector512<float> Invoke(Vector512<float> y, Vector512<float> dy) => Vector512.GreaterThan(y, Vector512<float>.Zero) & dy;
}

/// <summary>leaky_relu backward: y = x &gt; 0 ? x : 0.2x ⇒ dx = y &gt; 0 ? dy : 0.2·dy (y and x share their sign).</summary>
public readonly struct LeakyReluBackwardOperator : IBinaryOperator
{
    private const float S = LeakyReluOperator.Slope;
    public static float Invoke(float y, float dy) => y > 0 ? dy : S * dy;
    public static Vector128<float> Invoke(Vector128<float> y, Vector128<float> dy) => Vector128.ConditionalSelect(Vector128.GreaterThan(y, Vector128<float>.Zero), dy, dy * S);
    public static Vector256<float> Invoke(Vector256<float> y, Vector256<float> dy) => Vector256.ConditionalSelect(Vector256.GreaterThan(y, Vector256<float>.Zero), dy, dy * S);
    public static Vector512<float> Invoke(Vector512<float> y, Vector512<float> dy) => Vector512.ConditionalSelect(Vector512.GreaterThan(y, Vector512<float>.Zero), dy, dy * S);
}

/// <summary>sigmoid backward: y = 1/(1+e^-x) ⇒ dx = dy·y·(1−y).</summary>
public readonly struct SigmoidBackwardOperator : IBinaryOperator
{
    public static float Invoke(float y, float dy) => dy * y * (1 - y);
    public static Vector128<float> Invoke(Vector128<float> y, Vector128<float> dy) => dy * y * (Vector128<float>.One - y);
    public static Vector256<float> Invoke(Vector256<float> y, Vector256<float> dy) => dy * y * (Vector256<float>.One - y);
    public static Vector512<float> Invoke(Vector512<float> y, Vector512<float> dy) => dy * y * (Vector512<float>.One - y);
}

/// <summary>tanh backward: y = tanh(x) ⇒ dx = dy·(1−y²).</summary>
public readonly struct TanhBackwardOperator : IBinaryOperator
{
    public static float Invoke(float y, float dy) => dy * (1 - y * y);
    public static Vector128<float> Invoke(Vector128<float> y, Vector128<float> dy) => dy * (Vector128<float>.One - y * y);
    public static Vector256<float> Invoke(Vector256<float> y, Vector256<float> dy) => dy * (Vector256<float>.One - y * y);
    public static Vector512<float> Invoke(Vector512<float> y, Vector512<float> dy) => dy * (Vector512<float>.One - y * y);
}
