using System.Text.Json.Nodes;

namespace DistTrain.Engine.Layers;

/// <summary>
/// A layer of a model. Shapes exclude the batch: a layer maps (B, ...InputShape) to (B, ...OutputShape).
/// <para>
/// <see cref="Forward"/> keeps what <see cref="Backward"/> needs (its input, its output, masks); Backward takes
/// dL/dy, accumulates (+=) into its parameters' gradients, and returns dL/dx. The tensors a layer returns are its
/// own and are reused on the next call, so a training step allocates nothing once shapes have settled.
/// </para>
/// </summary>
public abstract class Layer
{
    private readonly List<Parameter> _parameters = [];

    protected Layer(string? name) => Name = name;

    /// <summary>The layer's name, unique within its model ("conv2d_1"); assigned when added, if not given.</summary>
    public string? Name { get; internal set; }

    /// <summary>The spec's "type" for this layer, e.g. "conv2d".</summary>
    public abstract string TypeName { get; }

    /// <summary>Per-sample input shape, known once built.</summary>
    public int[] InputShape { get; private set; } = [];

    /// <summary>Per-sample output shape, known once built.</summary>
    public int[] OutputShape { get; private set; } = [];

    /// <summary>True once <see cref="Build"/> has run.</summary>
    public bool IsBuilt { get; private set; }

    /// <summary>
    /// Whether <see cref="Backward"/> must produce dL/dx. The model clears it on the first layer that has weights,
    /// since nothing before it needs a gradient (for the first convolution that skips a whole col2im pass).
    /// </summary>
    public bool ComputeInputGradient { get; set; } = true;

    /// <summary>This layer's parameters, including non-trainable state.</summary>
    public IReadOnlyList<Parameter> Parameters => _parameters;

    /// <summary>Number of scalars in this layer's parameters (trainable and not).</summary>
    public int ParameterCount => _parameters.Sum(p => p.Length);

    /// <summary>Declares the layer's weights in <paramref name="store"/> and fixes its output shape.</summary>
    public void Build(int[] inputShape, ParameterStore store)
    {
        if (IsBuilt) throw new InvalidOperationException($"layer {Name} is already built; a layer belongs to one model");
        InputShape = inputShape;
        OutputShape = OnBuild(inputShape, store);
        IsBuilt = true;
    }

    /// <summary>Validates the input shape, declares weights and returns the output shape.</summary>
    protected abstract int[] OnBuild(int[] inputShape, ParameterStore store);

    /// <summary>y = f(x). <paramref name="training"/> switches dropout, batch statistics and augmentation on.</summary>
    public abstract Tensor Forward(Tensor x, bool training);

    /// <summary>Given dL/dy for the last Forward, accumulates weight gradients and returns dL/dx.</summary>
    public abstract Tensor Backward(Tensor dy);

    /// <summary>
    /// The mask of this layer's output given its input (Keras' compute_mask). By default a layer consumes the mask;
    /// layers that keep the time axis pass it on, and Embedding makes one.
    /// </summary>
    public virtual Tensor? ComputeMask(Tensor input) => null;

    /// <summary>
    /// Moves a stochastic layer (dropout, augmentation) to random stream <paramref name="stream"/> of its seed; stream 0
    /// is the seed's own. Data-parallel replicas each take their rank's stream: with one stream, every replica would draw
    /// the same masks for its slice of the batch, so the global batch would repeat each mask N times.
    /// </summary>
    public void UseRandomStream(int stream)
    {
        foreach (var r in RandomStreams) r.UseStream(stream);
    }

    /// <summary>The layer's random streams (its own and its sublayers'), in a fixed order: a checkpoint saves their states.</summary>
    public virtual IEnumerable<LayerRandom> RandomStreams => [];

    /// <summary>The layer's configuration as a spec object: {"type": ..., "name": ..., ...}.</summary>
    public JsonObject ToSpec()
    {
        var o = new JsonObject { ["type"] = TypeName, ["name"] = Name };
        WriteConfig(o);
        return o;
    }

    /// <summary>Adds the layer's own settings to its spec object.</summary>
    protected abstract void WriteConfig(JsonObject spec);

    /// <summary>Declares a weight owned by this layer.</summary>
    protected Parameter AddWeight(ParameterStore store, string weight, int[] shape, Initializer init,
        Regularizer? regularizer = null, bool trainable = true)
    {
        var p = store.Add($"{Name}/{weight}", shape, trainable, init, regularizer);
        _parameters.Add(p);
        return p;
    }

    /// <summary>Adopts the weights of a nested layer (for containers such as <see cref="Residual"/>).</summary>
    protected void AdoptParameters(Layer inner) => _parameters.AddRange(inner._parameters);

    /// <summary>Formats a per-sample shape as Keras prints it: (None, 26, 26, 32).</summary>
    public static string FormatShape(int[] shape) => "(None" + string.Concat(shape.Select(d => ", " + d)) + ")";
}

/// <summary>A layer whose output is an activation of a pre-activation z, so a loss can hand it dL/dz directly.</summary>
public interface IActivated
{
    /// <summary>The activation applied last.</summary>
    ActivationKind Activation { get; }

    /// <summary>Backward from dL/dz, the gradient with respect to the pre-activation.</summary>
    Tensor BackwardFromPreActivation(Tensor dz);
}
