namespace DistTrain.Engine.Spec;

/// <summary>
/// Upper bounds on what a model spec may ask for. A spec arrives from users and, through a job, from the network; each
/// bound keeps a hostile or mistyped spec from taking the coordinator's or a worker's memory or time, while sitting
/// far above anything the project's workloads use (the largest preset, imdb-lstm, has 1.4 million parameters). A
/// spec over a bound is refused with a <see cref="SpecException"/> naming the layer, the field, the value and the bound.
/// </summary>
public static class SpecLimits
{
    /// <summary>Units of a dense or recurrent layer: 65,536. A 65,536 × 65,536 dense kernel alone is 16 GiB.</summary>
    public const int MaxUnits = 65_536;

    /// <summary>Filters of a convolution: 4,096, eight times the widest layer of a VGG or ResNet.</summary>
    public const int MaxFilters = 4_096;

    /// <summary>Kernel, pool and stride sizes along either axis: 64. Keras models use 1 to 11.</summary>
    public const int MaxKernelSize = 64;

    /// <summary>Vocabulary of an embedding (its input_dim): 1,000,000 ids.</summary>
    public const int MaxEmbeddingInput = 1_000_000;

    /// <summary>Width of an embedding vector (its output_dim): 4,096.</summary>
    public const int MaxEmbeddingOutput = 4_096;

    /// <summary>Layers in a model, counting those nested in residual blocks and bidirectional wrappers: 256.</summary>
    public const int MaxLayers = 256;

    /// <summary>
    /// Parameters of a built model, trainable and not: 200,000,000 (800 MB of float32 values; training holds about
    /// four times that with gradients and Adam's two slots). Checked from the shapes before anything is allocated.
    /// </summary>
    public const long MaxParameters = 200_000_000;

    /// <summary>Epochs of a run: 100,000.</summary>
    public const int MaxEpochs = 100_000;

    /// <summary>
    /// Time steps of a sequence (an embedding's or recurrent layer's input length, the tokenizer's max-len): 10,000.
    /// IMDB's longest review has about 2,500 words, and 25,000 reviews of 10,000 ids are already 1 GB of int32.
    /// </summary>
    public const int MaxSequenceLength = 10_000;

    /// <summary>Vocabulary a tokenizer may keep (num-words): 1,000,000, the embedding's bound.</summary>
    public const int MaxNumWords = MaxEmbeddingInput;

    /// <summary>
    /// Elements of one sample at any point of the model (the input and every layer's output): 16,777,216, so that
    /// one sample's activation is at most 64 MiB of float32 and a batch of them stays within reach.
    /// </summary>
    public const int MaxSampleElements = 16_777_216;

    /// <summary>Size of a spec's text (characters, or bytes of a spec file): 1 MiB, hundreds of times a real spec.</summary>
    public const int MaxSpecChars = 1 << 20;
}
