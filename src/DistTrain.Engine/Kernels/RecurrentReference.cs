namespace DistTrain.Engine.Kernels;

/// <summary>
/// The recurrent layers by their definitions, one sample, one step and one unit at a time in double precision:
/// the slow twin the GEMM-batched, gate-fused layers are tested against. Shapes: x (B, T, D), mask (B, T) or
/// null, W (D, G·U), U_rec (U, G·U), bias as the layer keeps it. Returns (B, T, U) when sequences, else (B, U),
/// in processing order (reversed for goBackwards), with masked steps carrying the state over.
/// </summary>
public static class RecurrentReference
{
    public enum Cell { SimpleRnn, Lstm, GruResetAfter, GruResetBefore }

    public static float[] Forward(Cell cell, ReadOnlySpan<float> x, ReadOnlySpan<float> mask, int batch, int steps, int inputDim, int units,
        ReadOnlySpan<float> w, ReadOnlySpan<float> ur, ReadOnlySpan<float> bias, bool sequences, bool goBackwards)
    {
        int g = cell switch { Cell.SimpleRnn => 1, Cell.Lstm => 4, _ => 3 }, gu = g * units;
        var result = new float[sequences ? batch * steps * units : batch * units];
        for (int b = 0; b < batch; b++)
        {
            var h = new double[units];
            var c = new double[units];
            for (int s = 0; s < steps; s++)
            {
                int t = goBackwards ? steps - 1 - s : s;
                if (mask.IsEmpty || mask[b * steps + t] != 0)
                {
                    // xw = x·W + b_in, hu = h·U_rec (+ b_rec for reset-after GRU)
                    var xw = new double[gu];
                    var hu = new double[gu];
                    for (int k = 0; k < gu; k++)
                    {
                        double a = bias[k], r = cell == Cell.GruResetAfter ? bias[gu + k] : 0;
                        for (int d = 0; d < inputDim; d++) a += x[(b * steps + t) * inputDim + d] * w[d * gu + k];
                        for (int j = 0; j < units; j++) r += h[j] * ur[j * gu + k];
                        xw[k] = a;
                        hu[k] = r;
                    }
                    var next = new double[units];
                    for (int j = 0; j < units; j++)
                    {
                        switch (cell)
                        {
                            case Cell.SimpleRnn:
                                next[j] = Math.Tanh(xw[j] + hu[j]);
                                break;
                            case Cell.Lstm:
                            {
                                double i = Sig(xw[j] + hu[j]), f = Sig(xw[units + j] + hu[units + j]);
                                double gg = Math.Tanh(xw[2 * units + j] + hu[2 * units + j]), o = Sig(xw[3 * units + j] + hu[3 * units + j]);
                                c[j] = f * c[j] + i * gg;
                                next[j] = o * Math.Tanh(c[j]);
                                break;
                            }
                            default:
                            {
                                double z = Sig(xw[j] + hu[j]), r = Sig(xw[units + j] + hu[units + j]);
                                double hh;
                                if (cell == Cell.GruResetAfter) hh = Math.Tanh(xw[2 * units + j] + r * hu[2 * units + j]);
                                else
                                {
                                    // (r ⊙ h)·U_h, with r per unit of h
                                    double acc = 0;
                                    for (int k = 0; k < units; k++)
                                        acc += Sig(xw[units + k] + hu[units + k]) * h[k] * ur[k * gu + 2 * units + j];
                                    hh = Math.Tanh(xw[2 * units + j] + acc);
                                }
                                next[j] = z * h[j] + (1 - z) * hh;
                                break;
                            }
                        }
                    }
                    h = next;
                }
                if (sequences)
                    for (int j = 0; j < units; j++) result[(b * steps + s) * units + j] = (float)h[j];
            }
            if (!sequences)
                for (int j = 0; j < units; j++) result[b * units + j] = (float)h[j];
        }
        return result;
    }

    private static double Sig(double v) => 1 / (1 + Math.Exp(-v));
}
