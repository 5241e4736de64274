using DistTrain.Engine.Kernels;
using System.Text.Json.Nodes;
using DistTrain.Engine.Spec;

namespace DistTrain.Engine.Layers;

/// <summary>
/// Looks token ids up in a table: x (B, T) integer ids stored as floats, table (V, E), y (B, T, E) = table[x].
/// Backward scatters: dtable[x[b, t]] += dy[b, t]; ids have no gradient. With maskZero, id 0 is padding and the
/// layer emits a (B, T) mask that the recurrent and pooling layers after it honour.
/// </summary>
public sealed class Embedding : Layer
{
    private Parameter _table = null!;
    private Tensor _input = null!;
    private readonly Tensor _output = new(0), _mask = new(0), _none = new(0);

    public Embedding(int inputDim, int outputDim, bool maskZero = false, Initializer? embeddingsInitializer = null, string? name = null)
        : base(name)
    {
        if (inputDim < 1) throw new ArgumentOutOfRangeException(nameof(inputDim), inputDim, "the vocabulary needs at least one id");
        if (outputDim < 1) throw new ArgumentOutOfRangeException(nameof(outputDim), outputDim, "embeddings need at least one dimension");
        InputDim = inputDim;
        OutputDim = outputDim;
        MaskZero = maskZero;
        EmbeddingsInitializer = embeddingsInitializer ?? Initializer.Uniform;
    }

    public int InputDim { get; }
    public int OutputDim { get; }
    public bool MaskZero { get; }
    public Initializer EmbeddingsInitializer { get; }
    public override string TypeName => "embedding";

    protected override int[] OnBuild(int[] inputShape, ParameterStore store)
    {
        if (inputShape.Length != 1)
            throw new ArgumentException($"{Name}: Embedding expects token ids of shape (time), got {FormatShape(inputShape)}");
        _table = AddWeight(store, "embeddings", [InputDim, OutputDim], EmbeddingsInitializer);
        return [inputShape[0], OutputDim];
    }

    public override Tensor Forward(Tensor x, bool training)
    {
        _input = x;
        var y = _output.Resize(x.Batch, OutputShape);
        var ids = x.Span;
        var table = _table.Value;
        var ys = y.Span;
        int e = OutputDim;
        for (int i = 0; i < ids.Length; i++)
            Rows.Copy(table.Slice(Id(ids[i], i) * e, e), ys.Slice(i * e, e));
        if (MaskZero)
        {
            var m = _mask.Resize(x.Batch, InputShape).Span;
            for (int i = 0; i < ids.Length; i++) m[i] = ids[i] == 0 ? 0 : 1;
        }
        return y;
    }

    private int Id(float value, int at)
    {
        int id = (int)value;
        if (id != value || (uint)id >= (uint)InputDim)
            throw new ArgumentException(
                $"{Name}: token id {value} at sample {at / InputShape[0]}, step {at % InputShape[0]} is outside the vocabulary [0, {InputDim})");
        return id;
    }

    public override Tensor? ComputeMask(Tensor input) => MaskZero ? _mask : null;

    public override Tensor Backward(Tensor dy)
    {
        var ids = _input.Span;
        var grad = _table.Grad;
        int e = OutputDim;
        var dys = dy.Span;
        for (int i = 0; i < ids.Length; i++) Rows.AddInto(grad.Slice((int)ids[i] * e, e), dys.Slice(i * e, e));
        return _none; // token ids are not differentiable
    }

    protected override void WriteConfig(JsonObject spec)
    {
        spec["input_dim"] = InputDim;
        spec["output_dim"] = OutputDim;
        spec["mask_zero"] = MaskZero;
        spec["embeddings_initializer"] = EmbeddingsInitializer.Name;
    }

    internal static Embedding FromSpec(SpecReader r) => new(r.Size("input_dim", SpecLimits.MaxEmbeddingInput), r.Size("output_dim", SpecLimits.MaxEmbeddingOutput),
        r.Bool("mask_zero", false), Initializer.FromName(r.String("embeddings_initializer", "uniform")), r.OptionalString("name"));
}
