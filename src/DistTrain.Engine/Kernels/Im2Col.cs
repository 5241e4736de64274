namespace DistTrain.Engine.Kernels;

/// <summary>
/// Unrolls NHWC image patches into rows so that a convolution becomes one GEMM, and folds row gradients back.
/// Row r = (n, oy, ox) holds the window at that output position, ordered (ky, kx, c) to match a Keras kernel
/// (KH, KW, C, F) read as a (KH·KW·C, F) matrix. NHWC makes each (ky, kx) step one contiguous copy of C floats.
/// </summary>
public static class Im2Col
{
    /// <summary>cols (n·OH·OW, KH·KW·C) = patches of x (n, H, W, C); padded positions are zero.</summary>
    public static void Pack(ReadOnlySpan<float> x, int n, in ConvGeometry g, Span<float> cols)
    {
        int c = g.C, patch = g.PatchSize, row = 0;
        for (int b = 0; b < n; b++)
        {
            var image = x.Slice(b * g.H * g.W * c, g.H * g.W * c);
            for (int oy = 0; oy < g.OH; oy++)
            for (int ox = 0; ox < g.OW; ox++, row++)
            {
                var dst = cols.Slice(row * patch, patch);
                int d = 0;
                for (int ky = 0; ky < g.KH; ky++)
                {
                    int iy = oy * g.SH + ky - g.PadTop;
                    if ((uint)iy >= (uint)g.H)
                    {
                        dst.Slice(d, g.KW * c).Clear();
                        d += g.KW * c;
                        continue;
                    }
                    for (int kx = 0; kx < g.KW; kx++, d += c)
                    {
                        int ix = ox * g.SW + kx - g.PadLeft;
                        if ((uint)ix >= (uint)g.W) dst.Slice(d, c).Clear();
                        else if (c == 1) dst[d] = image[iy * g.W + ix];
                        else image.Slice((iy * g.W + ix) * c, c).CopyTo(dst.Slice(d, c));
                    }
                }
            }
        }
    }

    /// <summary>dx (n, H, W, C) += the row gradients dcols (n·OH·OW, KH·KW·C) added back where each patch came from.</summary>
    public static void Unpack(ReadOnlySpan<float> dcols, int n, in ConvGeometry g, Span<float> dx)
    {
        int c = g.C, patch = g.PatchSize, row = 0;
        for (int b = 0; b < n; b++)
        {
            var image = dx.Slice(b * g.H * g.W * c, g.H * g.W * c);
            for (int oy = 0; oy < g.OH; oy++)
            for (int ox = 0; ox < g.OW; ox++, row++)
            {
                var src = dcols.Slice(row * patch, patch);
                int d = 0;
                for (int ky = 0; ky < g.KH; ky++)
                {
                    int iy = oy * g.SH + ky - g.PadTop;
                    if ((uint)iy >= (uint)g.H) { d += g.KW * c; continue; }
                    for (int kx = 0; kx < g.KW; kx++, d += c)
                    {
                        int ix = ox * g.SW + kx - g.PadLeft;
                        if ((uint)ix >= (uint)g.W) continue;
                        Rows.AddInto(image.Slice((iy * g.W + ix) * c, c), src.Slice(d, c));
                    }
                }
            }
        }
    }
}
