using System.Numerics.Tensors;
using DistTrain.Engine.Kernels;

namespace DistTrain.Engine;

/// <summary>The activations a Dense, Conv2D or Activation layer can apply.</summary>
public enum ActivationKind
{
    Linear,
    Relu,
    LeakyRelu,
    Sigmoid,
    Tanh,
    Softmax,
}

/// <summary>Activation forward and backward, applied in place over (rows, cols) buffers.</summary>
public static class Activations
{
    /// <summary>Parses a Keras activation name ("relu", "leaky_relu", "sigmoid", "tanh", "softmax", "linear").</summary>
    public static ActivationKind Parse(string? name) => name switch
    {
        null or "" or "linear" or "none" => ActivationKind.Linear,
        "relu" => ActivationKind.Relu,
        "leaky_relu" => ActivationKind.LeakyRelu,
        "sigmoid" => ActivationKind.Sigmoid,
        "tanh" => ActivationKind.Tanh,
        "softmax" => ActivationKind.Softmax,
        _ => throw new ArgumentException($"unknown activation '{name}'; expected one of linear, relu, leaky_relu, sigmoid, tanh, softmax"),
    };

    /// <summary>The Keras name of <paramref name="kind"/>.</summary>
    public static string Name(ActivationKind kind) => kind switch
    {
        ActivationKind.Relu => "relu",
        ActivationKind.LeakyRelu => "leaky_relu",
        ActivationKind.Sigmoid => "sigmoid",
        ActivationKind.Tanh => "tanh",
        ActivationKind.Softmax => "softmax",
        _ => "linear",
    };

    /// <summary>y = f(z) in place. <paramref name="z"/> is (rows, cols); softmax runs along each row.</summary>
    public static void Forward(ActivationKind kind, Span<float> z, int cols)
    {
        switch (kind)
        {
            case ActivationKind.Relu: TensorPrimitives.Max(z, 0f, z); break;
            case ActivationKind.LeakyRelu: Elementwise.Unary<LeakyReluOperator>(z, z); break;
            case ActivationKind.Sigmoid: TensorPrimitives.Sigmoid(z, z); break;
            case ActivationKind.Tanh: TensorPrimitives.Tanh(z, z); break;
            case ActivationKind.Softmax:
                for (int r = 0; r < z.Length; r += cols) SoftmaxRow(z.Slice(r, cols));
                break;
        }
    }

    /// <summary>
    /// y = f(z + b) in place over (rows, bias.Length), bias empty for none. With relu the bias and the activation share
    /// one pass over what, for a convolution, is the step's largest tensor.
    /// </summary>
    public static void ForwardWithBias(ActivationKind kind, Span<float> z, ReadOnlySpan<float> bias, int cols)
    {
        if (!bias.IsEmpty) RowBias.Add(z, bias, relu: kind == ActivationKind.Relu);
        if (bias.IsEmpty || kind != ActivationKind.Relu) Forward(kind, z, cols);
    }

    /// <summary>Numerically stable softmax of one row in place: exp(z − max z) / Σ exp(z − max z).</summary>
    public static void SoftmaxRow(Span<float> row)
    {
        if (row.Length == 0) return;
        float max = TensorPrimitives.Max(row);
        TensorPrimitives.Subtract(row, max, row);
        TensorPrimitives.Exp(row, row);
        TensorPrimitives.Divide(row, TensorPrimitives.Sum(row), row);
    }

    /// <summary>
    /// dz = f'(z) ⊙ dy in place in <paramref name="dy"/>, from the forward output <paramref name="y"/> (rows, cols).
    /// Softmax: dz_i = y_i (dy_i − Σ_j dy_j y_j).
    /// </summary>
    public static void Backward(ActivationKind kind, ReadOnlySpan<float> y, Span<float> dy, int cols)
    {
        switch (kind)
        {
            case ActivationKind.Relu: Elementwise.Binary<ReluBackwardOperator>(y, dy, dy); break;
            case ActivationKind.LeakyRelu: Elementwise.Binary<LeakyReluBackwardOperator>(y, dy, dy); break;
            case ActivationKind.Sigmoid: Elementwise.Binary<SigmoidBackwardOperator>(y, dy, dy); break;
            case ActivationKind.Tanh: Elementwise.Binary<TanhBackwardOperator>(y, dy, dy); break;
            case ActivationKind.Softmax:
                for (int r = 0; r < y.Length; r += cols)
                {
                    var yr = y.Slice(r, cols);
                    var dr = dy.Slice(r, cols);
                    float dot = TensorPrimitives.Dot(yr, dr);
                    TensorPrimitives.Subtract(dr, dot, dr);
                    TensorPrimitives.Multiply(dr, yr, dr);
                }
                break;
        }
    }
}
