using DistTrain.Protos;
using Grpc.Core;

namespace DistTrain.Coordinator.Services;

/// <summary>The Workers API over <see cref="JobRegistry"/>.</summary>
public sealed class WorkersService(JobRegistry registry) : Workers.WorkersBase
{
    public override Task<RegisterResponse> Register(RegisterRequest request, ServerCallContext context) =>
        Errors.Map(() => new RegisterResponse { WorkerId = registry.Register(request.AdvertisedAddress, request.Threads) });

    public override Task<HeartbeatResponse> Heartbeat(HeartbeatRequest request, ServerCallContext context) =>
        Errors.Map(() => new HeartbeatResponse { Continue = registry.Heartbeat(request.WorkerId) });

    public override async Task<Assignment> GetAssignment(GetAssignmentRequest request, ServerCallContext context)
    {
        try
        {
            return await registry.WaitForAssignmentAsync(request.WorkerId, context.CancellationToken);
        }
        catch (KeyNotFoundException e)
        {
            throw new RpcException(new Status(StatusCode.NotFound, e.Message));
        }
    }

    public override Task<ProgressAck> ReportProgress(ProgressReport request, ServerCallContext context) =>
        Errors.Map(() => new ProgressAck { Continue = registry.Report(request) });
}
