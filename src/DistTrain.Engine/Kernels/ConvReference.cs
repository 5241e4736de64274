namespace DistTrain.Engine.Kernels;

/// <summary>
/// Direct convolution by definition, the slow twin that the im2col + GEMM path of Conv2D is tested against:
/// y[n, oy, ox, f] = b[f] + Σ_{ky,kx,c} x[n, oy·SH + ky − PT, ox·SW + kx − PL, c] · w[ky, kx, c, f].
/// </summary>
public static class ConvReference
{
    /// <param name="y">(n, OH, OW, F)</param>
    /// <param name="x">(n, H, W, C)</param>
    /// <param name="w">(KH, KW, C, F)</param>
    /// <param name="bias">(F) or empty</param>
    public static void Forward(Span<float> y, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> bias,
        int n, int filters, in ConvGeometry g)
    {
        for (int b = 0; b < n; b++)
        for (int oy = 0; oy < g.OH; oy++)
        for (int ox = 0; ox < g.OW; ox++)
        for (int f = 0; f < filters; f++)
        {
            double sum = bias.IsEmpty ? 0 : bias[f];
            for (int ky = 0; ky < g.KH; ky++)
            for (int kx = 0; kx < g.KW; kx++)
            {
                int iy = oy * g.SH + ky - g.PadTop, ix = ox * g.SW + kx - g.PadLeft;
                if (iy < 0 || iy >= g.H || ix < 0 || ix >= g.W) continue;
                for (int c = 0; c < g.C; c++)
                    sum += (double)x[((b * g.H + iy) * g.W + ix) * g.C + c] * w[((ky * g.KW + kx) * g.C + c) * filters + f];
            }
            y[((b * g.OH + oy) * g.OW + ox) * filters + f] = (float)sum;
        }
    }
}
