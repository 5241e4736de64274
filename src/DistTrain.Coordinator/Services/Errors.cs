using DistTrain.State;
using Grpc.Core;

namespace DistTrain.Coordinator.Services;

/// <summary>Maps the registry's exceptions onto gRPC status codes, keeping their messages.</summary>
internal static class Errors
{

    public static async Task<T> Map<T>(Func<Task<T>> call)
    {
        try
        {
            return await call();
        }
        catch (UnknownWorkerException e)
        {
            throw new RpcException(new Status(StatusCode.NotFound, e.Message), new Metadata { { Protos.CoordinatorChannel.UnknownWorkerTrailer, "1" } });
        }
        catch (KeyNotFoundException e)
        {
            throw new RpcException(new Status(StatusCode.NotFound, e.Message));
        }
        catch (Exception e) when (e is ArgumentException or Engine.Spec.SpecException or Data.DataException)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, e.Message));
        }
        catch (Exception e) when (e is InvalidOperationException or InvalidJobChangeException)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, e.Message));
        }
    }
}
