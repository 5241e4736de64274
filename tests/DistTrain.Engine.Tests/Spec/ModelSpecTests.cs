using DistTrain.Engine.Layers;
using DistTrain.Engine.Spec;

namespace DistTrain.Engine.Tests.Spec;

public class ModelSpecTests
{
    [Fact]
    public void Presets_build_the_exact_architectures()
    {
        var cnn = ModelSpec.Resolve("mnist-cnn");
        Assert.Equal(["conv2d", "max_pooling2d", "conv2d_1", "max_pooling2d_1", "flatten", "dense", "dense_1"], cnn.Layers.Select(l => l.Name));
        Assert.Equal("adam", cnn.Optimizer!.Name);
        Assert.Equal("sparse_categorical_crossentropy", cnn.Loss!.Name);
        var mlp = ModelSpec.Resolve("mnist-mlp");
        Assert.Equal([784], mlp.Layers[0].OutputShape);
        Assert.Equal(128, ((Dense)mlp.Layers[1]).Units);
        Assert.True(mlp.Loss!.FromLogits);
        Assert.Equal(784 * 128 + 128 + 1290, mlp.Store.TrainableCount);
    }

    [Fact]
    public void A_spec_round_trips_through_json()
    {
        string json = """
        { "name": "resnetish", "input_shape": [8, 8, 1], "seed": 4,
          "layers": [
            { "type": "random_translation", "height_factor": 0.1, "width_factor": 0.1, "seed": 2 },
            { "type": "conv2d", "filters": 4, "kernel_size": [3, 3], "padding": "same", "activation": "relu", "kernel_regularizer": "l2" },
            { "type": "residual", "layers": [ { "type": "conv2d", "filters": 4, "kernel_size": 3, "padding": "same" }, { "type": "batch_normalization" } ] },
            { "type": "average_pooling2d" },
            { "type": "dropout", "rate": 0.25 },
            { "type": "flatten" },
            { "type": "dense", "units": 3, "activation": "softmax", "kernel_initializer": "he_normal" } ],
          "optimizer": { "type": "sgd", "learning_rate": 0.05, "momentum": 0.9, "nesterov": true },
          "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"] }
        """;
        var model = ModelSpec.Parse(json);
        string again = ModelSpec.ToJsonText(model);
        var copy = ModelSpec.Parse(again);
        Assert.Equal(again, ModelSpec.ToJsonText(copy));
        Assert.Equal(model.Store.Values, copy.Store.Values);
        Assert.Contains("\"nesterov\": true", again);
    }

    [Theory]
    [InlineData("""{ "input_shape": [4], "layers": [ { "type": "dense", "units": -3 } ], "optimizer": "adam", "loss": "mse" }""", "layers[0].units must be between 1")]
    [InlineData("""{ "input_shape": [4], "layers": [ { "type": "densee", "units": 3 } ], "optimizer": "adam", "loss": "mse" }""", "'densee' is not a layer type")]
    [InlineData("""{ "input_shape": [4], "layers": [ { "type": "dense", "unit": 3 } ], "optimizer": "adam", "loss": "mse" }""", "layers[0].units is required")]
    [InlineData("""{ "input_shape": [4], "layers": [ { "type": "dense", "units": 3, "activaton": "relu" } ], "optimizer": "adam", "loss": "mse" }""", "layers[0].activaton is not a known setting")]
    [InlineData("""{ "input_shape": [4], "layers": [ { "type": "dense", "units": 3 } ], "optimizer": "adamw", "loss": "mse" }""", "optimizer.type must be one of")]
    [InlineData("""{ "input_shape": [4], "layers": [ { "type": "conv2d", "filters": 3, "kernel_size": 3 } ], "optimizer": "adam", "loss": "mse" }""", "layers[0]: conv2d: Conv2D expects inputs of shape (height, width, channels)")]
    [InlineData("""{ "input_shape": [4], "layers": [ ], "optimizer": "adam", "loss": "mse" }""", "layers must hold at least one layer")]
    [InlineData("""{ "input_shape": [4], "layers": [ { "type": "dense", "units": 3 } ], "loss": "mse" }""", "optimizer is required")]
    [InlineData("""{ "input_shape": [4], "layers": [ { "type": "dense", "units": 3 }, ], "optimizer": "adam", "loss": "mse", }""", null)]
    [InlineData("""{ "input_shape": [4], "layers": [ { "type": "dense", "units": 3 } """, "not valid JSON")]
    [InlineData("""[1, 2]""", "must be a JSON object")]
    public void Bad_specs_name_the_field_at_fault(string json, string? expected)
    {
        if (expected is null)
        {
            Assert.NotNull(ModelSpec.Parse(json, "my.json")); // trailing commas are tolerated
            return;
        }
        var e = Assert.Throws<SpecException>(() => ModelSpec.Parse(json, "my.json"));
        Assert.StartsWith("my.json", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Unknown_model_names_list_the_presets()
    {
        var e = Assert.Throws<SpecException>(() => ModelSpec.Resolve("mnist-resnet"));
        Assert.Contains("mnist-cnn", e.Message);
        Assert.Contains("mnist-mlp", e.Message);
    }

    [Fact]
    public void A_job_model_follows_its_data_and_takes_the_optimizer_it_names()
    {
        var lstm = ModelSpec.ForData("imdb-lstm", 1, [100]);
        Assert.Equal([100], lstm.InputShape);                     // a preset follows --max-len
        Assert.Equal("adam", ModelSpec.ForData("mnist-mlp", 1, [28, 28, 1]).Optimizer!.Name);
        var sgd = ModelSpec.ForData("mnist-mlp", 1, [28, 28, 1], "{\"type\": \"sgd\", \"learning_rate\": 0.25}");
        Assert.Equal(("sgd", 0.25f), (sgd.Optimizer!.Name, sgd.Optimizer.LearningRate));
        Assert.Equal("rmsprop", ModelSpec.ForData("mnist-mlp", 1, null, "rmsprop").Optimizer!.Name);
        var e = Assert.Throws<SpecException>(() => ModelSpec.ForData("mnist-mlp", 1, null, "lion"));
        Assert.Contains("optimizer", e.Message);
        Assert.Contains("lion", e.Message);
    }
}
