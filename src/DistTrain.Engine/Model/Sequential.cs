using System.Text;
using DistTrain.Engine.Callbacks;
using DistTrain.Engine.Layers;
using DistTrain.Engine.Losses;
using DistTrain.Engine.Optimizers;

namespace DistTrain.Engine.Model;

/// <summary>
/// A linear stack of layers with Keras' workflow: Add, Compile, Fit, Evaluate, Predict, Summary, Save, Load.
/// <para>
/// All trainable weights live in one flat buffer (<see cref="Store"/>), their gradients in another of the same
/// layout. A training step is split into <see cref="ComputeGradients(Tensor, Tensor)"/> and <see cref="ApplyGradients"/> so that a
/// distributed trainer can average the gradient buffer between the two.
/// </para>
/// </summary>
public sealed class Sequential
{
    private readonly List<Layer> _layers = [];
    private readonly Tensor _batchX = new(0), _batchY = new(0), _dOut = new(0);
    private int _firstTrainable = -1;
    private bool _fused;

    /// <param name="inputShape">Per-sample input shape, e.g. (28, 28, 1).</param>
    /// <param name="seed">Seeds weight initialisation, so the same seed gives the same model.</param>
    public Sequential(int[] inputShape, int seed = 1, string name = "sequential")
    {
        if (inputShape.Length == 0 || inputShape.Any(d => d < 1))
            throw new ArgumentException($"input shape must be non-empty with positive dimensions, got ({string.Join(", ", inputShape)})");
        InputShape = inputShape;
        Seed = seed;
        Name = name;
    }

    public string Name { get; }
    public int[] InputShape { get; }
    public int Seed { get; }
    public IReadOnlyList<Layer> Layers => _layers;

    /// <summary>Moves every stochastic layer to random stream <paramref name="stream"/> (<see cref="Layer.UseRandomStream"/>).</summary>
    public void UseRandomStream(int stream)
    {
        foreach (var layer in _layers) layer.UseRandomStream(stream);
    }

    /// <summary>Moves every random stream to the start of training step <paramref name="step"/> (counted over the run).</summary>
    public void SeekRandom(long step)
    {
        foreach (var r in _layers.SelectMany(l => l.RandomStreams)) r.Seek(step);
    }

    /// <summary>The states of the stochastic layers' random streams, in layer order.</summary>
    public IReadOnlyList<RandomState> RandomStates => [.. _layers.SelectMany(l => l.RandomStreams).Select(r => r.State)];

    /// <summary>Puts the random streams back as <see cref="RandomStates"/> found them; refuses a list of another length.</summary>
    public void RestoreRandomStates(IReadOnlyList<RandomState> states)
    {
        var streams = _layers.SelectMany(l => l.RandomStreams).ToList();
        if (states.Count != streams.Count)
            throw new InvalidDataException($"the checkpoint holds {states.Count} random stream states, but the model has {streams.Count} stochastic streams");
        for (int i = 0; i < streams.Count; i++) streams[i].Restore(states[i]);
    }

    /// <summary>
    /// Where <see cref="Fit"/> stands: current after every batch and epoch (so a callback can save a checkpoint mid-run),
    /// the finished run's end afterwards, or what a loaded file held. <see cref="Save"/> writes it.
    /// </summary>
    public TrainingCheckpoint? TrainingState
    {
        get => _fit?.ToCheckpoint(RandomStates) ?? _loadedState;
        set => (_loadedState, _fit) = (value, null);
    }

    // Fit's position and running sums, updated in place every batch; TrainingState builds a checkpoint from them only
    // when asked, so the training loop allocates nothing for it.
    private FitPosition? _fit;
    private TrainingCheckpoint? _loadedState;

    private sealed class FitPosition(TrainingCheckpoint plan, History history)
    {
        public int Epoch, Step;
        public double LossSum;
        public long Seen, Correct, Judged;

        public TrainingCheckpoint ToCheckpoint(IReadOnlyList<RandomState> random) => plan with
        {
            Epoch = Epoch, Step = Step, Random = random,
            History = [.. Enumerable.Range(0, history.Epochs)
                .Select(e => (IReadOnlyDictionary<string, double>)history.Values.ToDictionary(kv => kv.Key, kv => kv.Value[e]))],
            EpochSums = Step == 0 ? new Dictionary<string, double>()
                : new Dictionary<string, double> { ["loss_sum"] = LossSum, ["samples"] = Seen, ["correct"] = Correct, ["judged"] = Judged },
        };
    }
    public ParameterStore Store { get; } = new();
    public Optimizer? Optimizer { get; private set; }
    public Loss? Loss { get; private set; }
    public IReadOnlyList<string> Metrics { get; private set; } = [];
    public bool IsBuilt { get; private set; }

