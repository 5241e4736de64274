using DistTrain.Engine.Layers;

namespace DistTrain.Engine.Tests.Layers;

/// <summary>
/// Finite-difference gradient checks. The objective is f(x, θ) = Σ r ⊙ layer(x) for a fixed random r, so
/// dL/dy = r; Backward's dx and dθ are compared with central differences (f(v + h) − f(v − h)) / 2h at sampled
/// coordinates. Layers that draw random numbers are rebuilt from the same seed for every evaluation, so each
/// evaluation sees the same mask or transform.
/// </summary>
internal static class GradCheck
{
    public const double H = 1e-3, Atol = 3e-3, Rtol = 2e-2;

    /// <param name="input">Makes the input (for token ids); inputs that are not continuous skip the dx check.</param>
    /// <param name="mask">A (B, T) sequence mask to attach to the input.</param>
    public static void Run(Func<Layer> factory, int[] inputShape, int batch = 3, bool training = true, bool rebuildEachTime = false,
        double h = H, double atol = Atol, double rtol = Rtol, int samples = 40, float inputScale = 1,
        Func<Tensor>? input = null, float[]? mask = null)
    {
        var (layer, store) = Build(factory, inputShape);
        var x = input?.Invoke() ?? TestData.Tensor(11, [batch, .. inputShape]);
        if (inputScale != 1) System.Numerics.Tensors.TensorPrimitives.Multiply(x.Span, inputScale, x.Span);
        if (mask is not null) x.Mask = new Tensor(mask, batch, inputShape[0]);
        var y = layer.Forward(x, training);
        var r = TestData.Tensor(12, y.Shape);

        Array.Clear(store.Gradients);
        var dy = new Tensor(y.Shape);
        r.Span.CopyTo(dy.Span);
        var dx = layer.Backward(dy).Span.ToArray();
        var dTheta = store.Gradients.ToArray();

        double F(Layer l)
        {
            var o = l.Forward(x, training).Span;
            double s = 0;
            for (int i = 0; i < o.Length; i++) s += (double)r.Span[i] * o[i];
            return s;
        }
        // A layer that draws random numbers is rebuilt from its seed for every evaluation, with the current
        // (perturbed) weights copied in, so that each evaluation sees the same masks.
        Layer Eval()
        {
            if (!rebuildEachTime) return layer;
            var (fresh, freshStore) = Build(factory, inputShape);
            store.Values.CopyTo(freshStore.Values, 0);
            store.State.CopyTo(freshStore.State, 0);
            return fresh;
        }

        var rng = new Random(5);
        foreach (int i in input is null ? Pick(rng, x.Length, samples) : [])
        {
            float saved = x.Span[i];
            x.Span[i] = (float)(saved + h);
            double fp = F(Eval());
            x.Span[i] = (float)(saved - h);
            double fm = F(Eval());
            x.Span[i] = saved;
            Compare((fp - fm) / (2 * h), dx[i], atol, rtol, $"{layer.Name} dx[{i}]");
        }
        foreach (int i in Pick(rng, store.Values.Length, samples))
        {
            float saved = store.Values[i];
            store.Values[i] = (float)(saved + h);
            double fp = F(Eval());
            store.Values[i] = (float)(saved - h);
            double fm = F(Eval());
            store.Values[i] = saved;
            Compare((fp - fm) / (2 * h), dTheta[i], atol, rtol, $"{layer.Name} dθ[{i}] ({ParameterAt(store, i)})");
        }
    }

    public static (Layer Layer, ParameterStore Store) Build(Func<Layer> factory, int[] inputShape)
    {
        var layer = factory();
        layer.Name ??= layer.TypeName;
        var store = new ParameterStore();
        layer.Build(inputShape, store);
        store.Allocate(3);
        // Random weights everywhere (γ and biases too), so no gradient hides behind a zero or a one.
        TestData.Uniform(store.Values.Length, 21, -0.5f, 0.5f).CopyTo(store.Values, 0);
        return (layer, store);
    }

    public static void Compare(double numeric, double analytic, double atol, double rtol, string what)
    {
        double diff = Math.Abs(numeric - analytic);
        if (!(diff <= atol + rtol * Math.Max(Math.Abs(numeric), Math.Abs(analytic))))
            Assert.Fail($"{what}: numeric {numeric:G6} vs analytic {analytic:G6} (|Δ| = {diff:G3})");
    }

    private static IEnumerable<int> Pick(Random rng, int n, int samples) =>
        n <= samples ? Enumerable.Range(0, n) : Enumerable.Range(0, samples).Select(_ => rng.Next(n)).Distinct();

    private static string ParameterAt(ParameterStore store, int i) =>
        store.Parameters.First(p => p.Trainable && i >= p.Offset && i < p.Offset + p.Length).Name;
}
