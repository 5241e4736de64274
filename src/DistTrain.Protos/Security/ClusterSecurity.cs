using System.Net;
using Grpc.Core;
using Grpc.Net.Client;

namespace DistTrain.Protos.Security;

/// <summary>
/// How a party of the cluster proves itself and protects its traffic: the cluster token (null: none) and TLS (null:
/// cleartext). Clients put the token on every call; servers refuse calls without it (<see cref="TokenCheck"/>), and
/// refuse to listen beyond loopback without one unless told --insecure.
/// </summary>
public sealed record ClusterSecurity(string? Token, TlsSettings? Tls = null, bool Insecure = false)
{
    /// <summary>No token, cleartext: loopback only (tests, benchmarks).</summary>
    public static readonly ClusterSecurity None = new((string?)null);

    /// <summary>The URL scheme this party's servers speak.</summary>
    public string Scheme => Tls?.CanServe == true ? "https" : "http";

    /// <summary>
    /// Throws unless a server of <paramref name="what"/> may listen on <paramref name="bind"/>: beyond loopback it needs
    /// the token, or an explicit --insecure (which <paramref name="warn"/> reports).
    /// </summary>
    public void CheckBind(IPAddress bind, string what, Action<string> warn)
    {
        // TLS settings without a certificate are a client's (the CLI); a server given them would serve in cleartext.
        if (Tls is { CanServe: false })
            throw new ArgumentException($"the {what} serves TLS only with its own certificate: give --tls-cert and --tls-key (--tls-ca alone is for clients)");
        if (Token is not null || IPAddress.IsLoopback(bind)) return;
        if (!Insecure)
            throw new ArgumentException($"the {what} would listen on {bind} without a cluster token: anyone who reaches it could control it. "
                + $"Give --token-file FILE or ${ClusterToken.Variable} (the same on every party), bind 127.0.0.1, or pass --insecure on a network you trust");
        warn($"warning: the {what} listens on {bind} with no cluster token (--insecure): anyone who reaches it can submit, cancel and report for jobs");
    }

    /// <summary>
    /// Sets up a client channel: the token (and <paramref name="workerSecret"/>'s value, once there is one) on every
    /// call, and TLS verification when configured.
    /// </summary>
    public void ApplyTo(GrpcChannelOptions options, SocketsHttpHandler handler, bool secure, Func<string?>? workerSecret = null)
    {
        if (Tls is not null) handler.SslOptions = Tls.Client();
        if (Token is null && workerSecret is null) return;
        var credentials = CallCredentials.FromInterceptor((_, metadata) =>
        {
            if (Token is not null) metadata.Add(ClusterToken.Header, ClusterToken.Bearer(Token));
            if (workerSecret?.Invoke() is { } secret) metadata.Add(WorkerSecret.Header, secret);
            return Task.CompletedTask;
        });
        options.Credentials = ChannelCredentials.Create(secure ? ChannelCredentials.SecureSsl : ChannelCredentials.Insecure, credentials);
        // Cleartext with a token is the user's choice on loopback or a trusted network (SECURITY.md); gRPC refuses call
        // credentials on an insecure channel unless told.
        options.UnsafeUseInsecureChannelCallCredentials = !secure;
    }
}
