using DistTrain.Engine.Kernels;
using DistTrain.Engine.Layers;
using DistTrain.Engine.Model;
using DistTrain.Engine.Spec;
using static DistTrain.Engine.Kernels.RecurrentReference;

namespace DistTrain.Engine.Tests.Layers;

public class SequenceBehaviourTests
{
    private static readonly float[] Mask = [0, 0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1];

    public static IEnumerable<object[]> Cases()
    {
        foreach (var cell in new[] { Cell.SimpleRnn, Cell.Lstm, Cell.GruResetAfter, Cell.GruResetBefore })
        foreach (int units in new[] { 7, 32 })
        foreach (bool seq in new[] { false, true })
        foreach (bool back in new[] { false, true })
            yield return [cell, units, seq, back];
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Fast_recurrent_layers_match_the_step_by_step_reference(Cell cell, int units, bool sequences, bool backwards)
    {
        string name = cell switch { Cell.SimpleRnn => "simple_rnn", Cell.Lstm => "lstm", Cell.GruResetAfter => "gru", _ => "gru_before" };
        var (layer, store) = GradCheck.Build(() => SequenceGradientTests.Make(name, units, sequences, backwards), [4, 5]);
        var x = TestData.Tensor(4, 3, 4, 5);
        x.Mask = new Tensor(Mask, 3, 4);
        var y = layer.Forward(x, training: false);
        var rec = (Recurrent)layer;
        var expected = Forward(cell, x.Span, Mask, 3, 4, 5, units, rec.Parameters[0].Value, rec.Parameters[1].Value,
            rec.Parameters[2].Value, sequences, backwards);
        TestData.AssertClose(expected, y.Span, 1e-5, 1e-4, $"{cell} U={units} seq={sequences} back={backwards}");
        _ = store;
    }

    [Fact]
    public void Lstm_starts_its_forget_gate_bias_at_one()
    {
        var (layer, store) = GradCheck.Build(() => new Lstm(3), [2, 2]);
        store.Allocate(1); // re-initialise from the layer's own initialisers
        Assert.Equal(new float[] { 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0 }, layer.Parameters[2].Value.ToArray());
    }

    [Fact]
    public void Lstm_keeps_its_final_states()
    {
        var (layer, _) = GradCheck.Build(() => new Lstm(4, returnSequences: true, returnState: true), [3, 2]);
        var y = layer.Forward(TestData.Tensor(1, 2, 3, 2), false);
        var lstm = (Lstm)layer;
        Assert.Equal(y.Span.Slice(2 * 4, 4).ToArray(), lstm.FinalHidden.Span[..4].ToArray());
        Assert.Equal([2, 4], lstm.FinalCell.Shape);
    }

    [Fact]
    public void Embedding_mask_flows_to_pooling_and_ignores_padding()
    {
        // Padding at the front must not change the pooled mean when mask_zero is on.
        var m = new Sequential([4], 1);
        m.Add(new Embedding(10, 3, maskZero: true)).Add(new GlobalAveragePooling1D());
        m.Build();
        var a = m.Predict(new Tensor(new float[] { 0, 0, 5, 6 }, 1, 4)).Span.ToArray();
        var b = m.Predict(new Tensor(new float[] { 0, 5, 6, 0 }, 1, 4)).Span.ToArray();
        var table = m.Store.Values;
        for (int j = 0; j < 3; j++) Assert.Equal((table[5 * 3 + j] + table[6 * 3 + j]) / 2, a[j], 6);
        Assert.Equal(a, b);
    }

    [Fact]
    public void Out_of_vocabulary_ids_are_refused_with_their_position()
    {
        var (layer, _) = GradCheck.Build(() => new Embedding(10, 2), [3]);
        var e = Assert.Throws<ArgumentException>(() => layer.Forward(new Tensor(new float[] { 1, 2, 10 }, 1, 3), false));
        Assert.Contains("token id 10 at sample 0, step 2", e.Message);
    }

    [Fact]
    public void Recurrent_layers_refuse_flat_inputs() =>
        Assert.Contains("(time, features)", Assert.Throws<ArgumentException>(() => GradCheck.Build(() => new Lstm(3), [5])).Message);

    [Fact]
    public void Imdb_presets_build_as_specified()
    {
        var lstm = ModelSpec.Resolve("imdb-lstm");
        Assert.Equal(10000 * 128 + (128 * 512 + 128 * 512 + 512) + 129, lstm.Store.TrainableCount);
        var l = (Lstm)lstm.Layers[1];
        Assert.Equal((0.2f, 0.2f), (l.Dropout, l.RecurrentDropout));
        var gap = ModelSpec.Resolve("imdb-gap");
        Assert.Equal(160000 + 272 + 17, gap.Store.TrainableCount);
        Assert.Equal("binary_crossentropy", gap.Loss!.Name);
    }

    [Fact]
    public void Sequence_specs_round_trip()
    {
        string json = """
        { "input_shape": [6], "layers": [
            { "type": "embedding", "input_dim": 20, "output_dim": 4, "mask_zero": true },
            { "type": "bidirectional", "merge_mode": "sum", "layer": { "type": "gru", "units": 3, "return_sequences": true, "reset_after": false } },
            { "type": "lstm", "units": 2, "go_backwards": true, "unit_forget_bias": false },
            { "type": "dense", "units": 1, "activation": "sigmoid" } ],
          "optimizer": "rmsprop", "loss": "binary_crossentropy" }
        """;
        var a = ModelSpec.Parse(json);
        var b = ModelSpec.Parse(ModelSpec.ToJsonText(a));
        Assert.Equal(ModelSpec.ToJsonText(a), ModelSpec.ToJsonText(b));
        Assert.Equal(a.Store.Values, b.Store.Values);
    }

    [Fact]
    public void A_bidirectional_needs_a_recurrent_layer()
    {
        var e = Assert.Throws<SpecException>(() => ModelSpec.Parse("""
            { "input_shape": [6, 2], "layers": [ { "type": "bidirectional", "layer": { "type": "dense", "units": 3 } } ], "optimizer": "adam", "loss": "mse" }
            """));
        Assert.Contains("layers[0].layer must be a recurrent layer", e.Message);
    }

    [Fact]
    public void An_lstm_learns_to_detect_a_token_anywhere_in_the_sequence()
    {
        // Label 1 iff token 3 occurs: needs memory across steps, which the mean of a bag of words cannot fake here
        // because every sequence holds the same number of distinct filler tokens.
        var rng = new Random(2);
        int n = 400, t = 8;
        var x = new Tensor(n, t);
        var y = new Tensor(n);
        for (int i = 0; i < n; i++)
        {
            for (int s = 0; s < t; s++) x.Span[i * t + s] = 4 + rng.Next(6);
            if (rng.Next(2) == 1)
            {
                x.Span[i * t + rng.Next(t)] = 3;
                y.Span[i] = 1;
            }
        }
        var m = new Sequential([t], 1);
        m.Add(new Embedding(10, 8)).Add(new Lstm(16)).Add(new Dense(1, "sigmoid"));
        m.Compile(new DistTrain.Engine.Optimizers.Adam(0.01f), new DistTrain.Engine.Losses.BinaryCrossentropy(), ["accuracy"]);
        var h = m.Fit(x, y, epochs: 15, batchSize: 32);
        Assert.True(h["accuracy"][^1] > 0.95, $"accuracy {h["accuracy"][^1]}");
    }
}
