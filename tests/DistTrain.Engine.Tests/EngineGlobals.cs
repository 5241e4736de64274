namespace DistTrain.Engine.Tests;

/// <summary>
/// Tests that change the engine's process-wide settings (<c>Threading.Threads</c>, <c>Simd.Use</c>), or that measure
/// something those settings change, such as allocations per step. xUnit runs this collection on its own, after the
/// parallel ones: a GEMM test that set two threads while the allocation test ran once made Parallel.For's closures
/// count against a "single-threaded" step, and CI failed on a machine where the two overlapped.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class EngineGlobals
{
    public const string Name = "Engine-wide settings";
}
