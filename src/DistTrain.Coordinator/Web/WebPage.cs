using System.Text.Encodings.Web;
using System.Text.Json;
using DistTrain.Coordinator.Checkpoints;
using DistTrain.State;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace DistTrain.Coordinator.Web;

/// <summary>Where the coordinator's page is served, once it listens (port 0 until then, and when it serves none).</summary>
public sealed class WebPageAddress
{
    public int Port { get; set; }

    /// <summary>The page's root URL for this machine's browsers, e.g. http://127.0.0.1:9464/.</summary>
    public string? Url { get; set; }

    /// <summary>
    /// A request on the page's endpoint (HTTP/1.1, the page's port), not a gRPC call: those come over HTTP/2 to the
    /// gRPC endpoint, where the cluster token is checked, and nothing else may skip that check.
    /// </summary>
    public bool Serves(HttpContext context) => Port > 0 && context.Connection.LocalPort == Port
        && (HttpProtocol.IsHttp11(context.Request.Protocol) || HttpProtocol.IsHttp10(context.Request.Protocol));
}

/// <summary>
/// The live training page, on the coordinator's HTTP/1.1 endpoint beside /metrics: the jobs at /, a job at /jobs/ID, the
/// workers at /workers (one embedded single-page app, <see cref="WebAssets"/>), fed by the JSON API under /api and its
/// server-sent event streams (<see cref="EventStream"/>). Everything is read from the grains through
/// <see cref="JobRegistry"/>, so a restarted coordinator shows whole runs. Access is <see cref="WebSession"/>'s.
/// </summary>
public static class WebPage
{
    // Only the page's own files run: no inline script or style, nothing from another origin, never framed.
    private const string ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        + "frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

    /// <summary>The most jobs the jobs page lists, newest first: each message reads every one of them.</summary>
    public const int MaxListedJobs = 200;

