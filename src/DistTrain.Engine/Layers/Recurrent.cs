using System.Numerics.Tensors;
using System.Text.Json.Nodes;
using DistTrain.Engine.Kernels;
using DistTrain.Engine.Spec;

namespace DistTrain.Engine.Layers;

/// <summary>
/// The machinery shared by SimpleRNN, LSTM and GRU. Letters: B = batch, T = time steps, D = input features,
/// U = units, G = gates (1, 4 or 3), s = processing step (t = s, or T − 1 − s with goBackwards).
/// <para>
/// Forward: the input is copied time-major, (T, B, D), with the input-dropout mask applied, and ONE GEMM computes
/// every step's input projection ZX (T·B, G·U) = X·W + b. Each step then runs one recurrent GEMM, h₋₁ (B, U) ·
/// U_rec (U, G·U), and the cell's fused gate pass. Backward through time mirrors it: per step only the gate pass
/// and dh₋₁ = dz·U_recᵀ; the weight gradients dW = Xᵀ·dZ, dU_rec = H₋₁ᵀ·dZ and dX = dZ·Wᵀ are each one GEMM over
/// all steps at the end.
/// </para>
/// <para>
/// Masking (from an Embedding with maskZero): where mask[b, t] = 0 the step is skipped for that row, its state and
/// output carried over from the previous step, and its gradient passed straight through. Dropout masks are drawn
/// once per batch, seeded, and fixed across the time steps of a sequence (input mask (B, D), recurrent mask (B, U)).
/// </para>
/// </summary>
public abstract class Recurrent : Layer
{
    private readonly Tensor _output = new(0), _dx = new(0);
    private readonly LayerRandom _rng;
    private float[] _xt = [], _zx = [], _h = [], _c = [], _hd = [], _aux = [], _dzx = [], _stepMask = [];
    private float[] _dropMask = [], _recMask = [], _dhNext = [], _dc = [], _dhd = [], _dhDirect = [], _dxt = [], _saved = [];
    private readonly GemmPackedB _recurrentPacked = new(), _recurrentPackedT = new();
    private bool _dropping, _recDropping;
    private Tensor? _maskIn;

    protected Recurrent(int units, bool returnSequences, bool returnState, bool goBackwards, float dropout, float recurrentDropout,
        int seed, string? name) : base(name)
    {
        if (units < 1) throw new ArgumentOutOfRangeException(nameof(units), units, "a recurrent layer needs at least one unit");
        if (!(dropout >= 0 && dropout < 1)) throw new ArgumentOutOfRangeException(nameof(dropout), dropout, "dropout must be in [0, 1)");
        if (!(recurrentDropout >= 0 && recurrentDropout < 1))
            throw new ArgumentOutOfRangeException(nameof(recurrentDropout), recurrentDropout, "recurrent dropout must be in [0, 1)");
        Units = units;
        ReturnSequences = returnSequences;
        ReturnState = returnState;
        GoBackwards = goBackwards;
        Dropout = dropout;
        RecurrentDropout = recurrentDropout;
        Seed = seed;
        _rng = new LayerRandom(seed);
    }

    public int Units { get; }
    public bool ReturnSequences { get; }

    /// <summary>Keep the final states in <see cref="FinalHidden"/> (and <see cref="FinalCell"/> for LSTM); a Sequential
    /// passes on only the main output, as Keras' Sequential does.</summary>
    public bool ReturnState { get; }

    public bool GoBackwards { get; }
    public float Dropout { get; }
    public float RecurrentDropout { get; }
    public int Seed { get; }

    public override IEnumerable<LayerRandom> RandomStreams => [_rng];

    /// <summary>h at the last step (B, U), after a forward pass.</summary>
    public Tensor FinalHidden { get; } = new(0);

    /// <summary>c at the last step (B, U), LSTM only.</summary>
    public Tensor FinalCell { get; } = new(0);

    protected abstract int Gates { get; }
    protected abstract bool HasCellState { get; }

    /// <summary>W (D, G·U).</summary>
    protected Parameter Kernel { get; set; } = null!;