    /// <summary>Per-sample output shape.</summary>
    public int[] OutputShape => _layers.Count == 0 ? InputShape : _layers[^1].OutputShape;

    /// <summary>Set by a callback to end Fit after the current epoch.</summary>
    public bool StopTraining { get; set; }

    /// <summary>Appends a layer. Names are made unique as Keras does: dense, dense_1, ...</summary>
    public Sequential Add(Layer layer)
    {
        if (IsBuilt) throw new InvalidOperationException("layers cannot be added after the model is built or compiled");
        string baseName = layer.Name ?? layer.TypeName;
        string unique = baseName;
        for (int i = 1; _layers.Any(l => l.Name == unique); i++) unique = $"{baseName}_{i}";
        if (layer.Name is not null && unique != layer.Name)
            throw new ArgumentException($"the model already has a layer named '{layer.Name}'");
        layer.Name = unique;
        _layers.Add(layer);
        return this;
    }

    /// <summary>Fixes every shape and allocates and initialises the flat parameter buffers.</summary>
    public void Build()
    {
        if (IsBuilt) return;
        BuildShapes();
        Store.Allocate(Seed);
        // Nothing before the first layer with weights needs a gradient, so backward stops there.
        _firstTrainable = _layers.FindIndex(l => l.Parameters.Any(p => p.Trainable));
        if (_firstTrainable >= 0) _layers[_firstTrainable].ComputeInputGradient = false;
        IsBuilt = true;
    }

    /// <summary>
    /// The first half of <see cref="Build"/>: fixes every layer's shapes and declares its weights, allocating nothing,
    /// so that a spec's parameter count can be checked before a hostile spec allocates gigabytes.
    /// </summary>
    internal void BuildShapes()
    {
        if (_layers.Count == 0) throw new InvalidOperationException("the model has no layers");
        if (_layers[^1].IsBuilt) return;
        var shape = InputShape;
        foreach (var layer in _layers)
        {
            layer.Build(shape, Store);
            shape = layer.OutputShape;
        }
    }

    /// <summary>Chooses the optimizer, loss and metrics ("accuracy" is the one metric).</summary>
    public void Compile(Optimizer optimizer, Loss loss, IEnumerable<string>? metrics = null)
    {
        Build();
        var list = (metrics ?? []).ToList();
        foreach (var m in list)
            if (m is not ("accuracy" or "acc"))
                throw new ArgumentException($"unknown metric '{m}'; the supported metric is accuracy");
        Optimizer = optimizer;
        Loss = loss;
        Metrics = list.Count > 0 ? ["accuracy"] : [];
        // Softmax + cross-entropy (and sigmoid + binary cross-entropy) take their gradient at the logits.
        _fused = _layers[^1] is IActivated a && loss.FusesWith(a.Activation);
        if (loss is SparseCategoricalCrossentropy && OutputShape[^1] < 2)
            throw new ArgumentException($"sparse categorical cross-entropy needs at least 2 output classes, but the model outputs {Layer.FormatShape(OutputShape)}");
    }

    /// <summary>Runs the layers on a batch x (B, ...InputShape).</summary>
    public Tensor Forward(Tensor x, bool training)
    {
        Build();
        var h = x;
        foreach (var layer in _layers)
        {
            var y = layer.Forward(h, training);
            y.Mask = layer.ComputeMask(h);
            h = y;
        }
        return h;
    }

    /// <summary>
    /// Forward and backward on one batch: zeroes the gradient buffer, then fills it with dL/dθ of the batch's mean
    /// loss plus regularisation. Returns the loss and the batch's correct-prediction count.
    /// </summary>
    public (double Loss, long Correct, long Judged) ComputeGradients(Tensor x, Tensor y) => ComputeGradients(x, y, null);

    /// <param name="gradientMeanOver">When set, the loss gradient is a mean over this many samples instead of this batch's
    /// (a replica passes the global batch, and the ring then sums).</param>
    /// <param name="regularizerGradient">Whether to add the regularisers' gradient (a replica other than rank 0 does not,
    /// so that the sum over replicas holds it once). The penalty is always part of the returned loss.</param>