    public static void MapWebPage(this WebApplication app, WebSession session, Action<string> log)
    {
        var address = app.Services.GetRequiredService<WebPageAddress>();
        var registry = app.Services.GetRequiredService<JobRegistry>();
        var keeper = app.Services.GetRequiredService<CheckpointKeeper>();
        var stopping = app.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping;
        app.Use((context, next) =>
        {
            if (address.Serves(context))
            {
                var headers = context.Response.Headers;
                headers.ContentSecurityPolicy = ContentSecurityPolicy;
                headers.XContentTypeOptions = "nosniff";
                headers.XFrameOptions = "DENY";
                headers["Referrer-Policy"] = "no-referrer"; // a login link's token never leaves in a Referer
            }
            return next(context);
        });

        // The app's pages: one document, which renders the route it is opened at.
        RequestDelegate page = context => session.Refusal(context) switch
        {
            null => WebAssets.ServeAsync(context, "index.html"),
            (StatusCodes.Status401Unauthorized, _) => Redirect(context, "/login?next=" + Uri.EscapeDataString(context.Request.Path + context.Request.QueryString)),
            var (status, why) => Text(context, status, why),
        };
        app.MapGet("/", page);
        app.MapGet("/workers", page);
        app.MapGet("/jobs/{id}", page);
        app.MapGet("/assets/{name}", (HttpContext context, string name) => WebAssets.ServeAsync(context, name));

        app.MapGet("/login", context =>
        {
            string next = WebSession.SafeNext(context.Request.Query["next"]);
            if (!session.PageServed) return Text(context, StatusCodes.Status403Forbidden, session.Refusal(context)!.Value.Why);
            if (!session.TokenRequired || session.Authenticated(context)) return Redirect(context, next);
            // A link that carries a login ticket (`disttrain local` prints one): log in, then drop it from the address bar.
            if (context.Request.Query.TryGetValue("ticket", out var ticket))
                return session.TryTicket(context, ticket) ? Redirect(context, next) : LoginPage(context, next, "That link's ticket is not this coordinator's.");
            return LoginPage(context, next, "");
        });
        app.MapPost("/login", async context =>
        {
            if (!context.Request.HasFormContentType || context.Request.ContentLength is null or > 8192)
            {
                await Error(context, StatusCodes.Status400BadRequest, "the login form is sent as a small form post");
                return;
            }
            var form = await context.Request.ReadFormAsync(context.RequestAborted);
            string next = WebSession.SafeNext(form["next"]);
            if (session.TryLogin(context, form["token"])) await Redirect(context, next);
            else await LoginPage(context, next, "That is not this cluster's token.");
        });
        app.MapPost("/logout", context =>
        {
            if (!WebSession.IsAction(context, "logout")) return Error(context, StatusCodes.Status400BadRequest, $"a logout carries the header {WebSession.ActionHeader}: logout");
            WebSession.Logout(context);
            context.Response.StatusCode = StatusCodes.Status204NoContent;
            return Task.CompletedTask;
        });

        app.MapGet("/api/session", context => Json(context, new { session.TokenRequired, Authenticated = session.Authenticated(context), CanAct = session.CanAct(context) }));
        app.MapGet("/api/jobs", Guarded(session, async context => await Json(context, await JobListAsync(registry))));
        app.MapGet("/api/jobs/stream", Guarded(session, context => EventStream.RunAsync(context, registry,
            async _ => new EventStream.Message("jobs", JsonSerializer.SerializeToUtf8Bytes(await JobListAsync(registry), WebViews.Json)), log, stopping)));
        app.MapGet("/api/workers", Guarded(session, async context => await Json(context, await WorkerListAsync(registry))));
        app.MapGet("/api/workers/stream", Guarded(session, context => EventStream.RunAsync(context, registry,
            async _ => new EventStream.Message("workers", JsonSerializer.SerializeToUtf8Bytes(await WorkerListAsync(registry), WebViews.Json)), log, stopping)));
        app.MapGet("/api/jobs/{id}", Guarded(session, KnownJob(registry, async (context, id) =>
        {
            var (json, _) = await new JobFeed(registry, id, session.CanAct(context)).NextAsync();
            context.Response.ContentType = "application/json";
            context.Response.Headers.CacheControl = "no-store";
            await context.Response.Body.WriteAsync(json, context.RequestAborted);
        })));
        app.MapGet("/api/jobs/{id}/stream", Guarded(session, KnownJob(registry, async (context, id) =>
        {
            var feed = new JobFeed(registry, id, session.CanAct(context));
            await EventStream.RunAsync(context, registry, async _ =>
            {
                var (json, final) = await feed.NextAsync();
                return new EventStream.Message("job", json, final);
            }, log, stopping);
        })));
        app.MapPost("/api/jobs/{id}/cancel", Guarded(session, async context =>
        {
            string id = (string)context.Request.RouteValues["id"]!;
            if (!session.CanAct(context))
            {
                await Error(context, StatusCodes.Status403Forbidden,
                    "this page is read-only: the coordinator has no cluster token and its page listens beyond this machine (--insecure); cancel with `disttrain cancel`");
                return;
            }
            if (!WebSession.IsAction(context, "cancel"))
            {
                await Error(context, StatusCodes.Status400BadRequest, $"a cancel carries the header {WebSession.ActionHeader}: cancel");
                return;
            }
            try
            {
                await registry.CancelAsync(id);
                await Json(context, WebViews.Summary(await registry.RecordAsync(id)));
            }
            catch (KeyNotFoundException e)
            {
                await Error(context, StatusCodes.Status404NotFound, e.Message);
            }
            catch (InvalidOperationException e)
            {
                await Error(context, StatusCodes.Status409Conflict, e.Message);
            }
        }));
        app.MapGet("/jobs/{id}/checkpoints/{digest}", Guarded(session, context => session.CanAct(context)
            ? DownloadAsync(context, registry, keeper, (string)context.Request.RouteValues["id"]!, (string)context.Request.RouteValues["digest"]!)
            : Error(context, StatusCodes.Status403Forbidden, "this page is read-only (no cluster token): it serves no model files")));
    }

    private static async Task<object> JobListAsync(JobRegistry registry) => new
    {
        Now = UnixTime.Ms(DateTime.UtcNow),
        Jobs = (await registry.RecordsAsync(MaxListedJobs)).Select(WebViews.Summary).ToList(),
    };