    /// <summary>U_rec (U, G·U).</summary>
    protected Parameter RecurrentKernel { get; set; } = null!;

    /// <summary>The bias; its first G·U values are added to the input projection.</summary>
    protected Parameter Bias { get; set; } = null!;

    /// <summary>U_rec (U, G·U) packed once per forward pass for the steps' h₋₁ · U_rec.</summary>
    protected GemmPackedB RecurrentPacked => _recurrentPacked;

    /// <summary>U_recᵀ (G·U, U) packed once per backward pass for the steps' dz · U_recᵀ.</summary>
    protected GemmPackedB RecurrentPackedT => _recurrentPackedT;

    protected int InputDim { get; private set; }
    protected int Steps { get; private set; }
    protected int Batch { get; private set; }
    protected int GU => Gates * Units;

    /// <summary>Declares Kernel, RecurrentKernel and Bias.</summary>
    protected abstract void DeclareWeights(ParameterStore store);

    /// <summary>Given h₋₁ (dropped) in <see cref="Hd"/>(s), fills <see cref="H"/>(s + 1) (and <see cref="C"/>(s + 1)).
    /// <see cref="Zx"/>(s) holds the input projection with bias and may be overwritten with activations.</summary>
    protected abstract void StepForward(int s);

    /// <summary>From <see cref="DhNext"/> (dL/dh_{s+1}) and <see cref="Dc"/> (in/out), writes <see cref="Dzx"/>(s),
    /// <see cref="Dhd"/> (dL/d h₋₁ through the dropped state) and <see cref="DhDirect"/> (any direct path).</summary>
    protected abstract void StepBackward(int s);

    /// <summary>Adds the recurrent weights' gradients over all steps (one GEMM), after the backward loop.</summary>
    protected abstract void FinishBackward();

    /// <summary>Creates the same layer processing time the other way (for Bidirectional).</summary>
    public abstract Recurrent CloneReversed(string name);

    protected Span<float> Zx(int s) => _zx.AsSpan(s * Batch * GU, Batch * GU);
    protected Span<float> ZxAll => _zx.AsSpan(0, Steps * Batch * GU);
    protected Span<float> H(int s) => _h.AsSpan(s * Batch * Units, Batch * Units);
    protected Span<float> C(int s) => _c.AsSpan(s * Batch * Units, Batch * Units);
    protected Span<float> Hd(int s) => _recDropping ? _hd.AsSpan(s * Batch * Units, Batch * Units) : H(s);

    /// <summary>All dropped h₋₁ (T·B, U), contiguous: with no recurrent dropout these are H(0..T−1) themselves.</summary>
    protected Span<float> HdAll => _recDropping ? _hd.AsSpan(0, Steps * Batch * Units) : _h.AsSpan(0, Steps * Batch * Units);

    protected Span<float> Aux(int s) => _aux.AsSpan(s * Batch * Units, Batch * Units);
    protected Span<float> AuxAll => _aux.AsSpan(0, Steps * Batch * Units);
    protected Span<float> Dzx(int s) => _dzx.AsSpan(s * Batch * GU, Batch * GU);
    protected Span<float> DzxAll => _dzx.AsSpan(0, Steps * Batch * GU);
    protected Span<float> DhNext => _dhNext.AsSpan(0, Batch * Units);
    protected Span<float> Dc => _dc.AsSpan(0, Batch * Units);
    protected Span<float> Dhd => _dhd.AsSpan(0, Batch * Units);
    protected Span<float> DhDirect => _dhDirect.AsSpan(0, Batch * Units);

    protected static void Ensure(ref float[] buffer, int length)
    {
        if (buffer.Length < length) buffer = new float[length];
    }

    protected override int[] OnBuild(int[] inputShape, ParameterStore store)
    {
        if (inputShape.Length != 2)
            throw new ArgumentException($"{Name}: {GetType().Name} expects sequences of shape (time, features), got {FormatShape(inputShape)}");
        Steps = inputShape[0];
        InputDim = inputShape[1];
        DeclareWeights(store);
        return ReturnSequences ? [Steps, Units] : [Units];
    }

