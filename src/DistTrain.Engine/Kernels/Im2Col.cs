namespace DistTrain.Engine.Kernels;

/// <summary>
/// Unrolls NHWC image patches into rows so that a convolution becomes one GEMM, and folds row gradients back.
/// Row r = (n, oy, ox) holds the window at that output position, ordered (ky, kx, c) to match a Keras kernel
/// (KH, KW, C, F) read as a (KH·KW·C, F) matrix. In NHWC one window row (ky) is KW·C contiguous floats of the
/// image whenever the window lies inside it horizontally, so most of the work is one copy per (row, ky).
/// </summary>
public static unsafe class Im2Col
{
    /// <summary>cols (n·OH·OW, KH·KW·C) = patches of x (n, H, W, C); padded positions are zero.</summary>
    public static void Pack(ReadOnlySpan<float> x, int n, in ConvGeometry g, Span<float> cols)
    {
        int c = g.C, run = g.KW * c;
        if (n == 0) return;
        fixed (float* px = x, pcols = cols)
        {
            float* dst = pcols;
            for (int b = 0; b < n; b++)
            {
                float* image = px + (long)b * g.H * g.W * c;
                for (int oy = 0; oy < g.OH; oy++)
                for (int ox = 0; ox < g.OW; ox++)
                for (int ky = 0; ky < g.KH; ky++, dst += run)
                {
                    int iy = oy * g.SH + ky - g.PadTop, ix0 = ox * g.SW - g.PadLeft;
                    if ((uint)iy >= (uint)g.H)
                        Clear(dst, run);
                    else if (ix0 >= 0 && ix0 + g.KW <= g.W)
                        Copy(image + ((long)iy * g.W + ix0) * c, dst, run);
                    else
                        for (int kx = 0; kx < g.KW; kx++)
                        {
                            int ix = ix0 + kx;
                            if ((uint)ix >= (uint)g.W) Clear(dst + kx * c, c);
                            else Copy(image + ((long)iy * g.W + ix) * c, dst + kx * c, c);
                        }
                }
            }
        }
    }

    /// <summary>dx (n, H, W, C) += the row gradients dcols (n·OH·OW, KH·KW·C) added back where each patch came from.</summary>
    public static void Unpack(ReadOnlySpan<float> dcols, int n, in ConvGeometry g, Span<float> dx)
    {
        int c = g.C, run = g.KW * c;
        if (n == 0) return;
        fixed (float* pd = dcols, pdx = dx)
        {
            float* src = pd;
            for (int b = 0; b < n; b++)
            {
                float* image = pdx + (long)b * g.H * g.W * c;
                for (int oy = 0; oy < g.OH; oy++)
                for (int ox = 0; ox < g.OW; ox++)
                for (int ky = 0; ky < g.KH; ky++, src += run)
                {
                    int iy = oy * g.SH + ky - g.PadTop, ix0 = ox * g.SW - g.PadLeft;
                    if ((uint)iy >= (uint)g.H) continue;
                    if (ix0 >= 0 && ix0 + g.KW <= g.W)
                        Rows.AddInto(new Span<float>(image + ((long)iy * g.W + ix0) * c, run), new ReadOnlySpan<float>(src, run));
                    else
                        for (int kx = 0; kx < g.KW; kx++)
                        {
                            int ix = ix0 + kx;
                            if ((uint)ix < (uint)g.W)
                                Rows.AddInto(new Span<float>(image + ((long)iy * g.W + ix) * c, c), new ReadOnlySpan<float>(src + kx * c, c));
                        }
                }
            }
        }
    }

    // Short runs (a one-channel image's 3 floats) are cheaper copied in place than through a library call.
    private static void Copy(float* src, float* dst, int count)
    {
        if (count < 16)
            for (int i = 0; i < count; i++) dst[i] = src[i];
        else
            Buffer.MemoryCopy(src, dst, count * sizeof(float), count * sizeof(float));
    }

    private static void Clear(float* dst, int count) => new Span<float>(dst, count).Clear();
}
