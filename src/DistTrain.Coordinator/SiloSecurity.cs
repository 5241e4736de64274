using System.Net;
using DistTrain.Protos.Security;
using Orleans.Connections.Security;

namespace DistTrain.Coordinator;

/// <summary>
/// The coordinators of a Redis or PostgreSQL cluster talk Orleans to each other on their silo ports, which the cluster
/// token does not cover (Orleans has its own protocol). Beyond loopback that traffic must be authenticated: with
/// --mtls each silo presents its certificate and accepts only silos whose certificate --tls-ca signed (Orleans' own
/// TLS); without it a coordinator refuses to start unless told --insecure.
/// </summary>
public static class SiloSecurity
{
    /// <summary>Throws unless the silo port is safe to open: on loopback, with --mtls, or under --insecure (warned).</summary>
    public static void Check(SiloEndpoint endpoint, ClusterSecurity security, Action<string> warn)
    {
        // The silos accept each other by subject: a certificate without one (say, cert-manager's without commonName)
        // would accept any other subject-less certificate from the CA, a worker's included.
        if (security.Tls is { Mutual: true, Certificate: { } own } && string.IsNullOrEmpty(own.Subject))
            throw new ArgumentException("--mtls between coordinators needs a certificate with a subject (CN=...), which coordinators' certificates alone carry");
        if (security.Tls is { Mutual: true, Certificate: not null } || IPAddress.IsLoopback(endpoint.Address) && !endpoint.AnyAddress) return;
        string what = $"the coordinators' Orleans traffic on silo port {endpoint.SiloPort} (at {endpoint.Address}) is not covered by the cluster token";
        if (!security.Insecure)
            throw new ArgumentException($"{what}: give --mtls with --tls-cert, --tls-key and --tls-ca so that coordinators present certificates to each other, "
                + "bind 127.0.0.1, or pass --insecure on a network you trust");
        warn($"warning: {what} and not encrypted (--insecure)");
    }

    /// <summary>With --mtls, Orleans' own TLS between silos: each presents its certificate and accepts only those --tls-ca signed.</summary>
    public static void Apply(ISiloBuilder silo, ClusterSecurity security)
    {
        if (security.Tls is not { Mutual: true, Certificate: { } certificate } tls) return;
        silo.UseTls(certificate, o =>
        {
            o.RemoteCertificateMode = RemoteCertificateMode.RequireCertificate;
            o.ClientCertificateMode = RemoteCertificateMode.RequireCertificate;
            // Silos dial each other by IP address, which certificates seldom name, so the name is not what counts. What
            // does: the CA, and the same subject as this coordinator's own certificate, so that a worker's or a client's
            // certificate from the same CA cannot pass for a coordinator's (give the coordinators one subject, e.g.
            // CN=coordinator, and the workers another).
            o.RemoteCertificateValidation = (remote, _, _) => remote.Subject == certificate.Subject && tls.SignedByCa(remote);
        });
    }
}
