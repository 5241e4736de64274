using DistTrain.Protos;
using Grpc.Core;

namespace DistTrain.Collectives.Grpc;

/// <summary>
/// The sending end of a ring link: the right neighbour calls Link, and this service streams the outbox's frames to
/// it. It serves the proto's <c>disttrain.v1.Collective/Link</c> method, bound by hand (rather than through the
/// generated base class) so that frames go through <see cref="RingFrameMarshaller"/>; the wire format is the proto's.
/// </summary>
[BindServiceMethod(typeof(CollectiveService), nameof(BindService))]
public class CollectiveService(RingOutbox outbox)
{
    /// <summary>The Link method with the copy-avoiding marshaller; clients call it through the same definition.</summary>
    public static readonly Method<LinkRequest, RingFrame> LinkMethod = new(
        MethodType.ServerStreaming, Collective.Descriptor.FullName, "Link",
        Marshallers.Create(r => Google.Protobuf.MessageExtensions.ToByteArray(r), LinkRequest.Parser.ParseFrom), RingFrameMarshaller.Instance);

    public static void BindService(ServiceBinderBase binder, CollectiveService? service) =>
        binder.AddMethod(Protos.Security.StrictParsing.Strict(LinkMethod), service is null ? null : service.Link);

    public virtual async Task Link(LinkRequest request, IServerStreamWriter<RingFrame> responseStream, ServerCallContext context)
    {
        try
        {
            await outbox.ServeAsync(request, responseStream, context.CancellationToken).ConfigureAwait(false);
        }
        catch (CollectiveException e)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, e.Message));
        }
        catch (UnauthorizedAccessException e)
        {
            throw new RpcException(new Status(StatusCode.PermissionDenied, e.Message));
        }
    }
}