    /// <summary>
    /// As <see cref="ComputeGradients(Tensor, Tensor)"/>, calling <paramref name="onLayerDone"/> with each layer's index
    /// as soon as its backward has finished, so that a data-parallel trainer can start reducing finished gradients
    /// while backward goes on. Regularisation gradients are added before the first call.
    /// </summary>
    /// <param name="onForwardDone">Called once the batch's loss (with the penalty) and correct count are known, before
    /// backward starts: a data-parallel trainer starts reducing them across ranks while backward runs.</param>
    public (double Loss, long Correct, long Judged) ComputeGradients(Tensor x, Tensor y, Action<int>? onLayerDone,
        int gradientMeanOver = 0, bool regularizerGradient = true, Action<double, long, long>? onForwardDone = null)
    {
        var loss = RequireCompiled();
        var output = Forward(x, training: true);
        int batch = x.Batch, width = OutputShape[^1], rows = output.Length / width;
        var grad = _dOut.Resize(batch, OutputShape);
        Array.Clear(Store.Gradients);
        // Rows beyond the batch (Dense over a time axis) scale with it.
        int meanOver = gradientMeanOver > 0 ? gradientMeanOver * (rows / batch) : 0;
        double value = _fused
            ? loss.ComputeFused(output.Span, y.Span, rows, width, grad.Span, meanOver)
            : loss.Compute(output.Span, y.Span, rows, width, grad.Span, meanOver);
        var (correct, judged) = Accuracy.Count(loss, output.Span, y.Span, rows, width);
        // The penalty's gradient goes in first, so each layer's gradient is final when its backward returns.
        foreach (var p in Store.Parameters)
            if (p.Regularizer is { } r) value += regularizerGradient ? r.Apply(p.Value, p.Grad) : r.Penalty(p.Value);
        onForwardDone?.Invoke(value, correct, judged);
        if (_firstTrainable >= 0)
        {
            Tensor g = grad;
            int last = _layers.Count - 1;
            g = _fused ? ((IActivated)_layers[last]).BackwardFromPreActivation(g) : _layers[last].Backward(g);
            onLayerDone?.Invoke(last);
            for (int i = last - 1; i >= _firstTrainable; i--)
            {
                g = _layers[i].Backward(g);
                onLayerDone?.Invoke(i);
            }
        }
        return (value, correct, judged);
    }

    /// <summary>
    /// Whether every gradient and every piece of layer state (batch-norm statistics) is finite: a step whose (reduced)
    /// values hold NaN or Inf is better skipped than applied.
    /// </summary>
    public bool StepIsFinite() => Kernels.Finite.All(Store.Gradients) && Kernels.Finite.All(Store.State);

    /// <summary>One optimizer step from the gradient buffer.</summary>
    public void ApplyGradients()
    {
        RequireCompiled();
        Optimizer!.Step(Store.Values, Store.Gradients);
    }

    /// <summary>ComputeGradients then ApplyGradients; returns the batch loss.</summary>
    public double TrainOnBatch(Tensor x, Tensor y)
    {
        var (loss, _, _) = ComputeGradients(x, y);
        ApplyGradients();
        return loss;
    }

    /// <summary>
    /// Trains for <paramref name="epochs"/> epochs. <paramref name="validationSplit"/> holds out the last fraction of
    /// the samples (before shuffling), as Keras does; <paramref name="validationData"/> takes precedence.
    /// The last batch of an epoch may be smaller.
    /// </summary>
    /// <param name="resumeFrom">Continues a run from where this checkpoint stands (<see cref="ModelFile.Read(string)"/>),
    /// the model holding its weights: <paramref name="epochs"/> stays the run's total, the rest of the interrupted
    /// epoch gets exactly the batches and random draws the uninterrupted run would have, and the returned history
    /// includes the checkpoint's epochs.</param>
    public History Fit(Tensor x, Tensor y, int epochs = 1, int batchSize = 32, (Tensor X, Tensor Y)? validationData = null,
        double validationSplit = 0, bool shuffle = true, IReadOnlyList<Callback>? callbacks = null, TrainingCheckpoint? resumeFrom = null)
    {
        RequireCompiled();
        CheckData(x, y, "training");
        if (epochs is < 0 or > Spec.SpecLimits.MaxEpochs)
            throw new ArgumentOutOfRangeException(nameof(epochs), epochs, $"epochs must be between 0 and {Spec.SpecLimits.MaxEpochs:N0}");
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "batch size must be ≥ 1");
        if (validationSplit is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(validationSplit), validationSplit, "validation split must be in [0, 1)");
        int total = x.Batch, trainCount = total, valStart = total;
        if (validationData is null && validationSplit > 0)
        {
            trainCount = (int)(total * (1 - validationSplit));
            valStart = trainCount;
            if (trainCount == 0 || trainCount == total)
                throw new ArgumentException($"a validation split of {validationSplit} leaves no samples on one side of {total}");
        }
        if (validationData is { } vd) CheckData(vd.X, vd.Y, "validation");
        if (trainCount == 0) throw new ArgumentException("there are no training samples");