    public override Tensor? ComputeMask(Tensor input) => ReturnSequences ? input.Mask : null;

    public override Tensor Forward(Tensor x, bool training)
    {
        int b = Batch = x.Batch, t = Steps, d = InputDim, u = Units;
        Ensure(ref _xt, t * b * d);
        Ensure(ref _zx, t * b * GU);
        Ensure(ref _h, (t + 1) * b * u);
        if (HasCellState) Ensure(ref _c, (t + 1) * b * u);
        Ensure(ref _aux, t * b * u);
        _dropping = training && Dropout > 0;
        _recDropping = training && RecurrentDropout > 0;
        if (_dropping) DrawMask(ref _dropMask, b * d, Dropout);
        if (_recDropping)
        {
            DrawMask(ref _recMask, b * u, RecurrentDropout);
            Ensure(ref _hd, t * b * u);
        }
        _maskIn = x.Mask;
        if (_maskIn is not null) Ensure(ref _stepMask, t * b);

        // Time-major copy: xt[s, b, :] = x[b, t(s), :] ⊙ dropMask[b, :]; the step mask likewise.
        var xs = x.Span;
        for (int s = 0; s < t; s++)
        {
            int ts = GoBackwards ? t - 1 - s : s;
            for (int r = 0; r < b; r++)
            {
                var src = xs.Slice((r * t + ts) * d, d);
                var dst = _xt.AsSpan((s * b + r) * d, d);
                if (_dropping) TensorPrimitives.Multiply(src, _dropMask.AsSpan(r * d, d), dst);
                else src.CopyTo(dst);
                if (_maskIn is not null) _stepMask[s * b + r] = _maskIn.Span[r * t + ts];
            }
        }
        // ZX (T·B, G·U) = XT (T·B, D) · W (D, G·U) + b_in
        Gemm.Multiply(ZxAll, GU, _xt.AsSpan(0, t * b * d), d, false, Kernel.Value, GU, false, t * b, GU, d, accumulate: false);
        RowBias.Add(ZxAll, Bias.Value[..GU]);

        _recurrentPacked.Pack(RecurrentKernel.Value, GU, false, u, GU);
        H(0).Clear();
        if (HasCellState) C(0).Clear();
        for (int s = 0; s < t; s++)
        {
            if (_recDropping) TensorPrimitives.Multiply(H(s), _recMask.AsSpan(0, b * u), Hd(s));
            StepForward(s);
            if (_maskIn is null) continue;
            for (int r = 0; r < b; r++)
            {
                if (_stepMask[s * b + r] != 0) continue;
                H(s).Slice(r * u, u).CopyTo(H(s + 1).Slice(r * u, u));
                if (HasCellState) C(s).Slice(r * u, u).CopyTo(C(s + 1).Slice(r * u, u));
            }
        }

        FinalHidden.Resize(b, [u]);
        H(t).CopyTo(FinalHidden.Span);
        if (HasCellState)
        {
            FinalCell.Resize(b, [u]);
            C(t).CopyTo(FinalCell.Span);
        }
        var y = _output.Resize(b, OutputShape);
        if (!ReturnSequences)
        {
            H(t).CopyTo(y.Span);
            return y;
        }
        // y[b, s, :] = h_{s+1}[b]: outputs in processing order, reversed for goBackwards as in Keras.
        for (int s = 0; s < t; s++)
        for (int r = 0; r < b; r++)
            H(s + 1).Slice(r * u, u).CopyTo(y.Span.Slice((r * t + s) * u, u));
        return y;
    }

    private void DrawMask(ref float[] mask, int length, float rate)
    {
        Ensure(ref mask, length);
        float keep = 1f / (1 - rate);
        for (int i = 0; i < length; i++) mask[i] = _rng.NextSingle() < rate ? 0f : keep;
    }

