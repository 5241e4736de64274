using System.Security.Cryptography;
using System.Text;

namespace DistTrain.Protos.Security;

/// <summary>
/// The one secret of a cluster: every party (coordinators, workers, the CLI, any gRPC client) presents it as
/// <c>authorization: Bearer TOKEN</c>. Read from <c>--token-file</c> or <see cref="Variable"/>; compared in constant
/// time; never logged.
/// </summary>
public static class ClusterToken
{
    /// <summary>The environment variable that carries the token when no --token-file is given.</summary>
    public const string Variable = "DISTTRAIN_TOKEN";

    /// <summary>Shorter tokens are refused: 16 characters of base64 are 96 bits, out of reach of guessing over a network.</summary>
    public const int MinLength = 16;

    /// <summary>Longer tokens are refused: an HTTP/2 header of this size is already unusual.</summary>
    public const int MaxLength = 1024;

    /// <summary>The token from <paramref name="tokenFile"/> (surrounding whitespace trimmed), else from <see cref="Variable"/>, else null.</summary>
    public static string? Read(string? tokenFile)
    {
        string? token;
        string source;
        if (tokenFile is not null)
        {
            if (!File.Exists(tokenFile)) throw new ArgumentException($"--token-file: no file {tokenFile}");
            if (new FileInfo(tokenFile).Length > 64 * 1024) throw new ArgumentException($"--token-file: {tokenFile} is not a token file (larger than 64 KiB)");
            token = File.ReadAllText(tokenFile).Trim();
            source = $"the token in {tokenFile}";
        }
        else
        {
            token = Environment.GetEnvironmentVariable(Variable)?.Trim();
            if (string.IsNullOrEmpty(token)) return null;
            source = $"${Variable}";
        }
        Check(token, source);
        return token;
    }

    /// <summary>Throws naming <paramref name="source"/> unless the token is long enough and fits in a header.</summary>
    public static void Check(string token, string source)
    {
        if (token.Length < MinLength || token.Length > MaxLength)
            throw new ArgumentException($"{source} must be {MinLength} to {MaxLength} characters long, got {token.Length} (make one with `openssl rand -base64 32`)");
        if (!token.All(c => c is > ' ' and < '\x7f'))
            throw new ArgumentException($"{source} must be printable ASCII without spaces (it travels in an HTTP header)");
    }

    /// <summary>A new random token: 32 bytes, URL-safe base64.</summary>
    public static string New() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>
    /// Whether <paramref name="presented"/> is <paramref name="expected"/>, in time that does not depend on where they
    /// differ or on their lengths (both are hashed first, so FixedTimeEquals compares equal lengths).
    /// </summary>
    public static bool Matches(string expected, string? presented) =>
        presented is not null && CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(expected)),
            SHA256.HashData(Encoding.UTF8.GetBytes(presented)));

    /// <summary>The metadata key and value that carry a token.</summary>
    public const string Header = "authorization";

    public static string Bearer(string token) => "Bearer " + token;

    /// <summary>The token in an authorization value, or null when it is not a Bearer value.</summary>
    public static string? FromBearer(string? value) =>
        value is not null && value.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? value["Bearer ".Length..].Trim() : null;
}