        callbacks ??= [];
        var history = new History();
        var order = Enumerable.Range(0, trainCount).ToArray();
        int batches = (trainCount + batchSize - 1) / batchSize;
        var plan = new TrainingCheckpoint { StepsPerEpoch = batches, GlobalBatch = batchSize, Seed = Seed, Epochs = epochs };
        var at = new FitPosition(plan, history);
        int firstEpoch = 0, firstBatch = 0;
        if (resumeFrom is { } from)
        {
            from.CheckResumableBy(plan);
            (firstEpoch, firstBatch) = (at.Epoch, at.Step) = (from.Epoch, from.Step);
            double Sum(string k) => from.EpochSums.GetValueOrDefault(k);
            (at.LossSum, at.Seen, at.Correct, at.Judged) = (Sum("loss_sum"), (long)Sum("samples"), (long)Sum("correct"), (long)Sum("judged"));
            foreach (var h in from.History) history.Record(h);
            // Each epoch shuffles the last epoch's order: a resumed run replays the epochs before it to stand where the
            // uninterrupted run stood.
            if (shuffle)
                for (int e = 0; e < firstEpoch; e++) Shuffle(order, e);
        }
        _fit = at;
        StopTraining = false;
        foreach (var c in callbacks) c.OnTrainBegin(this);
        for (int epoch = firstEpoch; epoch < epochs && !StopTraining; epoch++)
        {
            foreach (var c in callbacks) c.OnEpochBegin(epoch);
            if (shuffle) Shuffle(order, epoch);
            for (int b = epoch == firstEpoch ? firstBatch : 0; b < batches; b++)
            {
                int start = b * batchSize, count = Math.Min(batchSize, trainCount - start);
                _batchX.GatherFrom(x, order.AsSpan(start, count));
                _batchY.GatherFrom(y, order.AsSpan(start, count));
                SeekRandom((long)epoch * batches + b); // the step's draws depend on the step alone, so a resumed run repeats them
                var (l, c, j) = ComputeGradients(_batchX, _batchY);
                ApplyGradients();
                (at.Epoch, at.Step) = (epoch, b + 1);
                at.LossSum += l * count;
                at.Correct += c;
                at.Judged += j;
                at.Seen += count;
                var logs = new BatchLogs(epoch, b, batches, at.Seen, at.LossSum / at.Seen, at.Judged == 0 ? 0 : (double)at.Correct / at.Judged);
                foreach (var cb in callbacks) cb.OnBatchEnd(logs);
            }
            var epochLogs = new Dictionary<string, double> { ["loss"] = at.LossSum / at.Seen };
            if (Metrics.Count > 0) epochLogs["accuracy"] = (double)at.Correct / at.Judged;
            EvaluationResult? val = validationData is { } v ? Evaluate(v.X, v.Y, batchSize)
                : valStart < total ? EvaluateRange(x, y, valStart, total, batchSize) : null;
            if (val is { } r)
            {
                epochLogs["val_loss"] = r.Loss;
                if (Metrics.Count > 0) epochLogs["val_accuracy"] = r.Accuracy;
            }
            history.Record(epochLogs);
            (at.Epoch, at.Step, at.LossSum, at.Seen, at.Correct, at.Judged) = (epoch + 1, 0, 0, 0, 0, 0);
            foreach (var c in callbacks) c.OnEpochEnd(epoch, epochLogs);
        }
        foreach (var c in callbacks) c.OnTrainEnd();
        return history;
    }

    private void Shuffle(int[] order, int epoch) => new Random(unchecked(Seed * 31 + epoch)).Shuffle(order);

    /// <summary>Mean loss (with regularisation, as Keras reports it) and accuracy over (x, y), in inference mode.</summary>
    public EvaluationResult Evaluate(Tensor x, Tensor y, int batchSize = 32)
    {
        RequireCompiled();
        CheckData(x, y, "evaluation");
        return EvaluateRange(x, y, 0, x.Batch, batchSize);
    }

    private EvaluationResult EvaluateRange(Tensor x, Tensor y, int from, int to, int batchSize)
    {
        var loss = Loss!;
        int width = OutputShape[^1];
        double lossSum = 0;
        long correct = 0, judged = 0;
        var indices = new int[Math.Min(batchSize, Math.Max(0, to - from))];
        for (int start = from; start < to; start += batchSize)
        {
            int count = Math.Min(batchSize, to - start);
            for (int i = 0; i < count; i++) indices[i] = start + i;
            _batchX.GatherFrom(x, indices.AsSpan(0, count));
            _batchY.GatherFrom(y, indices.AsSpan(0, count));
            var output = Forward(_batchX, training: false);
            int rows = output.Length / width;
            lossSum += loss.Compute(output.Span, _batchY.Span, rows, width, default) * count;
            var (c, j) = Accuracy.Count(loss, output.Span, _batchY.Span, rows, width);
            correct += c;
            judged += j;
        }
        int n = to - from;
        double penalty = Store.Parameters.Sum(p => p.Regularizer?.Penalty(p.Value) ?? 0);
        return new EvaluationResult(n == 0 ? 0 : lossSum / n + penalty, judged == 0 ? 0 : (double)correct / judged, n);
    }

    /// <summary>Outputs for every sample of x, in inference mode: (N, ...OutputShape).</summary>
    public Tensor Predict(Tensor x, int batchSize = 32)
    {
        Build();
        CheckInput(x, "prediction");
        var result = new Tensor([x.Batch, .. OutputShape]);
        int outSize = Tensor.Count(OutputShape), inSize = Tensor.Count(InputShape);
        for (int start = 0; start < x.Batch; start += batchSize)
        {
            int count = Math.Min(batchSize, x.Batch - start);
            _batchX.Resize(count, InputShape);
            x.Span.Slice(start * inSize, count * inSize).CopyTo(_batchX.Span);
            Forward(_batchX, training: false).Span.CopyTo(result.Span.Slice(start * outSize, count * outSize));
        }
        return result;
    }

    /// <summary>A Keras-style table of layers, output shapes and parameter counts.</summary>
    public string Summary()
    {
        Build();
        var sb = new StringBuilder();
        sb.AppendLine($"Model: \"{Name}\"");
        string rule = new('─', 72);
        sb.AppendLine(rule);
        sb.AppendLine($"{"Layer (type)",-34}{"Output Shape",-24}{"Param #",14}");
        sb.AppendLine(rule);
        foreach (var l in _layers)
            sb.AppendLine($"{$"{l.Name} ({l.GetType().Name})",-34}{Layer.FormatShape(l.OutputShape),-24}{l.ParameterCount,14:N0}");
        sb.AppendLine(rule);
        int trainable = Store.TrainableCount, state = Store.State.Length;
        sb.AppendLine($"Total params: {trainable + state:N0}");
        sb.AppendLine($"Trainable params: {trainable:N0}");
        sb.AppendLine($"Non-trainable params: {state:N0}");
        return sb.ToString();
    }

    /// <summary>Writes architecture, weights and optimizer state to a checksummed file.</summary>
    public void Save(string path) => ModelFile.Save(this, path, TrainingState);

    /// <summary>Reads a file written by <see cref="Save"/>, refusing one that is corrupt or of another version.</summary>
    public static Sequential Load(string path) => ModelFile.Load(path);

    private Loss RequireCompiled() =>
        Loss ?? throw new InvalidOperationException("the model must be compiled (Compile) before training or evaluation");

    private void CheckInput(Tensor x, string what)
    {
        if (!x.Shape.AsSpan(1).SequenceEqual(InputShape))
            throw new ArgumentException($"{what} inputs have shape {x.ShapeString}, but the model expects {Layer.FormatShape(InputShape)}");
    }

    private void CheckData(Tensor x, Tensor y, string what)
    {
        CheckInput(x, what);
        if (y.Batch != x.Batch)
            throw new ArgumentException($"{what} data has {x.Batch} inputs but {y.Batch} targets");
        int expected = Loss!.TargetWidth(OutputShape[^1]) * (Tensor.Count(OutputShape) / OutputShape[^1]);
        if (y.SampleSize != expected)
            throw new ArgumentException(
                $"{what} targets have shape {y.ShapeString}, but {Loss.Name} on outputs {Layer.FormatShape(OutputShape)} needs {expected} value(s) per sample");
    }

}
