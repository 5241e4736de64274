using DistTrain.Protos;
using Grpc.Core;

namespace DistTrain.Collectives.Grpc;

/// <summary>The receiving end of a ring link: it moves every chunk of the left neighbour's stream into the inbox.</summary>
public sealed class CollectiveService(RingInbox inbox) : Collective.CollectiveBase
{
    public override async Task<LinkClosed> Link(IAsyncStreamReader<RingChunk> requestStream, ServerCallContext context)
    {
        long chunks = 0;
        try
        {
            await foreach (var chunk in requestStream.ReadAllAsync(context.CancellationToken).ConfigureAwait(false))
            {
                inbox.Deliver(chunk);
                chunks++;
            }
        }
        catch (CollectiveException e)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, e.Message));
        }
        return new LinkClosed { Chunks = chunks };
    }
}
