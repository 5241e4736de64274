namespace DistTrain.Engine.Kernels;

/// <summary>Keras padding modes for convolution and pooling windows.</summary>
public enum Padding
{
    /// <summary>No padding: OH = ⌊(H − KH) / SH⌋ + 1.</summary>
    Valid,

    /// <summary>Zero padding so that OH = ⌈H / SH⌉, split as TensorFlow does (the extra row goes at the bottom).</summary>
    Same,
}

/// <summary>
/// The geometry of a sliding window over an NHWC image: input (H, W, C), window (KH, KW), stride (SH, SW), the
/// padding before the first row and column, and the output size (OH, OW).
/// </summary>
public readonly record struct ConvGeometry(int H, int W, int C, int KH, int KW, int SH, int SW, int PadTop, int PadLeft, int OH, int OW)
{
    /// <summary>Elements in one im2col row: KH·KW·C.</summary>
    public int PatchSize => KH * KW * C;

    /// <summary>Computes the output size and padding, or throws naming the shape that does not fit.</summary>
    public static ConvGeometry Create(int h, int w, int c, int kh, int kw, int sh, int sw, Padding padding, string layer)
    {
        if (kh < 1 || kw < 1) throw new ArgumentException($"{layer}: window must be at least 1×1, got {kh}×{kw}");
        if (sh < 1 || sw < 1) throw new ArgumentException($"{layer}: strides must be at least 1, got {sh}×{sw}");
        int oh, ow, pt = 0, pl = 0;
        if (padding == Padding.Same)
        {
            oh = (h + sh - 1) / sh;
            ow = (w + sw - 1) / sw;
            pt = Math.Max((oh - 1) * sh + kh - h, 0) / 2;
            pl = Math.Max((ow - 1) * sw + kw - w, 0) / 2;
        }
        else
        {
            if (h < kh || w < kw)
                throw new ArgumentException($"{layer}: a {kh}×{kw} window with 'valid' padding does not fit an input of {h}×{w}");
            oh = (h - kh) / sh + 1;
            ow = (w - kw) / sw + 1;
        }
        return new ConvGeometry(h, w, c, kh, kw, sh, sw, pt, pl, oh, ow);
    }
}
