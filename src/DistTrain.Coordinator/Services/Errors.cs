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
        catch (System.Security.Authentication.AuthenticationException e)
        {
            throw new RpcException(new Status(StatusCode.Unauthenticated, e.Message));
        }
        catch (UnauthorizedAccessException e)
        {
            throw new RpcException(new Status(StatusCode.PermissionDenied, e.Message));
        }
        catch (KeyNotFoundException e)
        {
            throw new RpcException(new Status(StatusCode.NotFound, e.Message));
        }
        catch (Exception e) when (e is ArgumentException or Engine.Spec.SpecException or Data.DataException)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, e.Message));
        }
        catch (InvalidDataException e)
        {
            // A checkpoint whose bytes are whole but whose content does not load: what it holds is lost to the caller.
            throw new RpcException(new Status(StatusCode.DataLoss, e.Message));
        }
        catch (Exception e) when (e is InvalidOperationException or InvalidJobChangeException)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, e.Message));
        }
        catch (Orleans.Storage.InconsistentStateException e)
        {
            // Two writers raced on one grain's stored state (a grain moving between coordinators): safe to retry.
            throw new RpcException(new Status(StatusCode.Aborted, $"the cluster's state changed under this call; try again ({e.Message})"));
        }
        catch (Exception e) when (e is Orleans.Runtime.OrleansException or TimeoutException)
        {
            // The grain's silo died or the cluster is re-forming (a coordinator was killed): Unavailable is what clients
            // and the workers' retry policy treat as "try again shortly", not a fault in the request.
            throw new RpcException(new Status(StatusCode.Unavailable, $"the coordinator cluster is not ready: {e.Message}"));
        }
    }
}
