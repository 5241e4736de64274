using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace DistTrain.Protos.Security;

/// <summary>
/// The server's check of the cluster token, in front of every gRPC call: as middleware, so that a stranger is refused
/// before anything of the call is read or parsed (a malformed message from a stranger gets Unauthenticated too), on
/// every service and method, known or not. The refusal is a gRPC trailers-only response with status UNAUTHENTICATED.
/// The health service's Check stays open, for probes that carry no token; its Watch (a stream that never ends) does not.
/// </summary>
public static class TokenCheck
{
    public static void UseClusterToken(this IApplicationBuilder app, string? token)
    {
        if (token is null) return;
        app.Use(async (context, next) =>
        {
            if (context.Request.Path.Equals("/grpc.health.v1.Health/Check", StringComparison.Ordinal))
            {
                await next(context);
                return;
            }
            string? value = context.Request.Headers.Authorization;
            string? presented = ClusterToken.FromBearer(value);
            if (presented is not null && ClusterToken.Matches(token, presented))
            {
                await next(context);
                return;
            }
            Refuse(context, StatusCodeUnauthenticated, value is null
                ? $"the call carries no cluster token: send 'authorization: Bearer TOKEN' (the CLI reads --token-file or ${ClusterToken.Variable})"
                : "the cluster token is wrong");
        });
    }

    private const int StatusCodeUnauthenticated = 16;

    // A trailers-only gRPC response: HTTP 200, and the status in the headers.
    private static void Refuse(HttpContext context, int status, string message)
    {
        context.Response.StatusCode = 200;
        context.Response.ContentType = "application/grpc";
        context.Response.Headers["grpc-status"] = status.ToString(System.Globalization.CultureInfo.InvariantCulture);
        context.Response.Headers["grpc-message"] = Uri.EscapeDataString(message);
    }
}