    public override Tensor Backward(Tensor dy)
    {
        int b = Batch, t = Steps, d = InputDim, u = Units;
        Ensure(ref _dzx, t * b * GU);
        Ensure(ref _dhNext, b * u);
        Ensure(ref _dc, b * u);
        Ensure(ref _dhd, b * u);
        Ensure(ref _dhDirect, b * u);
        Ensure(ref _saved, 2 * b * u);
        _recurrentPackedT.Pack(RecurrentKernel.Value, GU, true, GU, u);
        DhNext.Clear();
        Dc.Clear();
        var dys = dy.Span;
        for (int s = t - 1; s >= 0; s--)
        {
            if (ReturnSequences)
                for (int r = 0; r < b; r++)
                    TensorPrimitives.Add(DhNext.Slice(r * u, u), dys.Slice((r * t + s) * u, u), DhNext.Slice(r * u, u));
            else if (s == t - 1)
                dys.CopyTo(DhNext);
            if (_maskIn is not null)
            {
                DhNext.CopyTo(_saved);
                Dc.CopyTo(_saved.AsSpan(b * u));
            }
            DhDirect.Clear();
            StepBackward(s);
            // dL/dh_s = direct path + (dL/d hd) ⊙ recurrent-dropout mask
            if (_recDropping) TensorPrimitives.MultiplyAdd(Dhd, _recMask.AsSpan(0, b * u), DhDirect, DhNext);
            else TensorPrimitives.Add(Dhd, DhDirect, DhNext);
            if (_maskIn is null) continue;
            for (int r = 0; r < b; r++)
            {
                if (_stepMask[s * b + r] != 0) continue;
                _saved.AsSpan(r * u, u).CopyTo(DhNext.Slice(r * u, u));
                _saved.AsSpan(b * u + r * u, u).CopyTo(Dc.Slice(r * u, u));
                Dzx(s).Slice(r * GU, GU).Clear();
                MaskedStepGradient(s, r);
            }
        }
        FinishBackward();
        // dW += XTᵀ · dZX, db_in += Σ dZX; dX = dZX · Wᵀ
        Gemm.Multiply(Kernel.Grad, GU, _xt.AsSpan(0, t * b * d), d, true, DzxAll, GU, false, d, GU, t * b, accumulate: true);
        RowBias.SumInto(Bias.Grad[..GU], DzxAll);
        if (!ComputeInputGradient) return _dx;
        Ensure(ref _dxt, t * b * d);
        Gemm.Multiply(_dxt.AsSpan(0, t * b * d), d, DzxAll, GU, false, Kernel.Value, GU, true, t * b, d, GU, accumulate: false);
        var dx = _dx.Resize(b, InputShape);
        for (int s = 0; s < t; s++)
        {
            int ts = GoBackwards ? t - 1 - s : s;
            for (int r = 0; r < b; r++)
            {
                var src = _dxt.AsSpan((s * b + r) * d, d);
                var dst = dx.Span.Slice((r * t + ts) * d, d);
                if (_dropping) TensorPrimitives.Multiply(src, _dropMask.AsSpan(r * d, d), dst);
                else src.CopyTo(dst);
            }
        }
        return dx;
    }

    /// <summary>Clears any per-step gradient a cell keeps beyond dZX for a skipped (masked) row.</summary>
    protected virtual void MaskedStepGradient(int s, int row) { }

    protected override void WriteConfig(JsonObject spec)
    {
        spec["units"] = Units;
        spec["return_sequences"] = ReturnSequences;
        spec["return_state"] = ReturnState;
        spec["go_backwards"] = GoBackwards;
        spec["dropout"] = Dropout;
        spec["recurrent_dropout"] = RecurrentDropout;
        spec["seed"] = Seed;
    }

    /// <summary>The settings every recurrent layer reads from a spec.</summary>
    protected internal readonly record struct Config(int Units, bool ReturnSequences, bool ReturnState, bool GoBackwards,
        float Dropout, float RecurrentDropout, int Seed, string? Name)
    {
        public static Config Read(SpecReader r) => new(r.Size("units", SpecLimits.MaxUnits), r.Bool("return_sequences", false),
            r.Bool("return_state", false), r.Bool("go_backwards", false), r.Float("dropout", 0f, 0, 0.999999),
            r.Float("recurrent_dropout", 0f, 0, 0.999999), r.Int("seed", 0), r.OptionalString("name"));
    }
}
