using Grpc.Core;

namespace DistTrain.Coordinator.Services;

/// <summary>Maps the registry's exceptions onto gRPC status codes, keeping their messages.</summary>
internal static class Errors
{
    public static Task<T> Map<T>(Func<T> call)
    {
        try
        {
            return Task.FromResult(call());
        }
        catch (KeyNotFoundException e)
        {
            throw new RpcException(new Status(StatusCode.NotFound, e.Message));
        }
        catch (Exception e) when (e is ArgumentException or Engine.Spec.SpecException or Data.DataException)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, e.Message));
        }
        catch (InvalidOperationException e)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, e.Message));
        }
    }
}
