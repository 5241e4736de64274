using System.CommandLine;
using DistTrain.Protos;
using DistTrain.Protos.Health;
using Grpc.Core;
using Grpc.Health.V1;

namespace DistTrain.Cli.Commands;

/// <summary>
/// `disttrain health`: asks a coordinator or a worker through the standard gRPC health service, and exits 0 only if
/// it answers SERVING: what Docker's HEALTHCHECK and Compose's service_healthy run, where Kubernetes has its own probe.
/// </summary>
public static class HealthCommand
{
    public static Command Create()
    {
        var address = new Option<string>("--address")
        {
            Description = "The coordinator's gRPC URL, or a worker's ring URL", DefaultValueFactory = _ => "http://127.0.0.1:7070",
        };
        var service = new Option<string>("--service")
        {
            Description = $"\"\" asks whether it is ready (a coordinator's silo has joined, a worker is registered); \"{GrpcHealth.Liveness}\" whether it serves at all",
            DefaultValueFactory = _ => "",
        };
        var timeout = CommonOptions.Positive("--timeout", 5, "Seconds to wait for the answer", max: 3600);
        var command = new Command("health", "Check a coordinator or worker through the gRPC health service; exit 0 only if it is serving")
        {
            address, service, timeout,
        };
        var security = new SecurityOptions(server: false);
        security.AddTo(command);
        command.SetAction(async (p, ct) =>
        {
            string url = p.GetValue(address)!, name = p.GetValue(service)!;
            using var channel = CoordinatorChannel.Create(url, security: security.Read(p));
            string what = name.Length == 0 ? url : $"{url} ({name})";
            try
            {
                var reply = await new Health.HealthClient(channel).CheckAsync(new HealthCheckRequest { Service = name },
                    deadline: DateTime.UtcNow.AddSeconds(p.GetValue(timeout)), cancellationToken: ct);
                bool serving = reply.Status == HealthCheckResponse.Types.ServingStatus.Serving;
                (serving ? Console.Out : Console.Error).WriteLine($"{what}: {reply.Status}");
                return serving ? 0 : 1;
            }
            catch (RpcException e) when (!ct.IsCancellationRequested)
            {
                Console.Error.WriteLine($"{what}: not serving: {e.StatusCode} {e.Status.Detail}");
                return 1;
            }
        });
        return command;
    }
}
