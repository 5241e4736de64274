using System.Security.Cryptography;
using System.Text;

namespace DistTrain.Protos.Security;

/// <summary>
/// The secret a worker's registration returns (RegisterResponse.worker_secret), which its later calls carry as
/// <see cref="Header"/> metadata, and the ring secret of a job generation (Assignment.ring_secret), which Link calls
/// carry. The coordinator keeps only a worker secret's SHA-256; a ring secret it must hand out again (to members of
/// the generation), so the job's stored state holds it: the state storage is inside the trust boundary (SECURITY.md).
/// </summary>
public static class WorkerSecret
{
    public const string Header = "disttrain-worker-secret";

    /// <summary>A new random secret: 32 bytes, hex.</summary>
    public static string New() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));

    /// <summary>What the coordinator stores of a secret.</summary>
    public static string Hash(string secret) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));

    /// <summary>Whether <paramref name="presented"/> hashes to <paramref name="hash"/>, compared in constant time.</summary>
    public static bool MatchesHash(string hash, string? presented) =>
        presented is not null && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(hash), Encoding.ASCII.GetBytes(Hash(presented)));

    /// <summary>Whether two secrets are equal, compared in constant time (the ring's check of a Link call).</summary>
    public static bool Equal(string expected, string? presented) => ClusterToken.Matches(expected, presented);
}
