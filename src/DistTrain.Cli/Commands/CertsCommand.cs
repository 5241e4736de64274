using System.CommandLine;
using DistTrain.Cli.Output;

namespace DistTrain.Cli.Commands;

/// <summary>
/// `disttrain certs init|issue`: a development CA and certificates signed by it (<see cref="DevelopmentCertificates"/>),
/// for trying TLS and mutual TLS on one machine or a test cluster. For production, use your own PKI or cert-manager
/// (k8s/README.md).
/// </summary>
public static class CertsCommand
{
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
        var command = new Command("init", $"Make a CA ({DevelopmentCertificates.CaCert}, {DevelopmentCertificates.CaKey}) in --dir; refuses to replace one") { dir, days };
        command.SetAction(p =>
        {
            string folder = Path.GetFullPath(p.GetValue(dir)!);
            DevelopmentCertificates.CreateCa(folder, p.GetValue(days));
            Terminal.Info($"CA: {Path.Combine(folder, DevelopmentCertificates.CaCert)} (give it to every party as --tls-ca); "
                + $"its key {Path.Combine(folder, DevelopmentCertificates.CaKey)} stays here");
            return 0;
        });
        return command;
    }

    private static Command Issue()
    {
        var dir = Dir();
        var name = new Argument<string>("name") { Description = "The certificate's name (its subject, CN=NAME): files NAME.pem and NAME.key" };
        var hosts = new Option<string>("--hosts")
        {
            Description = "Comma-separated DNS names and IP addresses the party is reached at", DefaultValueFactory = _ => "localhost,127.0.0.1",
        };
        var days = CommonOptions.Positive("--days", 90, "Days the certificate is valid", max: 3650);
        var command = new Command("issue", "Issue a certificate signed by --dir's CA, good for serving and for mTLS clients") { name, dir, hosts, days };
        command.SetAction(p =>
        {
            string folder = Path.GetFullPath(p.GetValue(dir)!), n = p.GetValue(name)!;
            var list = p.GetValue(hosts)!.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            var until = DevelopmentCertificates.Issue(folder, n, list, p.GetValue(days));
            Terminal.Info($"{Path.Combine(folder, n + ".pem")} and {Path.Combine(folder, n + ".key")} for {string.Join(", ", list)}, until {until:yyyy-MM-dd}");
            return 0;
        });
        return command;
    }
}
