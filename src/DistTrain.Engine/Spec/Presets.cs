namespace DistTrain.Engine.Spec;

/// <summary>The built-in model specs, exactly as the project's workloads define them.</summary>
public static class Presets
{
    private static readonly Dictionary<string, string> Specs = new()
    {
        // Conv2D(32,3×3,relu), MaxPool 2, Conv2D(64,3×3,relu), MaxPool 2, Flatten, Dense 64 relu, Dense 10 softmax.
        ["mnist-cnn"] = """
        {
          "name": "mnist-cnn",
          "input_shape": [28, 28, 1],
          "layers": [
            { "type": "conv2d", "filters": 32, "kernel_size": 3, "activation": "relu" },
            { "type": "max_pooling2d", "pool_size": 2 },
            { "type": "conv2d", "filters": 64, "kernel_size": 3, "activation": "relu" },
            { "type": "max_pooling2d", "pool_size": 2 },
            { "type": "flatten" },
            { "type": "dense", "units": 64, "activation": "relu" },
            { "type": "dense", "units": 10, "activation": "softmax" }
          ],
          "optimizer": "adam",
          "loss": "sparse_categorical_crossentropy",
          "metrics": ["accuracy"]
        }
        """,
        // Flatten, Dense 128 relu, Dense 10 (logits, so the loss takes logits).
        ["mnist-mlp"] = """
        {
          "name": "mnist-mlp",
          "input_shape": [28, 28, 1],
          "layers": [
            { "type": "flatten" },
            { "type": "dense", "units": 128, "activation": "relu" },
            { "type": "dense", "units": 10 }
          ],
          "optimizer": "adam",
          "loss": { "type": "sparse_categorical_crossentropy", "from_logits": true },
          "metrics": ["accuracy"]
        }
        """,
        // Embedding(10000,16), GlobalAveragePooling1D, Dense 16 relu, Dense 1 sigmoid; sequences of 256.
        ["imdb-gap"] = """
        {
          "name": "imdb-gap",
          "input_shape": [256],
          "layers": [
            { "type": "embedding", "input_dim": 10000, "output_dim": 16 },
            { "type": "global_average_pooling1d" },
            { "type": "dense", "units": 16, "activation": "relu" },
            { "type": "dense", "units": 1, "activation": "sigmoid" }
          ],
          "optimizer": "adam",
          "loss": "binary_crossentropy",
          "metrics": ["accuracy"]
        }
        """,
        // Embedding(10000,128), LSTM 128 (dropout 0.2, recurrent dropout 0.2), Dense 1 sigmoid; sequences of 256.
        ["imdb-lstm"] = """
        {
          "name": "imdb-lstm",
          "input_shape": [256],
          "layers": [
            { "type": "embedding", "input_dim": 10000, "output_dim": 128 },
            { "type": "lstm", "units": 128, "dropout": 0.2, "recurrent_dropout": 0.2 },
            { "type": "dense", "units": 1, "activation": "sigmoid" }
          ],
          "optimizer": "adam",
          "loss": "binary_crossentropy",
          "metrics": ["accuracy"]
        }
        """,
    };

    public static IEnumerable<string> Names => Specs.Keys;

    public static bool TryGet(string name, out string json) => Specs.TryGetValue(name, out json!);

    /// <summary>Lets another assembly add presets (the IMDB models live with the sequence layers).</summary>
    public static void Register(string name, string json) => Specs[name] = json;
}
