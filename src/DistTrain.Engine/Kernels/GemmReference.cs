namespace DistTrain.Engine.Kernels;

/// <summary>
/// The plain triple loop that <see cref="Gemm"/> is tested against. It effectively computes
/// C[i,j] = (accumulate ? C[i,j] : 0) + Σ_k op(A)[i,k] · op(B)[k,j], in double precision so that it is the more
/// accurate of the two.
/// </summary>
public static class GemmReference
{
    /// <param name="c">C, row-major (M, N) with leading dimension ldc.</param>
    /// <param name="a">A, row-major: (M, K) with lda, or (K, M) when transA.</param>
    /// <param name="b">B, row-major: (K, N) with ldb, or (N, K) when transB.</param>
    public static void Multiply(Span<float> c, int ldc, ReadOnlySpan<float> a, int lda, bool transA,
        ReadOnlySpan<float> b, int ldb, bool transB, int m, int n, int k, bool accumulate)
    {
        for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++)
        {
            double sum = accumulate ? c[i * ldc + j] : 0;
            for (int p = 0; p < k; p++)
            {
                float av = transA ? a[p * lda + i] : a[i * lda + p];
                float bv = transB ? b[j * ldb + p] : b[p * ldb + j];
                sum += (double)av * bv;
            }
            c[i * ldc + j] = (float)sum;
        }
    }
}
