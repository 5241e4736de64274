using System.Numerics.Tensors;
using System.Text.Json.Nodes;
using DistTrain.Engine.Kernels;
using DistTrain.Engine.Spec;

namespace DistTrain.Engine.Layers;

/// <summary>
/// Gated recurrent unit, Keras semantics: gates [z r h] in kernel (D, 3U) and recurrent_kernel (U, 3U);
/// z = σ(x_z + r_z), r = σ(x_r + r_r), h = z⊙h₋₁ + (1 − z)⊙ĥ.
/// resetAfter (Keras' default, true): ĥ = tanh(x_h + r⊙(h₋₁U_h + b_rec_h)), bias (2, 3U) = [input; recurrent].
/// resetAfter false: ĥ = tanh(x_h + (r⊙h₋₁)U_h), bias (3U).
/// </summary>
public sealed class Gru : Recurrent
{
    private float[] _zh = [], _dzh = [], _q = [], _dq = [];

    public Gru(int units, bool returnSequences = false, bool returnState = false, bool goBackwards = false, float dropout = 0,
        float recurrentDropout = 0, bool resetAfter = true, int seed = 0, string? name = null)
        : base(units, returnSequences, returnState, goBackwards, dropout, recurrentDropout, seed, name) => ResetAfter = resetAfter;

    public bool ResetAfter { get; }
    public override string TypeName => "gru";
    protected override int Gates => 3;
    protected override bool HasCellState => false;

    private Span<float> Zh(int s) => _zh.AsSpan(s * Batch * GU, Batch * GU);
    private Span<float> Dzh(int s) => _dzh.AsSpan(s * Batch * GU, Batch * GU);
    private Span<float> Q(int s) => _q.AsSpan(s * Batch * Units, Batch * Units);

    protected override void DeclareWeights(ParameterStore store)
    {
        Kernel = AddWeight(store, "kernel", [InputDim, GU], Initializer.GlorotUniform);
        RecurrentKernel = AddWeight(store, "recurrent_kernel", [Units, GU], Initializer.Orthogonal);
        Bias = AddWeight(store, "bias", ResetAfter ? [2, GU] : [GU], Initializer.Zeros);
    }

    protected override void StepForward(int s)
    {
        Ensure(ref _zh, Steps * Batch * GU);
        int u = Units, b = Batch;
        var zh = Zh(s);
        var ur = RecurrentKernel.Value;
        if (ResetAfter)
        {
            // zh (B, 3U) = h₋₁ · U_rec + b_rec
            Gemm.Multiply(zh, GU, Hd(s), u, false, RecurrentPacked, b, accumulate: false);
            RowBias.Add(zh, Bias.Value[GU..]);
            GruGates.Forward(Zx(s), zh, H(s), H(s + 1), b, u, resetAfter: true, zrDone: false);
            return;
        }
        Ensure(ref _q, Steps * b * u);
        // z and r first, from h₋₁ · U_rec[:, :2U]; then ĥ's recurrent term from q = r⊙h₋₁.
        Gemm.Multiply(zh, GU, Hd(s), u, false, ur, GU, false, b, 2 * u, u, accumulate: false);
        GruGates.ForwardZr(Zx(s), zh, b, u);
        var zx = Zx(s);
        var hd = Hd(s);
        var q = Q(s);
        for (int r = 0; r < b; r++) TensorPrimitives.Multiply(zx.Slice(r * GU + u, u), hd.Slice(r * u, u), q.Slice(r * u, u));
        Gemm.Multiply(zh[(2 * u)..], GU, q, u, false, ur[(2 * u)..], GU, false, b, u, u, accumulate: false);
        GruGates.Forward(zx, zh, H(s), H(s + 1), b, u, resetAfter: false, zrDone: true);
    }

    protected override void StepBackward(int s)
    {
        Ensure(ref _dzh, Steps * Batch * GU);
        int u = Units, b = Batch;
        var ur = RecurrentKernel.Value;
        GruGates.Backward(Zx(s), Zh(s), H(s), DhNext, Dzx(s), Dzh(s), DhDirect, b, u, ResetAfter);
        if (ResetAfter)
        {
            Gemm.Multiply(Dhd, u, Dzh(s), GU, false, RecurrentPackedT, b, accumulate: false);
            return;
        }
        // dq = dĥ' · U_hᵀ; dr' = dq⊙h₋₁⊙r(1−r); dL/dh₋₁ = dq⊙r + [dz' dr'] · U_rec[:, :2U]ᵀ
        Ensure(ref _dq, b * u);
        var dq = _dq.AsSpan(0, b * u);
        var dzx = Dzx(s);
        var dzh = Dzh(s);
        var gates = Zx(s);
        var hd = Hd(s);
        Gemm.Multiply(dq, u, dzh[(2 * u)..], GU, false, ur[(2 * u)..], GU, true, b, u, u, accumulate: false);
        for (int r = 0; r < b; r++)
        for (int j = 0; j < u; j++)
        {
            float rr = gates[r * GU + u + j], dqv = dq[r * u + j];
            float dr = dqv * hd[r * u + j] * rr * (1 - rr);
            dzx[r * GU + u + j] = dr;
            dzh[r * GU + u + j] = dr;
            Dhd[r * u + j] = dqv * rr;
        }
        Gemm.Multiply(Dhd, u, dzh, GU, false, ur, GU, true, b, u, 2 * u, accumulate: true);
    }

    protected override void MaskedStepGradient(int s, int row) => Dzh(s).Slice(row * GU, GU).Clear();

    protected override void FinishBackward()
    {
        int u = Units, rows = Steps * Batch;
        var dzh = _dzh.AsSpan(0, rows * GU);
        var dur = RecurrentKernel.Grad;
        if (ResetAfter)
        {
            Gemm.Multiply(dur, GU, HdAll, u, true, dzh, GU, false, u, GU, rows, accumulate: true);
            RowBias.SumInto(Bias.Grad[GU..], dzh);
            return;
        }
        Gemm.Multiply(dur, GU, HdAll, u, true, dzh, GU, false, u, 2 * u, rows, accumulate: true);
        Gemm.Multiply(dur[(2 * u)..], GU, _q.AsSpan(0, rows * u), u, true, dzh[(2 * u)..], GU, false, u, u, rows, accumulate: true);
    }

    public override Recurrent CloneReversed(string name) =>
        new Gru(Units, ReturnSequences, ReturnState, !GoBackwards, Dropout, RecurrentDropout, ResetAfter, Seed + 1, name);

    protected override void WriteConfig(JsonObject spec)
    {
        base.WriteConfig(spec);
        spec["reset_after"] = ResetAfter;
    }

    internal static Gru FromSpec(SpecReader r)
    {
        var c = Config.Read(r);
        return new Gru(c.Units, c.ReturnSequences, c.ReturnState, c.GoBackwards, c.Dropout, c.RecurrentDropout,
            r.Bool("reset_after", true), c.Seed, c.Name);
    }
}
