using Grpc.Core;

namespace DistTrain.Client;

/// <summary>
/// A call to a coordinator that failed: its message names the coordinator, the call and the gRPC status with the
/// coordinator's own explanation ("get job-9 at http://127.0.0.1:7070: NotFound: no job job-9"), as the CLI prints it,
/// so that a caller can show it as it is. The <see cref="RpcException"/> stays as the inner exception.
/// </summary>
public sealed class CoordinatorException : Exception
{
    public CoordinatorException(string coordinator, string call, RpcException inner, TimeSpan? deadline = null)
        : base($"{call} at {coordinator}: {inner.StatusCode}: {Explain(inner, deadline)}", inner)
    {
        Coordinator = coordinator;
        Call = call;
        StatusCode = inner.StatusCode;
    }

    /// <summary>The coordinator URL (or URLs) the client was made for.</summary>
    public string Coordinator { get; }

    /// <summary>What was asked, e.g. "cancel job-3".</summary>
    public string Call { get; }

    /// <summary>The gRPC status: NotFound for an unknown job, FailedPrecondition for a job that has already ended,
    /// InvalidArgument for a spec the coordinator refuses, Unavailable when no coordinator answered.</summary>
    public StatusCode StatusCode { get; }

    // gRPC's own details for these two say little ("Deadline Exceeded", "Error connecting to subchannel."): say what
    // they mean for the caller, keeping gRPC's words.
    private static string Explain(RpcException e, TimeSpan? deadline) => e.StatusCode switch
    {
        StatusCode.DeadlineExceeded when deadline is { } d => $"no answer within {d.TotalSeconds:0.#} s",
        StatusCode.Unavailable => $"no coordinator answered ({e.Status.Detail})",
        _ => e.Status.Detail,
    };
}
