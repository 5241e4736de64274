using DistTrain.Protos;
using DistTrain.Protos.Security;
using Grpc.Core;

namespace DistTrain.Coordinator.Services;

/// <summary>
/// The Workers API over <see cref="JobRegistry"/>. Every call about a worker first shows that worker's secret (the one
/// its registration returned); what it may then do in a job (only its own, only for its own rank) the registry checks.
/// </summary>
[Grpc.Core.BindServiceMethod(typeof(WorkersService), nameof(BindService))]
public sealed class WorkersService(JobRegistry registry) : Workers.WorkersBase
{
    /// <summary>Binds the service with requests parsed strictly (<see cref="Protos.Security.StrictParsing"/>); the parameter is the generated
    /// base type, through which gRPC finds each method's override.</summary>
    public static void BindService(Grpc.Core.ServiceBinderBase binder, Workers.WorkersBase? service) => Workers.BindService(new Protos.Security.StrictParsing(binder), service);

    /// <summary>The worker secret a call presents, if any.</summary>
    public static string? Secret(ServerCallContext context) => context.RequestHeaders.GetValue(WorkerSecret.Header);

    public override Task<RegisterResponse> Register(RegisterRequest request, ServerCallContext context) =>
        Errors.Map(async () =>
        {
            var (id, secret) = await registry.RegisterWithSecretAsync(request.AdvertisedAddress, request.Threads, request.WorkerId, request.Incarnation,
                Secret(context), requireHttps: context.GetHttpContext().Request.IsHttps, launch: request.LaunchId);
            return new RegisterResponse { WorkerId = id, WorkerSecret = secret };
        });

    public override Task<HeartbeatResponse> Heartbeat(HeartbeatRequest request, ServerCallContext context) =>
        Errors.Map(async () =>
        {
            await registry.AuthenticateAsync(request.WorkerId, Secret(context));
            return new HeartbeatResponse { Continue = await registry.HeartbeatAsync(request.WorkerId, request.SamplesPerSecond) };
        });

    public override Task<Assignment> GetAssignment(GetAssignmentRequest request, ServerCallContext context) =>
        Errors.Map(async () =>
        {
            await registry.AuthenticateAsync(request.WorkerId, Secret(context));
            return await registry.WaitForAssignmentAsync(request.WorkerId, context.CancellationToken, request.FinishedJobId, request.FinishedGeneration);
        });

    public override Task<ProgressAck> ReportProgress(ProgressReport request, ServerCallContext context) =>
        Errors.Map(async () =>
        {
            await registry.AuthenticateAsync(request.WorkerId, Secret(context));
            return new ProgressAck { Continue = await registry.ReportAsync(request) };
        });

    public override Task<LeaveResponse> Leave(LeaveRequest request, ServerCallContext context) =>
        Errors.Map(async () =>
        {
            await registry.AuthenticateAsync(request.WorkerId, Secret(context));
            await registry.LeaveAsync(request.WorkerId, request.Reason, request.FinishedJobId, request.FinishedGeneration);
            return new LeaveResponse();
        });

    public override Task<BrokenRingAck> ReportBroken(BrokenRingReport request, ServerCallContext context) =>
        Errors.Map(async () =>
        {
            await registry.AuthenticateAsync(request.WorkerId, Secret(context));
            await registry.ReportBrokenAsync(request);
            return new BrokenRingAck();
        });

    public override Task<Assignment> NextGeneration(NextGenerationRequest request, ServerCallContext context) =>
        Errors.Map(async () =>
        {
            await registry.AuthenticateAsync(request.WorkerId, Secret(context));
            return await registry.NextGenerationAsync(request.WorkerId, request.JobId, request.Generation, context.CancellationToken);
        });

    public override Task<ListWorkersResponse> List(ListWorkersRequest request, ServerCallContext context) =>
        Errors.Map(async () =>
        {
            var response = new ListWorkersResponse();
            response.Workers.AddRange((await registry.WorkersAsync()).Select(JobRegistry.ToProto));
            return response;
        });
}
