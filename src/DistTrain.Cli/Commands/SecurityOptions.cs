using System.CommandLine;
using DistTrain.Protos.Security;

namespace DistTrain.Cli.Commands;

/// <summary>
/// The options that say how a command proves itself to the cluster and protects its traffic: the cluster token
/// (--token-file, else $DISTTRAIN_TOKEN) and TLS. Servers (coordinator, worker) also take --insecure, their explicit
/// consent to listen beyond loopback without a token.
/// </summary>
public sealed class SecurityOptions
{
    private readonly Option<string?> _tokenFile = new("--token-file")
    {
        Description = $"File holding the cluster token, the same for every party (default: ${ClusterToken.Variable})",
    };

    private readonly Option<string?> _cert = new("--tls-cert") { Description = "This party's certificate (PEM): servers serve TLS with it, and with --mtls every party presents it" };
    private readonly Option<string?> _key = new("--tls-key") { Description = "The private key of --tls-cert (PEM)" };
    private readonly Option<string?> _ca = new("--tls-ca") { Description = "The CA certificate (PEM) that peers' certificates must chain to" };
    private readonly Option<bool> _mutual = new("--mtls") { Description = "Mutual TLS: every party presents a certificate signed by --tls-ca" };
    private readonly Option<bool>? _insecure;

    /// <param name="server">Whether the command listens (and so takes --insecure).</param>
    public SecurityOptions(bool server)
    {
        if (server)
            _insecure = new Option<bool>("--insecure")
            {
                Description = "Listen beyond loopback without a cluster token (anyone who reaches the port controls it); logged as a warning",
            };
    }

    public void AddTo(Command command)
    {
        foreach (var o in new Option[] { _tokenFile, _cert, _key, _ca, _mutual }) command.Options.Add(o);
        if (_insecure is not null) command.Options.Add(_insecure);
    }

    public ClusterSecurity Read(ParseResult p)
    {
        string? cert = p.GetValue(_cert), key = p.GetValue(_key), ca = p.GetValue(_ca);
        bool mutual = p.GetValue(_mutual);
        var tls = cert is null && key is null && ca is null && !mutual ? null : new TlsSettings(cert, key, ca, mutual);
        return new ClusterSecurity(ClusterToken.Read(p.GetValue(_tokenFile)), tls, _insecure is not null && p.GetValue(_insecure));
    }
}
