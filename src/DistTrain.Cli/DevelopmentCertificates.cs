using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace DistTrain.Cli;

/// <summary>
/// A development CA and certificates signed by it, made with .NET's own certificate APIs (ECDSA P-256): what
/// `disttrain certs` writes, and what `bench allreduce --tls` uses. Certificates carry serverAuth and clientAuth, since
/// every party of a cluster serves and calls; keys are written readable by their owner alone.
/// </summary>
public static class DevelopmentCertificates
{
    public const string CaCert = "ca.pem", CaKey = "ca.key";

    /// <summary>Makes a CA in <paramref name="folder"/>; refuses to replace one.</summary>
    public static void CreateCa(string folder, int days)
    {
        Directory.CreateDirectory(folder);
        if (File.Exists(Path.Combine(folder, CaCert))) throw new InvalidOperationException($"{Path.Combine(folder, CaCert)} exists; remove it to make a new CA");
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=DistTrain development CA", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        using var ca = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(days));
        Write(folder, CaCert, CaKey, ca, key);
    }

    /// <summary>Issues NAME.pem and NAME.key in <paramref name="folder"/>, signed by its CA, for <paramref name="hosts"/>; returns its expiry.</summary>
    public static DateTimeOffset Issue(string folder, string name, IReadOnlyList<string> hosts, int days)
    {
        if (name.Length == 0 || name.Any(c => !char.IsAsciiLetterOrDigit(c) && c is not '-' and not '_' and not '.'))
            throw new ArgumentException($"certificate name '{name}' must be letters, digits, '-', '_' or '.'");
        if (name == "ca") throw new ArgumentException("'ca' names the CA's own files; give the certificate another name");
        if (File.Exists(Path.Combine(folder, name + ".pem")) || File.Exists(Path.Combine(folder, name + ".key")))
            throw new InvalidOperationException($"{Path.Combine(folder, name + ".pem")} or its key exists; remove them to issue it again");
        if (hosts.Count == 0) throw new ArgumentException("--hosts needs at least one DNS name or IP address");
        string caCert = Path.Combine(folder, CaCert), caKey = Path.Combine(folder, CaKey);
        if (!File.Exists(caCert) || !File.Exists(caKey)) throw new InvalidOperationException($"no CA in {folder}; run `disttrain certs init --dir {folder}` first");
        using var ca = X509Certificate2.CreateFromPemFile(caCert, caKey);
        var names = new SubjectAlternativeNameBuilder();
        foreach (var h in hosts)
            if (IPAddress.TryParse(h, out var ip)) names.AddIpAddress(ip);
            else names.AddDnsName(h);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        var notAfter = DateTimeOffset.UtcNow.AddDays(days);
        if (notAfter > ca.NotAfter) notAfter = ca.NotAfter;
        using var issued = request.Create(ca, DateTimeOffset.UtcNow.AddMinutes(-5), notAfter, RandomNumberGenerator.GetBytes(16));
        Write(folder, name + ".pem", name + ".key", issued, key);
        return notAfter;
    }

    // The certificate in PEM; the private key in PKCS#8 PEM, readable by its owner alone (the mode is set before the key is in it).
    private static void Write(string folder, string certName, string keyName, X509Certificate2 certificate, ECDsa key)
    {
        File.WriteAllText(Path.Combine(folder, certName), certificate.ExportCertificatePem() + "\n");
        string keyPath = Path.Combine(folder, keyName);
        File.WriteAllText(keyPath, "");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(keyPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem() + "\n");
    }
}
