using System.Text.Json.Nodes;
using DistTrain.Engine.Kernels;
using DistTrain.Engine.Spec;

namespace DistTrain.Engine.Layers;

/// <summary>
/// Fully connected layer on the last axis: y = f(x·W + b), x (R, I) where R is every leading dimension
/// flattened, W (I, U), b (U), y (R, U).
/// </summary>
public sealed class Dense : Layer, IActivated
{
    private Parameter _kernel = null!, _bias = null!;
    private Tensor _input = null!;
    private readonly Tensor _output = new(0), _dx = new(0);
    private int _in;

    public Dense(int units, string? activation = null, bool useBias = true, Initializer? kernelInitializer = null,
        Initializer? biasInitializer = null, Regularizer? kernelRegularizer = null, string? name = null) : base(name)
    {
        if (units < 1) throw new ArgumentOutOfRangeException(nameof(units), units, "Dense needs at least one unit");
        Units = units;
        Activation = Activations.Parse(activation);
        UseBias = useBias;
        KernelInitializer = kernelInitializer ?? Initializer.GlorotUniform;
        BiasInitializer = biasInitializer ?? Initializer.Zeros;
        KernelRegularizer = kernelRegularizer;
    }

    public int Units { get; }
    public ActivationKind Activation { get; }
    public bool UseBias { get; }
    public Initializer KernelInitializer { get; }
    public Initializer BiasInitializer { get; }
    public Regularizer? KernelRegularizer { get; }
    public override string TypeName => "dense";

    protected override int[] OnBuild(int[] inputShape, ParameterStore store)
    {
        if (inputShape.Length == 0) throw new ArgumentException($"{Name}: Dense needs an input with a feature axis");
        _in = inputShape[^1];
        _kernel = AddWeight(store, "kernel", [_in, Units], KernelInitializer, KernelRegularizer);
        if (UseBias) _bias = AddWeight(store, "bias", [Units], BiasInitializer);
        var output = (int[])inputShape.Clone();
        output[^1] = Units;
        return output;
    }

    public override Tensor Forward(Tensor x, bool training)
    {
        _input = x;                                   // x (R, I)
        int rows = x.Length / _in;
        var y = _output.Resize(x.Batch, OutputShape); // y (R, U)
        Gemm.Multiply(y.Span, Units, x.Span, _in, false, _kernel.Value, Units, false, rows, Units, _in, accumulate: false);
        Activations.ForwardWithBias(Activation, y.Span, UseBias ? _bias.Value : default, Units);
        return y;
    }

    public override Tensor Backward(Tensor dy)
    {
        // dz = f'(z) ⊙ dy, computed from y in place.
        Activations.Backward(Activation, _output.Span, dy.Span, Units);
        return BackwardFromPreActivation(dy);
    }

    /// <summary>z = x·W + b ⇒ dW += xᵀ·dz, db += Σ_rows dz, dx = dz·Wᵀ.</summary>
    public Tensor BackwardFromPreActivation(Tensor dz)
    {
        int rows = dz.Length / Units;
        Gemm.Multiply(_kernel.Grad, Units, _input.Span, _in, true, dz.Span, Units, false, _in, Units, rows, accumulate: true);
        if (UseBias) RowBias.SumInto(_bias.Grad, dz.Span);
        if (!ComputeInputGradient) return _dx;
        var dx = _dx.Resize(dz.Batch, InputShape);
        Gemm.Multiply(dx.Span, _in, dz.Span, Units, false, _kernel.Value, Units, true, rows, _in, Units, accumulate: false);
        return dx;
    }

    /// <summary>Works step by step, so a sequence mask passes through.</summary>
    public override Tensor? ComputeMask(Tensor input) => input.Mask;

    protected override void WriteConfig(JsonObject spec)
    {
        spec["units"] = Units;
        spec["activation"] = Activations.Name(Activation);
        spec["use_bias"] = UseBias;
        spec["kernel_initializer"] = KernelInitializer.Name;
        spec["bias_initializer"] = BiasInitializer.Name;
        if (KernelRegularizer is { } r) spec["kernel_regularizer"] = RegularizerSpec.Write(r);
    }

    internal static Dense FromSpec(SpecReader r) => new(
        r.Size("units", SpecLimits.MaxUnits), r.OptionalString("activation"), r.Bool("use_bias", true),
        Initializer.FromName(r.String("kernel_initializer", "glorot_uniform")),
        Initializer.FromName(r.String("bias_initializer", "zeros")),
        RegularizerSpec.Read(r, "kernel_regularizer"), r.OptionalString("name"));
}
