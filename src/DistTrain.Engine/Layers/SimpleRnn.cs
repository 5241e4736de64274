using DistTrain.Engine.Kernels;
using DistTrain.Engine.Spec;

namespace DistTrain.Engine.Layers;

/// <summary>Fully recurrent layer, Keras semantics: h = tanh(x·W + h₋₁·U_rec + b).</summary>
public sealed class SimpleRnn : Recurrent
{
    private float[] _zhStep = [];

    public SimpleRnn(int units, bool returnSequences = false, bool returnState = false, bool goBackwards = false, float dropout = 0,
        float recurrentDropout = 0, int seed = 0, string? name = null)
        : base(units, returnSequences, returnState, goBackwards, dropout, recurrentDropout, seed, name) { }

    public override string TypeName => "simple_rnn";
    protected override int Gates => 1;
    protected override bool HasCellState => false;

    protected override void DeclareWeights(ParameterStore store)
    {
        Kernel = AddWeight(store, "kernel", [InputDim, Units], Initializer.GlorotUniform);
        RecurrentKernel = AddWeight(store, "recurrent_kernel", [Units, Units], Initializer.Orthogonal);
        Bias = AddWeight(store, "bias", [Units], Initializer.Zeros);
    }

    protected override void StepForward(int s)
    {
        Ensure(ref _zhStep, Batch * Units);
        var zh = _zhStep.AsSpan(0, Batch * Units);
        Gemm.Multiply(zh, Units, Hd(s), Units, false, RecurrentPacked, Batch, accumulate: false);
        RnnGates.Forward(Zx(s), zh, H(s + 1));
    }

    protected override void StepBackward(int s)
    {
        RnnGates.Backward(H(s + 1), DhNext, Dzx(s));
        Gemm.Multiply(Dhd, Units, Dzx(s), Units, false, RecurrentPackedT, Batch, accumulate: false);
    }

    protected override void FinishBackward() =>
        Gemm.Multiply(RecurrentKernel.Grad, Units, HdAll, Units, true, DzxAll, Units, false, Units, Units, Steps * Batch, accumulate: true);

    public override Recurrent CloneReversed(string name) =>
        new SimpleRnn(Units, ReturnSequences, ReturnState, !GoBackwards, Dropout, RecurrentDropout, Seed + 1, name);

    internal static SimpleRnn FromSpec(SpecReader r)
    {
        var c = Config.Read(r);
        return new SimpleRnn(c.Units, c.ReturnSequences, c.ReturnState, c.GoBackwards, c.Dropout, c.RecurrentDropout, c.Seed, c.Name);
    }
}
