using System.Numerics.Tensors;
using System.Text.Json.Nodes;
using DistTrain.Engine.Spec;

namespace DistTrain.Engine.Layers;

/// <summary>
/// Batch normalization over the last axis (channels), Keras semantics. x is viewed as (R, C), R = every other axis.
/// <para>Training: μ = mean_R x, σ² = mean_R (x − μ)² (biased), x̂ = (x − μ)/√(σ² + ε), y = γ x̂ + β; the running
/// statistics move as m ← m·momentum + μ·(1 − momentum) (likewise the variance).</para>
/// <para>Inference: x̂ uses the running mean and variance instead.</para>
/// </summary>
public sealed class BatchNormalization : Layer
{
    private Parameter _gamma = null!, _beta = null!, _movingMean = null!, _movingVar = null!;
    private readonly Tensor _output = new(0), _dx = new(0);
    private float[] _xhat = [], _mean = [], _invStd = [], _sum1 = [], _sum2 = [];
    private bool _lastTraining;
    private int _c;

    public BatchNormalization(float momentum = 0.99f, float epsilon = 1e-3f, string? name = null) : base(name)
    {
        if (!(momentum >= 0 && momentum <= 1)) throw new ArgumentOutOfRangeException(nameof(momentum), momentum, "momentum must be in [0, 1]");
        if (!(epsilon > 0)) throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon, "epsilon must be positive");
        Momentum = momentum;
        Epsilon = epsilon;
    }

    public float Momentum { get; }
    public float Epsilon { get; }
    public override string TypeName => "batch_normalization";

    protected override int[] OnBuild(int[] inputShape, ParameterStore store)
    {
        if (inputShape.Length == 0) throw new ArgumentException($"{Name}: BatchNormalization needs a channel axis");
        _c = inputShape[^1];
        _gamma = AddWeight(store, "gamma", [_c], Initializer.Ones);
        _beta = AddWeight(store, "beta", [_c], Initializer.Zeros);
        _movingMean = AddWeight(store, "moving_mean", [_c], Initializer.Zeros, trainable: false);
        _movingVar = AddWeight(store, "moving_variance", [_c], Initializer.Ones, trainable: false);
        _mean = new float[_c];
        _invStd = new float[_c];
        _sum1 = new float[_c];
        _sum2 = new float[_c];
        return inputShape;
    }

    public override Tensor Forward(Tensor x, bool training)
    {
        _lastTraining = training;
        int rows = x.Length / _c;
        var xs = x.Span;
        var y = _output.Resize(x.Batch, OutputShape);
        if (_xhat.Length < x.Length) _xhat = new float[x.Length];
        var xhat = _xhat.AsSpan(0, x.Length);
        if (training)
        {
            Array.Clear(_sum1);
            Array.Clear(_sum2);
            for (int r = 0; r < rows; r++) TensorPrimitives.Add(_sum1, xs.Slice(r * _c, _c), _sum1);
            TensorPrimitives.Divide(_sum1, rows, _mean);
            for (int r = 0; r < rows; r++)
            {
                var d = xhat.Slice(r * _c, _c);
                TensorPrimitives.Subtract(xs.Slice(r * _c, _c), _mean, d);
                TensorPrimitives.MultiplyAdd(d, d, _sum2, _sum2);
            }
            var variance = _sum2;                               // reuse: σ² = Σ (x−μ)² / R
            TensorPrimitives.Divide(_sum2, rows, variance);
            for (int ch = 0; ch < _c; ch++) _invStd[ch] = 1f / MathF.Sqrt(variance[ch] + Epsilon);
            var mm = _movingMean.Value;
            var mv = _movingVar.Value;
            for (int ch = 0; ch < _c; ch++)
            {
                mm[ch] = mm[ch] * Momentum + _mean[ch] * (1 - Momentum);
                mv[ch] = mv[ch] * Momentum + variance[ch] * (1 - Momentum);
            }
            for (int r = 0; r < rows; r++) TensorPrimitives.Multiply(xhat.Slice(r * _c, _c), _invStd, xhat.Slice(r * _c, _c));
        }
        else
        {
            _movingMean.Value.CopyTo(_mean);
            var mv = _movingVar.Value;
            for (int ch = 0; ch < _c; ch++) _invStd[ch] = 1f / MathF.Sqrt(mv[ch] + Epsilon);
            for (int r = 0; r < rows; r++)
            {
                var d = xhat.Slice(r * _c, _c);
                TensorPrimitives.Subtract(xs.Slice(r * _c, _c), _mean, d);
                TensorPrimitives.Multiply(d, _invStd, d);
            }
        }
        var gamma = _gamma.Value;
        var beta = _beta.Value;
        for (int r = 0; r < rows; r++) TensorPrimitives.MultiplyAdd(xhat.Slice(r * _c, _c), gamma, beta, y.Span.Slice(r * _c, _c));
        return y;
    }

    /// <summary>
    /// y = γ x̂ + β ⇒ dγ += Σ dy·x̂, dβ += Σ dy. In training, with g = dy·γ:
    /// dx = (1/σ)(g − mean_R g − x̂ · mean_R(g·x̂)), since μ and σ depend on every row. In inference dx = g/σ.
    /// </summary>
    public override Tensor Backward(Tensor dy)
    {
        int rows = dy.Length / _c;
        var dys = dy.Span;
        var xhat = _xhat.AsSpan(0, dy.Length);
        var dgamma = _gamma.Grad;
        var dbeta = _beta.Grad;
        Array.Clear(_sum1);
        Array.Clear(_sum2);
        for (int r = 0; r < rows; r++)
        {
            var d = dys.Slice(r * _c, _c);
            TensorPrimitives.Add(_sum1, d, _sum1);                                  // Σ dy
            TensorPrimitives.MultiplyAdd(d, xhat.Slice(r * _c, _c), _sum2, _sum2);  // Σ dy·x̂
        }
        TensorPrimitives.Add(dbeta, _sum1, dbeta);
        TensorPrimitives.Add(dgamma, _sum2, dgamma);
        if (!ComputeInputGradient) return _dx;
        var dx = _dx.Resize(dy.Batch, InputShape);
        var gamma = _gamma.Value;
        // dx = (γ/σ)(dy − Σdy/R − x̂·Σ(dy·x̂)/R); keep −Σ(dy·x̂)/R so the row loop is one fused multiply-add.
        TensorPrimitives.Divide(_sum1, rows, _sum1);
        TensorPrimitives.Divide(_sum2, -rows, _sum2);
        for (int r = 0; r < rows; r++)
        {
            var d = dys.Slice(r * _c, _c);
            var o = dx.Span.Slice(r * _c, _c);
            if (_lastTraining)
            {
                TensorPrimitives.Subtract(d, _sum1, o);
                TensorPrimitives.MultiplyAdd(xhat.Slice(r * _c, _c), _sum2, o, o);
            }
            else
            {
                d.CopyTo(o);
            }
            TensorPrimitives.Multiply(o, gamma, o);
            TensorPrimitives.Multiply(o, _invStd, o);
        }
        return dx;
    }

    /// <summary>Works step by step, so a sequence mask passes through.</summary>
    public override Tensor? ComputeMask(Tensor input) => input.Mask;

    protected override void WriteConfig(JsonObject spec)
    {
        spec["momentum"] = Momentum;
        spec["epsilon"] = Epsilon;
    }

    internal static BatchNormalization FromSpec(SpecReader r) =>
        new(r.Float("momentum", 0.99f, 0, 1), r.Float("epsilon", 1e-3f, 1e-12), r.OptionalString("name"));
}
