using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace DistTrain.Protos.Security;

/// <summary>
/// TLS for a party of the cluster. A server presents <paramref name="CertFile"/> (PEM, with <paramref name="KeyFile"/>);
/// a client checks the server against <paramref name="CaFile"/> (or the system's roots without one). With
/// <paramref name="Mutual"/>, every party presents its certificate and accepts only peers whose certificate the CA signed.
/// A worker is both: it serves its ring link and calls the coordinator and its left neighbour with the same certificate.
/// </summary>
public sealed class TlsSettings
{
    private readonly X509Certificate2? _certificate;
    private readonly X509Certificate2Collection? _ca;

    public TlsSettings(string? certFile, string? keyFile, string? caFile, bool mutual)
    {
        if ((certFile is null) != (keyFile is null)) throw new ArgumentException("--tls-cert and --tls-key go together: a certificate and its private key");
        if (mutual && (certFile is null || caFile is null))
            throw new ArgumentException("--mtls needs --tls-cert and --tls-key (this party's certificate) and --tls-ca (the CA that signs every party's)");
        if (certFile is not null) _certificate = Load(certFile, keyFile!);
        if (caFile is not null)
        {
            Exists(caFile, "--tls-ca");
            try
            {
                // A bundle (old and new CA while rotating) is trusted whole.
                _ca = [];
                _ca.ImportFromPemFile(caFile);
                if (_ca.Count == 0) throw new System.Security.Cryptography.CryptographicException("it holds no PEM certificate");
            }
            catch (System.Security.Cryptography.CryptographicException e)
            {
                throw new ArgumentException($"--tls-ca: {caFile} is not a certificate: {e.Message}");
            }
        }
        Mutual = mutual;
    }

    public bool Mutual { get; }

    /// <summary>This party's certificate, if it has one.</summary>
    public X509Certificate2? Certificate => _certificate;

    /// <summary>Whether this party can serve TLS (it has a certificate).</summary>
    public bool CanServe => _certificate is not null;

    /// <summary>The server's side: its certificate, and with --mtls a demand for a client certificate the CA signed.</summary>
    public void Serve(Microsoft.AspNetCore.Server.Kestrel.Https.HttpsConnectionAdapterOptions o)
    {
        o.ServerCertificate = _certificate ?? throw new ArgumentException("serving TLS needs --tls-cert and --tls-key");
        if (!Mutual) return;
        o.ClientCertificateMode = Microsoft.AspNetCore.Server.Kestrel.Https.ClientCertificateMode.RequireCertificate;
        o.ClientCertificateValidation = (certificate, _, _) => SignedByCa(certificate);
    }

    /// <summary>
    /// A browser's endpoint (the coordinator's page): the same certificate, and no client certificate asked even with
    /// --mtls, since browsers bring none; the page asks for the cluster token instead.
    /// </summary>
    public void ServeBrowsers(Microsoft.AspNetCore.Server.Kestrel.Https.HttpsConnectionAdapterOptions o) =>
        o.ServerCertificate = _certificate ?? throw new ArgumentException("serving TLS needs --tls-cert and --tls-key");

    /// <summary>The client's side: verify the server against the CA (name included), and present this party's certificate with --mtls.</summary>
    public SslClientAuthenticationOptions Client() => new()
    {
        ClientCertificates = Mutual && _certificate is not null ? [_certificate] : null,
        RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
            _ca is null ? errors == SslPolicyErrors.None
            : certificate is not null && (errors & SslPolicyErrors.RemoteCertificateNameMismatch) == 0 && SignedByCa(new X509Certificate2(certificate)),
    };

    /// <summary>Whether <paramref name="certificate"/> chains to --tls-ca alone, not the system's roots: a certificate from any
    /// other CA is refused, however trusted.</summary>
    public bool SignedByCa(X509Certificate2 certificate)
    {
        if (_ca is null) return false;
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(_ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(certificate);
    }

    private static X509Certificate2 Load(string certFile, string keyFile)
    {
        Exists(certFile, "--tls-cert");
        Exists(keyFile, "--tls-key");
        try
        {
            return X509Certificate2.CreateFromPemFile(certFile, keyFile);
        }
        catch (System.Security.Cryptography.CryptographicException e)
        {
            throw new ArgumentException($"--tls-cert/--tls-key: {certFile} and {keyFile} are not a PEM certificate and its private key: {e.Message}");
        }
    }

    private static void Exists(string path, string option)
    {
        if (!File.Exists(path)) throw new ArgumentException($"{option}: no file {path}");
    }
}
