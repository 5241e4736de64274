namespace DistTrain.Engine;

/// <summary>
/// A named view into a model's flat buffers. Trainable parameters live in <see cref="ParameterStore.Values"/> with
/// their gradients at the same offsets in <see cref="ParameterStore.Gradients"/>; non-trainable state (batch-norm
/// running statistics) lives in <see cref="ParameterStore.State"/> and is never optimised (data-parallel replicas
/// average it every step).
/// </summary>
public sealed class Parameter
{
    internal Parameter(string name, int[] shape, bool trainable, Initializer initializer, Regularizer? regularizer)
    {
        Name = name;
        Shape = shape;
        Length = Tensor.Count(shape);
        Trainable = trainable;
        Initializer = initializer;
        Regularizer = regularizer;
    }

    /// <summary>The name, "layer/weight".</summary>
    public string Name { get; }

    /// <summary>The weight's shape, e.g. (KH, KW, C, F) for a convolution kernel.</summary>
    public int[] Shape { get; }

    /// <summary>Offset into the store's buffer.</summary>
    public int Offset { get; internal set; }

    /// <summary>Element count.</summary>
    public int Length { get; }

    /// <summary>Trainable weights get gradients and optimizer updates; state does not.</summary>
    public bool Trainable { get; }

    public Initializer Initializer { get; }

    public Regularizer? Regularizer { get; }

    internal ParameterStore? Store { get; set; }

    private ParameterStore Bound => Store ?? throw new InvalidOperationException($"parameter {Name} is used before its model was built");

    /// <summary>The values.</summary>
    public Span<float> Value => (Trainable ? Bound.Values : Bound.State).AsSpan(Offset, Length);

    /// <summary>The gradient (trainable parameters only).</summary>
    public Span<float> Grad => Trainable
        ? Bound.Gradients.AsSpan(Offset, Length)
        : throw new InvalidOperationException($"{Name} is not trainable and has no gradient");
}

/// <summary>
/// The flat buffers every layer's parameters are carved from: one allocation for values, one of the same layout for
/// gradients (which is what an allreduce reduces), and one for non-trainable state.
/// </summary>
public sealed class ParameterStore
{
    private readonly List<Parameter> _parameters = [];

    public IReadOnlyList<Parameter> Parameters => _parameters;

    /// <summary>Trainable values, flat.</summary>
    public float[] Values { get; private set; } = [];

    /// <summary>Gradients, same layout as <see cref="Values"/>.</summary>
    public float[] Gradients { get; private set; } = [];

    /// <summary>Non-trainable state, flat.</summary>
    public float[] State { get; private set; } = [];

    /// <summary>Declares a weight; its storage exists once <see cref="Allocate"/> has run.</summary>
    public Parameter Add(string name, int[] shape, bool trainable, Initializer initializer, Regularizer? regularizer = null)
    {
        if (Values.Length != 0 || State.Length != 0)
            throw new InvalidOperationException("parameters cannot be added after the store is allocated");
        // Counted in a double, which cannot overflow: a hostile spec's (65536, 65536) kernel must not wrap around.
        double count = shape.Aggregate(1.0, (n, d) => n * d);
        if (count > Spec.SpecLimits.MaxParameters)
            throw new ArgumentException($"weight {name} of shape ({string.Join(", ", shape)}) has {count:N0} values, "
                + $"above the limit of {Spec.SpecLimits.MaxParameters:N0} parameters a model may hold");
        var p = new Parameter(name, shape, trainable, initializer, regularizer);
        _parameters.Add(p);
        return p;
    }

    /// <summary>Lays every declared parameter out in the flat buffers and initialises it from <paramref name="seed"/>.</summary>
    public void Allocate(int seed)
    {
        int trainable = 0, state = 0;
        foreach (var p in _parameters)
        {
            if (p.Trainable) { p.Offset = trainable; trainable += p.Length; }
            else { p.Offset = state; state += p.Length; }
            p.Store = this;
        }
        Values = new float[trainable];
        Gradients = new float[trainable];
        State = new float[state];
        for (int i = 0; i < _parameters.Count; i++)
            _parameters[i].Initializer.Fill(_parameters[i].Value, _parameters[i].Shape, unchecked(seed * 7919 + i * 104729));
    }

    /// <summary>Trainable parameter count.</summary>
    public int TrainableCount => Values.Length;
}
