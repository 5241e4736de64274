using System.Text.Json.Nodes;
using DistTrain.Engine.Spec;

namespace DistTrain.Engine.Optimizers;

/// <summary>
/// Updates a model's flat trainable buffer from its flat gradient buffer in one sweep, keeping per-parameter
/// slots (moments, accumulators) of the same layout. Hyperparameters and update rules follow Keras 3.
/// Element-wise work is composed from TensorPrimitives passes over the whole buffer, except for Adam, the default,
/// which has a fused one-pass kernel because embedding tables make the update a large share of a step.
/// </summary>
public abstract class Optimizer
{
    private float[][] _slots = [];
    private float[] _scratch = [];

    protected Optimizer(float learningRate)
    {
        if (!(learningRate > 0 && float.IsFinite(learningRate)))
            throw new ArgumentOutOfRangeException(nameof(learningRate), learningRate, "learning rate must be a positive number");
        LearningRate = learningRate;
    }

    public float LearningRate { get; set; }

    /// <summary>Steps taken so far (Keras' iterations); Adam's bias correction uses it.</summary>
    public long Iterations { get; private set; }

    /// <summary>The Keras name.</summary>
    public abstract string Name { get; }

    /// <summary>How many slot buffers this optimizer keeps per parameter.</summary>
    protected abstract int SlotCount { get; }

    /// <summary>The value slots start from (Adagrad starts its accumulator at 0.1).</summary>
    protected virtual float InitialSlotValue(int slot) => 0;

    /// <summary>Applies one update: parameters −= rule(gradients).</summary>
    public void Step(Span<float> parameters, ReadOnlySpan<float> gradients)
    {
        if (parameters.Length != gradients.Length)
            throw new ArgumentException($"{parameters.Length} parameters but {gradients.Length} gradients");
        EnsureSlots(parameters.Length);
        if (_scratch.Length != parameters.Length) _scratch = new float[parameters.Length];
        Iterations++;
        Update(parameters, gradients, _slots, _scratch);
    }

    /// <summary>
    /// Creates the slots for <paramref name="parameters"/> values at their initial values, unless they exist. Before the
    /// first step they do not; a replica that must receive another's optimizer state needs them laid out first.
    /// </summary>
    public void EnsureSlots(int parameters)
    {
        if (_slots.Length == SlotCount && (SlotCount == 0 || _slots[0].Length == parameters)) return;
        _slots = new float[SlotCount][];
        for (int s = 0; s < SlotCount; s++)
        {
            _slots[s] = new float[parameters];
            Array.Fill(_slots[s], InitialSlotValue(s));
        }
    }

    /// <param name="slots">SlotCount buffers, each the length of the parameters.</param>
    /// <param name="scratch">A buffer of the same length for intermediate results.</param>
    protected abstract void Update(Span<float> p, ReadOnlySpan<float> g, float[][] slots, Span<float> scratch);

    /// <summary>The slot buffers, for saving.</summary>
    public IReadOnlyList<float[]> Slots => _slots;

    /// <summary>Restores the step count and slots saved with a model.</summary>
    public void Restore(long iterations, float[][] slots)
    {
        if (slots.Length != 0 && slots.Length != SlotCount)
            throw new ArgumentException($"{Name} keeps {SlotCount} slots, but {slots.Length} were given");
        Iterations = iterations;
        _slots = slots;
    }

    /// <summary>The optimizer's configuration as a spec object.</summary>
    public JsonObject ToSpec()
    {
        var o = new JsonObject { ["type"] = Name, ["learning_rate"] = LearningRate };
        WriteConfig(o);
        return o;
    }

    protected virtual void WriteConfig(JsonObject spec) { }

    /// <summary>Builds an optimizer with Keras defaults from its name.</summary>
    public static Optimizer Create(string name) => FromSpec(new SpecReader(new JsonObject { ["type"] = name }, "optimizer"));

    internal static Optimizer FromSpec(SpecReader r)
    {
        string type = r.String("type", null, "sgd", "adagrad", "rmsprop", "adam");
        Optimizer o = type switch
        {
            "sgd" => new Sgd(r.Float("learning_rate", 0.01f, 0), r.Float("momentum", 0f, 0, 1), r.Bool("nesterov", false)),
            "adagrad" => new Adagrad(r.Float("learning_rate", 0.001f, 0), r.Float("initial_accumulator_value", 0.1f, 0), r.Float("epsilon", 1e-7f, 0)),
            "rmsprop" => new RmsProp(r.Float("learning_rate", 0.001f, 0), r.Float("rho", 0.9f, 0, 1), r.Float("momentum", 0f, 0, 1),
                r.Float("epsilon", 1e-7f, 0), r.Bool("centered", false)),
            _ => new Adam(r.Float("learning_rate", 0.001f, 0), r.Float("beta_1", 0.9f, 0, 1), r.Float("beta_2", 0.999f, 0, 1), r.Float("epsilon", 1e-7f, 0)),
        };
        r.EnsureAllUsed();
        return o;
    }
}
