using System.Text.Json.Nodes;
using DistTrain.Engine.Kernels;
using DistTrain.Engine.Spec;

namespace DistTrain.Engine.Layers;

/// <summary>
/// Long short-term memory, Keras semantics: gates [i f g o] in kernel (D, 4U), recurrent_kernel (U, 4U) and
/// bias (4U); i, f, o sigmoid, g and the output tanh. unitForgetBias starts the forget-gate bias at 1.
/// </summary>
public sealed class Lstm : Recurrent
{
    private float[] _zhStep = [];

    public Lstm(int units, bool returnSequences = false, bool returnState = false, bool goBackwards = false, float dropout = 0,
        float recurrentDropout = 0, bool unitForgetBias = true, int seed = 0, string? name = null)
        : base(units, returnSequences, returnState, goBackwards, dropout, recurrentDropout, seed, name) => UnitForgetBias = unitForgetBias;

    public bool UnitForgetBias { get; }
    public override string TypeName => "lstm";
    protected override int Gates => 4;
    protected override bool HasCellState => true;

    protected override void DeclareWeights(ParameterStore store)
    {
        Kernel = AddWeight(store, "kernel", [InputDim, GU], Initializer.GlorotUniform);
        RecurrentKernel = AddWeight(store, "recurrent_kernel", [Units, GU], Initializer.Orthogonal);
        Bias = AddWeight(store, "bias", [GU], UnitForgetBias ? new GateBias(Units, 1) : Initializer.Zeros);
    }

    protected override void StepForward(int s)
    {
        Ensure(ref _zhStep, Batch * GU);
        var zh = _zhStep.AsSpan(0, Batch * GU);                                   // (B, 4U) = h₋₁ · U_rec
        Gemm.Multiply(zh, GU, Hd(s), Units, false, RecurrentPacked, Batch, accumulate: false);
        LstmGates.Forward(Zx(s), zh, C(s), C(s + 1), Aux(s), H(s + 1), Batch, Units);
    }

    protected override void StepBackward(int s)
    {
        LstmGates.Backward(Zx(s), C(s), Aux(s), DhNext, Dc, Dzx(s), Batch, Units);
        // dL/d h₋₁ = dZ · U_recᵀ
        Gemm.Multiply(Dhd, Units, Dzx(s), GU, false, RecurrentPackedT, Batch, accumulate: false);
    }

    protected override void FinishBackward() =>
        // dU_rec += H₋₁ᵀ · dZ over every step at once: (U, T·B) · (T·B, 4U)
        Gemm.Multiply(RecurrentKernel.Grad, GU, HdAll, Units, true, DzxAll, GU, false, Units, GU, Steps * Batch, accumulate: true);

    public override Recurrent CloneReversed(string name) =>
        new Lstm(Units, ReturnSequences, ReturnState, !GoBackwards, Dropout, RecurrentDropout, UnitForgetBias, Seed + 1, name);

    protected override void WriteConfig(JsonObject spec)
    {
        base.WriteConfig(spec);
        spec["unit_forget_bias"] = UnitForgetBias;
    }

    internal static Lstm FromSpec(SpecReader r)
    {
        var c = Config.Read(r);
        return new Lstm(c.Units, c.ReturnSequences, c.ReturnState, c.GoBackwards, c.Dropout, c.RecurrentDropout,
            r.Bool("unit_forget_bias", true), c.Seed, c.Name);
    }
}

/// <summary>Zeros except one gate block set to a value: the LSTM forget gate at 1 (Keras' unit_forget_bias).</summary>
internal sealed class GateBias(int units, int gate, float value = 1f) : Initializer
{
    public override string Name => "zeros";

    public override void Fill(Span<float> values, int[] shape, int seed)
    {
        values.Clear();
        values.Slice(gate * units, units).Fill(value);
    }
}
