namespace DistTrain.Engine.Kernels;

/// <summary>
/// The GEMM register tile and A block for one vector width. MR × NR is the micro-kernel's tile of C, held in
/// MR · NR / lanes accumulator registers while the kernel also keeps two B vectors and one A broadcast live:
/// <list type="bullet">
/// <item>AVX-512, 32 zmm: 8 × 32 = 16 accumulators. With a 4-cycle FMA on two pipes, 8 independent FMAs keep both busy; 16 hide the loads too.</item>
/// <item>AVX2, 16 ymm: 6 × 16 = 12 accumulators + 2 B + 1 broadcast = 15. The 8 × 16 tile this replaced needed 19 and spilled.</item>
/// <item>SSE / NEON, 16 xmm: 6 × 8, the same shape at 4 lanes.</item>
/// </list>
/// KC keeps one B panel (KC × NR: 32 KiB at AVX-512, 16 KiB at AVX2 and SSE) in L1 beside the A panel it meets,
/// and MC (a multiple of MR) the packed A block (MC × KC floats, 120–240 KiB) in a 512 KiB–1 MiB L2.
/// </summary>
public readonly record struct GemmTile(SimdWidth Width, int MR, int NR, int MC, int KC)
{
    /// <summary>The deepest KC of any width, which sizes the packing buffers.</summary>
    public const int MaxKC = 512;

    public static GemmTile For(SimdWidth width) => width switch
    {
        SimdWidth.V512 => new(width, 8, 32, 128, 256),
        SimdWidth.V256 => new(width, 6, 16, 120, 256),
        SimdWidth.V128 => new(width, 6, 8, 120, 512),
        _ => new(width, 8, 8, 128, 256),
    };
}
