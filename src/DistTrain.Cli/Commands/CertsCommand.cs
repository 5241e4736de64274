using System.CommandLine;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using DistTrain.Cli.Output;

namespace DistTrain.Cli.Commands;

/// <summary>
/// `disttrain certs init|issue`: a development CA and certificates signed by it, made with .NET's own certificate APIs,
/// for trying TLS and mutual TLS on one machine or a test cluster. Keys are ECDSA P-256, written with mode 0600. For
/// production, use your own PKI or cert-manager (k8s/README.md).
/// </summary>
public static class CertsCommand
{
    public const string CaCert = "ca.pem", CaKey = "ca.key";

    public static Command Create()
    {
        var command = new Command("certs", "Make a development CA and certificates for --tls-cert/--tls-key/--tls-ca and --mtls");
        command.Subcommands.Add(Init());
        command.Subcommands.Add(Issue());
        return command;
    }

    private static Option<string> Dir() => new("--dir") { Description = "Folder of the CA and the certificates", DefaultValueFactory = _ => "certs" };

    private static Command Init()
    {
        var dir = Dir();
        var days = CommonOptions.Positive("--days", 365, "Days the CA is valid", max: 3650);
        var command = new Command("init", $"Make a CA ({CaCert}, {CaKey}) in --dir; refuses to replace one") { dir, days };
        command.SetAction(p =>
        {
            string folder = Directory.CreateDirectory(p.GetValue(dir)!).FullName;
            if (File.Exists(Path.Combine(folder, CaCert))) throw new InvalidOperationException($"{Path.Combine(folder, CaCert)} exists; remove it to make a new CA");
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest("CN=DistTrain development CA", key, HashAlgorithmName.SHA256);
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
            request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
            request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
            using var ca = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(p.GetValue(days)));
            Write(folder, CaCert, CaKey, ca, key);
            Terminal.Info($"CA: {Path.Combine(folder, CaCert)} (give it to every party as --tls-ca); its key {Path.Combine(folder, CaKey)} stays here");
            return 0;
        });
        return command;
    }

    private static Command Issue()
    {
        var dir = Dir();
        var name = new Argument<string>("name") { Description = "The certificate's name: files NAME.pem and NAME.key" };
        var hosts = new Option<string>("--hosts")
        {
            Description = "Comma-separated DNS names and IP addresses the party is reached at", DefaultValueFactory = _ => "localhost,127.0.0.1",
        };
        var days = CommonOptions.Positive("--days", 90, "Days the certificate is valid", max: 3650);
        var command = new Command("issue", "Issue a certificate signed by --dir's CA, good for serving and for mTLS clients") { name, dir, hosts, days };
        command.SetAction(p =>
        {
            string folder = Path.GetFullPath(p.GetValue(dir)!), n = p.GetValue(name)!;
            if (n.Length == 0 || n.Any(c => !char.IsAsciiLetterOrDigit(c) && c is not '-' and not '_' and not '.'))
                throw new ArgumentException($"certificate name '{n}' must be letters, digits, '-', '_' or '.'");
            if (n == "ca") throw new ArgumentException("'ca' names the CA's own files; give the certificate another name");
            if (File.Exists(Path.Combine(folder, n + ".pem")) || File.Exists(Path.Combine(folder, n + ".key")))
                throw new InvalidOperationException($"{Path.Combine(folder, n + ".pem")} or its key exists; remove them to issue it again");
            string caCert = Path.Combine(folder, CaCert), caKey = Path.Combine(folder, CaKey);
            if (!File.Exists(caCert) || !File.Exists(caKey)) throw new InvalidOperationException($"no CA in {folder}; run `disttrain certs init --dir {p.GetValue(dir)}` first");
            using var ca = X509Certificate2.CreateFromPemFile(caCert, caKey);
            var names = new SubjectAlternativeNameBuilder();
            var list = p.GetValue(hosts)!.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            if (list.Length == 0) throw new ArgumentException("--hosts needs at least one DNS name or IP address");
            foreach (var h in list)
                if (IPAddress.TryParse(h, out var ip)) names.AddIpAddress(ip);
                else names.AddDnsName(h);
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest($"CN={n}", key, HashAlgorithmName.SHA256);
            request.CertificateExtensions.Add(names.Build());
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
            request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
            // Every party serves (coordinator, a worker's ring) and calls (a worker, the CLI), so one certificate does both.
            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
                [new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
            var notAfter = DateTimeOffset.UtcNow.AddDays(p.GetValue(days));
            if (notAfter > ca.NotAfter) notAfter = ca.NotAfter;
            using var issued = request.Create(ca, DateTimeOffset.UtcNow.AddMinutes(-5), notAfter, RandomNumberGenerator.GetBytes(16));
            Write(folder, n + ".pem", n + ".key", issued, key);
            Terminal.Info($"{Path.Combine(folder, n + ".pem")} and {Path.Combine(folder, n + ".key")} for {string.Join(", ", list)}, until {notAfter:yyyy-MM-dd}");
            return 0;
        });
        return command;
    }

    // The certificate in PEM; the private key in PKCS#8 PEM, readable by its owner alone.
    private static void Write(string folder, string certName, string keyName, X509Certificate2 certificate, ECDsa key)
    {
        File.WriteAllText(Path.Combine(folder, certName), certificate.ExportCertificatePem() + "\n");
        string keyPath = Path.Combine(folder, keyName);
        File.WriteAllText(keyPath, "");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(keyPath, UnixFileMode.UserRead | UnixFileMode.UserWrite); // before the key is in it
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem() + "\n");
    }
}
