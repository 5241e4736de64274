using System.Text;
using Microsoft.AspNetCore.Http;

namespace DistTrain.Coordinator.Web;

/// <summary>
/// A server-sent event stream (text/event-stream) fed by the coordinator's change signal, the one the gRPC Watch uses:
/// a message goes out when anything changes through this coordinator, at most every <see cref="MinInterval"/>, and at
/// least every <see cref="MaxInterval"/> (for changes made through another coordinator of the cluster, and for the
/// ages the page shows). The browser's EventSource reconnects by itself; no page polls.
/// </summary>
public static class EventStream
{
    public static readonly TimeSpan MinInterval = TimeSpan.FromMilliseconds(250);
    public static readonly TimeSpan MaxInterval = TimeSpan.FromSeconds(1);

    /// <summary>One message: the event's name and its JSON; <paramref name="Last"/> ends the stream after it (a finished job).</summary>
    public sealed record Message(string Event, byte[] Json, bool Last = false);

    /// <summary>Sends <paramref name="next"/>'s messages until the client goes, the coordinator stops, or a message is the last.</summary>
    /// <param name="log">Where a failure to make a message (a storage outage, say) is told, in one line; the stream then ends, and
    /// the browser reconnects.</param>
    public static async Task RunAsync(HttpContext context, JobRegistry registry, Func<CancellationToken, Task<Message>> next, Action<string> log,
        CancellationToken stopping)
    {
        var response = context.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-store";
        response.Headers["X-Accel-Buffering"] = "no"; // a reverse proxy must not hold messages back
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, stopping);
        var ct = linked.Token;
        try
        {
            // How long the browser waits before it reconnects after the coordinator went away.
            await WriteAsync(response, "retry: 3000\n\n", ct);
            while (true)
            {
                var changed = registry.ChangedAsync(ct);
                var message = await next(ct);
                await WriteAsync(response, $"event: {message.Event}\ndata: {Encoding.UTF8.GetString(message.Json)}\n\n", ct);
                if (message.Last)
                {
                    await WriteAsync(response, "event: end\ndata: {}\n\n", ct);
                    return;
                }
                await JobRegistry.PaceAsync(changed, MinInterval, MaxInterval, ct);
            }
        }
        catch (Exception) when (ct.IsCancellationRequested)
        {
            // The browser left, or the coordinator is stopping: the stream just ends.
        }
        catch (Exception e)
        {
            log($"warning: the page's stream {context.Request.Path} ended: {e.GetType().Name}: {e.Message}");
        }
    }

    private static async Task WriteAsync(HttpResponse response, string text, CancellationToken ct)
    {
        await response.WriteAsync(text, ct);
        await response.Body.FlushAsync(ct);
    }
}
