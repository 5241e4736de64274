using DistTrain.Engine.Layers;

namespace DistTrain.Engine.Tests.Layers;

/// <summary>
/// Finite-difference checks of the sequence layers, backpropagation through time included (tolerances in
/// <see cref="GradCheck"/>: h = 1e-3 in float32, |Δ| ≤ 3e-3 + 2e-2·|g|). Sizes: B = 2, T = 4, D = 3; U = 5 runs the
/// scalar gate tail, U = 16 the Vector512 pass.
/// </summary>
public class SequenceGradientTests
{
    private static readonly int[] Seq = [4, 3];
    // Sample 0 has two padded steps at the front (Keras' 'pre' padding); sample 1 has a hole in the middle.
    private static readonly float[] Mask = [0, 0, 1, 1, 1, 0, 1, 1];

    public static IEnumerable<object[]> Cells()
    {
        foreach (int u in new[] { 5, 16 })
        foreach (string cell in new[] { "simple_rnn", "lstm", "gru", "gru_before" })
        foreach (bool sequences in new[] { false, true })
            yield return [cell, u, sequences];
    }

    internal static Recurrent Make(string cell, int units, bool sequences, bool backwards = false, float dropout = 0, float recurrentDropout = 0) => cell switch
    {
        "simple_rnn" => new SimpleRnn(units, sequences, goBackwards: backwards, dropout: dropout, recurrentDropout: recurrentDropout, seed: 3),
        "lstm" => new Lstm(units, sequences, goBackwards: backwards, dropout: dropout, recurrentDropout: recurrentDropout, seed: 3),
        "gru" => new Gru(units, sequences, goBackwards: backwards, dropout: dropout, recurrentDropout: recurrentDropout, seed: 3),
        _ => new Gru(units, sequences, goBackwards: backwards, dropout: dropout, recurrentDropout: recurrentDropout, resetAfter: false, seed: 3),
    };

    [Theory]
    [MemberData(nameof(Cells))]
    public void Recurrent(string cell, int units, bool sequences) => GradCheck.Run(() => Make(cell, units, sequences), Seq, batch: 2);

    [Theory]
    [MemberData(nameof(Cells))]
    public void Recurrent_with_a_mask(string cell, int units, bool sequences) =>
        GradCheck.Run(() => Make(cell, units, sequences), Seq, batch: 2, mask: Mask);

    [Theory]
    [InlineData("lstm")]
    [InlineData("gru")]
    [InlineData("gru_before")]
    [InlineData("simple_rnn")]
    public void Recurrent_going_backwards(string cell) => GradCheck.Run(() => Make(cell, 6, true, backwards: true), Seq, batch: 2, mask: Mask);

    [Theory]
    [InlineData("lstm")]
    [InlineData("gru")]
    [InlineData("gru_before")]
    public void Recurrent_with_dropout_and_recurrent_dropout(string cell) =>
        GradCheck.Run(() => Make(cell, 16, true, dropout: 0.3f, recurrentDropout: 0.3f), Seq, batch: 2, rebuildEachTime: true);

    [Fact]
    public void Stacked_recurrent_layers() => GradCheck.Run(() => new Residual([Make("lstm", 3, true), Make("gru", 3, true)]), [4, 3], batch: 2);

    [Theory]
    [InlineData("concat", true)]
    [InlineData("sum", true)]
    [InlineData("mul", false)]
    [InlineData("ave", true)]
    [InlineData("concat", false)]
    public void Bidirectional(string mode, bool sequences) =>
        GradCheck.Run(() => new Bidirectional(Make("lstm", 5, sequences), mode), Seq, batch: 2, mask: Mask);

    [Fact]
    public void Bidirectional_gru() => GradCheck.Run(() => new Bidirectional(Make("gru", 4, true)), Seq, batch: 2);

    [Fact]
    public void GlobalAveragePooling1D_masked() => GradCheck.Run(() => new GlobalAveragePooling1D(), Seq, batch: 2, mask: Mask);

    [Fact]
    public void GlobalMaxPooling1D_masked() => GradCheck.Run(() => new GlobalMaxPooling1D(), Seq, batch: 2, mask: Mask);

    [Fact]
    public void Embedding_table_gradient()
    {
        // Ids repeat, so several rows of dy must add into the same table row.
        GradCheck.Run(() => new Embedding(7, 4), [5], batch: 2, input: () => new Tensor(new float[] { 1, 3, 3, 0, 6, 2, 2, 2, 5, 1 }, 2, 5));
    }
}