    private static async Task<object> WorkerListAsync(JobRegistry registry)
    {
        var now = DateTime.UtcNow;
        return new { Now = UnixTime.Ms(now), Workers = (await registry.WorkersAsync()).Select(w => WebViews.Worker(w, now)).ToList() };
    }

    // A checkpoint of the job (the final model among them), as a model file: `disttrain evaluate --model-file` and
    // Sequential.Load read it, and `train --resume` resumes from one.
    private static async Task DownloadAsync(HttpContext context, JobRegistry registry, CheckpointKeeper keeper, string jobId, string digest)
    {
        var job = await registry.FindAsync(jobId);
        if (job?.Checkpoints?.FirstOrDefault(c => c.Digest == digest) is not { } checkpoint)
        {
            await Error(context, StatusCodes.Status404NotFound, job is null ? $"no job {jobId}" : $"{jobId} keeps no checkpoint {digest}");
            return;
        }
        byte[]? bytes;
        try
        {
            bytes = await keeper.GetAsync(digest, context.RequestAborted);
        }
        catch (CorruptCheckpointException e)
        {
            await Error(context, StatusCodes.Status500InternalServerError, e.Message);
            return;
        }
        if (bytes is null)
        {
            await Error(context, StatusCodes.Status404NotFound, $"this coordinator holds no checkpoint {digest} ({keeper.Store.Locate(digest)})");
            return;
        }
        string name = checkpoint.Final ? $"{jobId}-final.dtm"
            : checkpoint.Step == 0 ? $"{jobId}-epoch{checkpoint.EpochsDone}.dtm" : $"{jobId}-epoch{checkpoint.EpochsDone + 1}-step{checkpoint.Step}.dtm";
        context.Response.ContentType = "application/octet-stream";
        context.Response.Headers.ContentDisposition = $"attachment; filename=\"{name}\"";
        context.Response.ContentLength = bytes.Length;
        await context.Response.Body.WriteAsync(bytes, context.RequestAborted);
    }

    // The API answers a caller without the session 401, naming what to do; the page then sends the browser to log in.
    private static RequestDelegate Guarded(WebSession session, RequestDelegate handler) => context => session.Refusal(context) is var (status, why)
        ? Error(context, status, why)
        : handler(context);

    // A route about the job its path names: 404 naming it when there is none, before anything is sent.
    private static RequestDelegate KnownJob(JobRegistry registry, Func<HttpContext, string, Task> handler) => async context =>
    {
        string id = (string)context.Request.RouteValues["id"]!;
        if (await registry.FindAsync(id) is null) await Error(context, StatusCodes.Status404NotFound, $"no job {id}");
        else await handler(context, id);
    };

    private static Task Text(HttpContext context, int status, string text)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/plain; charset=utf-8";
        return context.Response.WriteAsync(text + "\n", context.RequestAborted);
    }

    private static Task LoginPage(HttpContext context, string next, string error)
    {
        context.Response.StatusCode = error.Length > 0 ? StatusCodes.Status401Unauthorized : StatusCodes.Status200OK;
        context.Response.ContentType = "text/html; charset=utf-8";
        context.Response.Headers.CacheControl = "no-store";
        return context.Response.WriteAsync(WebAssets.Text("login.html")
            .Replace("{{next}}", HtmlEncoder.Default.Encode(next), StringComparison.Ordinal)
            .Replace("{{error}}", HtmlEncoder.Default.Encode(error), StringComparison.Ordinal), context.RequestAborted);
    }

    private static Task Redirect(HttpContext context, string location)
    {
        context.Response.StatusCode = StatusCodes.Status303SeeOther;
        context.Response.Headers.Location = location;
        return Task.CompletedTask;
    }

    private static Task Json(HttpContext context, object value)
    {
        context.Response.ContentType = "application/json";
        context.Response.Headers.CacheControl = "no-store";
        return context.Response.Body.WriteAsync(JsonSerializer.SerializeToUtf8Bytes(value, value.GetType(), WebViews.Json), context.RequestAborted).AsTask();
    }

    private static Task Error(HttpContext context, int status, string message)
    {
        context.Response.StatusCode = status;
        return Json(context, new { Error = message });
    }
}
