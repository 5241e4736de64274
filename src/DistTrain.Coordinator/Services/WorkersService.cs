using DistTrain.Protos;
using Grpc.Core;

namespace DistTrain.Coordinator.Services;

/// <summary>The Workers API over <see cref="JobRegistry"/>.</summary>
public sealed class WorkersService(JobRegistry registry) : Workers.WorkersBase
{
    public override Task<RegisterResponse> Register(RegisterRequest request, ServerCallContext context) =>
        Errors.Map(async () => new RegisterResponse { WorkerId = await registry.RegisterAsync(request.AdvertisedAddress, request.Threads, request.WorkerId,
            request.Incarnation) });

    public override Task<HeartbeatResponse> Heartbeat(HeartbeatRequest request, ServerCallContext context) =>
        Errors.Map(async () => new HeartbeatResponse { Continue = await registry.HeartbeatAsync(request.WorkerId) });

    public override Task<Assignment> GetAssignment(GetAssignmentRequest request, ServerCallContext context) =>
        Errors.Map(() => registry.WaitForAssignmentAsync(request.WorkerId, context.CancellationToken, request.FinishedJobId));

    public override Task<ProgressAck> ReportProgress(ProgressReport request, ServerCallContext context) =>
        Errors.Map(async () => new ProgressAck { Continue = await registry.ReportAsync(request) });

    public override Task<LeaveResponse> Leave(LeaveRequest request, ServerCallContext context) =>
        Errors.Map(async () =>
        {
            await registry.LeaveAsync(request.WorkerId, request.Reason, request.FinishedJobId);
            return new LeaveResponse();
        });

    public override Task<BrokenRingAck> ReportBroken(BrokenRingReport request, ServerCallContext context) =>
        Errors.Map(async () =>
        {
            await registry.ReportBrokenAsync(request);
            return new BrokenRingAck();
        });

    public override Task<Assignment> NextGeneration(NextGenerationRequest request, ServerCallContext context) =>
        Errors.Map(() => registry.NextGenerationAsync(request.WorkerId, request.JobId, request.Generation, context.CancellationToken));

    public override Task<ListWorkersResponse> List(ListWorkersRequest request, ServerCallContext context) =>
        Errors.Map(async () =>
        {
            var response = new ListWorkersResponse();
            response.Workers.AddRange((await registry.WorkersAsync()).Select(JobRegistry.ToProto));
            return response;
        });
}
