using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using DistTrain.Coordinator.Web;
using DistTrain.Protos.Security;

namespace DistTrain.Coordinator.Tests;

/// <summary>
/// Who may see and act on a real coordinator's live page: with a token, only a browser that logged in (an HTTP-only,
/// same-site cookie) or a caller with the bearer token, and actions only with their header; without a token, a page
/// that listens beyond loopback is read-only. /metrics stays open to scrapers. Every answer carries the page's
/// Content-Security-Policy.
/// </summary>
public class WebPageTests : IAsyncLifetime
{
    private const string Token = "web-page-test-token-0123456789";
    private readonly string _state = Silo.TempStateDir();
    private Microsoft.AspNetCore.Builder.WebApplication? _app;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
        Directory.Delete(_state, recursive: true);
    }

    private readonly List<string> _log = [];

    private const string Ticket = "web-page-test-ticket-0123456789";

    private async Task<Uri> StartAsync(string? token, string webBind = "127.0.0.1", bool insecure = false)
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
        (_app, _) = await CoordinatorHost.StartAsync(new CoordinatorOptions("127.0.0.1", 0, null, StateStorageChoice.File(_state),
            Security: new ClusterSecurity(token, Insecure: insecure), Web: new WebEndpoint(webBind, 0, Ticket)), _log.Add);
        return new Uri(CoordinatorHost.PageUrl(_app)!);
    }

    private static HttpClient Client(Uri page, CookieContainer? cookies = null) =>
        new(new HttpClientHandler { AllowAutoRedirect = false, CookieContainer = cookies ?? new CookieContainer(), UseCookies = true })
        {
            BaseAddress = page, Timeout = TimeSpan.FromSeconds(30),
        };

    [Fact]
    public async Task With_a_token_the_page_asks_for_it_and_a_login_opens_the_api_to_that_browser_only()
    {
        var page = await StartAsync(Token);
        using var stranger = Client(page);
        Assert.Equal(HttpStatusCode.Unauthorized, (await stranger.GetAsync("/api/jobs")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await stranger.GetAsync("/api/jobs/stream")).StatusCode);
        var toLogin = await stranger.GetAsync("/jobs/job-1");
        Assert.Equal(HttpStatusCode.SeeOther, toLogin.StatusCode);
        Assert.Equal("/login?next=%2Fjobs%2Fjob-1", toLogin.Headers.Location!.OriginalString);
        Assert.Contains("default-src 'self'", toLogin.Headers.GetValues("Content-Security-Policy").Single());

        var wrong = await stranger.PostAsync("/login", new FormUrlEncodedContent(new Dictionary<string, string> { ["token"] = "guess", ["next"] = "/" }));
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        Assert.Contains("not this cluster&#x27;s token", await wrong.Content.ReadAsStringAsync());
        Assert.False(wrong.Headers.Contains("Set-Cookie"));

        var cookies = new CookieContainer();
        using var browser = Client(page, cookies);
        var login = await browser.PostAsync("/login", new FormUrlEncodedContent(new Dictionary<string, string> { ["token"] = Token, ["next"] = "/workers" }));
        Assert.Equal(HttpStatusCode.SeeOther, login.StatusCode);
        Assert.Equal("/workers", login.Headers.Location!.OriginalString);
        string cookie = login.Headers.GetValues("Set-Cookie").Single();
        Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(Token, cookie); // the cookie is an HMAC of the token, never the token

        var jobs = await browser.GetFromJsonAsync<JsonElement>("/api/jobs");
        Assert.Equal(0, jobs.GetProperty("jobs").GetArrayLength());
        Assert.Equal(HttpStatusCode.OK, (await browser.GetAsync("/jobs/job-1")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await browser.GetAsync("/api/jobs/job-9")).StatusCode);
        // An action needs its header: a form on another site cannot send one.
        Assert.Equal(HttpStatusCode.BadRequest, (await browser.PostAsync("/api/jobs/job-9/cancel", null)).StatusCode);
        var cancel = new HttpRequestMessage(HttpMethod.Post, "/api/jobs/job-9/cancel") { Headers = { { WebSession.ActionHeader, "cancel" } } };
        var unknown = await browser.SendAsync(cancel);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal("no job job-9", (await unknown.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetString());

        // A script may send the token itself; the stranger still sees nothing; scrapers see /metrics.
        using var script = Client(page);
        script.DefaultRequestHeaders.Authorization = new("Bearer", Token);
        Assert.Equal(HttpStatusCode.OK, (await script.GetAsync("/api/workers")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await stranger.GetAsync("/api/workers")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await stranger.GetAsync("/metrics")).StatusCode);

        // Logging out ends the session.
        var logout = new HttpRequestMessage(HttpMethod.Post, "/logout") { Headers = { { WebSession.ActionHeader, "logout" } } };
        Assert.Equal(HttpStatusCode.NoContent, (await browser.SendAsync(logout)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await browser.GetAsync("/api/jobs")).StatusCode);
    }

    [Fact]
    public async Task A_login_link_carries_a_ticket_not_the_token_and_never_sends_the_browser_off_the_site()
    {
        var page = await StartAsync(Token);
        var cookies = new CookieContainer();
        using var browser = Client(page, cookies);
        // The token is never part of a link; a wrong ticket logs nobody in.
        Assert.Equal(HttpStatusCode.OK, (await browser.GetAsync($"/login?next=%2F&token={Token}")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await browser.GetAsync($"/login?next=%2F&ticket={Token}")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await browser.GetAsync("/api/jobs")).StatusCode);
        var link = await browser.GetAsync($"/login?next=%2F%2Fevil.example%2F&ticket={Ticket}");
        Assert.Equal(HttpStatusCode.SeeOther, link.StatusCode);
        Assert.Equal("/", link.Headers.Location!.OriginalString);
        Assert.Equal("no-referrer", link.Headers.GetValues("Referrer-Policy").Single());
        Assert.Equal(HttpStatusCode.OK, (await browser.GetAsync("/api/jobs")).StatusCode);
        // Browsers drop a tab from a Location, which would make "/\t/evil.example" another site.
        var tabbed = await browser.GetAsync("/login?next=%2F%09%2Fevil.example&ticket=x");
        Assert.Equal("/", tabbed.Headers.Location!.OriginalString);
        Assert.Equal("/", WebSession.SafeNext("/\t/evil.example"));
        Assert.Equal("/", WebSession.SafeNext("/jobs/\u00e9"));
        Assert.Equal("/", WebSession.SafeNext("https://evil.example/"));
        Assert.Equal("/", WebSession.SafeNext("/\\evil.example"));
        Assert.Equal("/jobs/job-1", WebSession.SafeNext("/jobs/job-1"));
    }

    [Fact]
    public async Task Without_a_token_the_page_is_served_on_loopback_only_to_loopback_names_and_beyond_only_read_only_with_insecure()
    {
        // Beyond loopback without a token: /metrics only, and the coordinator says so.
        var page = await StartAsync(token: null, webBind: "0.0.0.0");
        using var anyone = Client(new Uri($"http://127.0.0.1:{page.Port}/"));
        Assert.Contains(_log, l => l.Contains("the page is not served on 0.0.0.0 without a cluster token", StringComparison.Ordinal));
        Assert.Equal(HttpStatusCode.OK, (await anyone.GetAsync("/metrics")).StatusCode);
        foreach (string path in new[] { "/", "/api/jobs", "/api/jobs/stream", "/login", "/jobs/job-1/checkpoints/00" })
            Assert.Equal(HttpStatusCode.Forbidden, (await anyone.GetAsync(path)).StatusCode);

        // With --insecure: readable, but no action and no model file.
        page = await StartAsync(token: null, webBind: "0.0.0.0", insecure: true);
        using var reader = Client(new Uri($"http://127.0.0.1:{page.Port}/"));
        var session = await reader.GetFromJsonAsync<JsonElement>("/api/session");
        Assert.False(session.GetProperty("tokenRequired").GetBoolean());
        Assert.False(session.GetProperty("canAct").GetBoolean());
        Assert.Equal(HttpStatusCode.OK, (await reader.GetAsync("/api/jobs")).StatusCode);
        var cancel = new HttpRequestMessage(HttpMethod.Post, "/api/jobs/job-1/cancel") { Headers = { { WebSession.ActionHeader, "cancel" } } };
        var refused = await reader.SendAsync(cancel);
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Contains("read-only", (await refused.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetString());
        Assert.Equal(HttpStatusCode.Forbidden, (await reader.GetAsync("/jobs/job-1/checkpoints/00")).StatusCode);

        // On loopback: it may act, but only for a loopback host name (a DNS-rebound site's name gets nothing).
        page = await StartAsync(token: null);
        using var local = Client(page);
        Assert.True((await local.GetFromJsonAsync<JsonElement>("/api/session")).GetProperty("canAct").GetBoolean());
        var rebound = new HttpRequestMessage(HttpMethod.Get, "/api/jobs") { Headers = { Host = "evil.example" } };
        Assert.Equal(HttpStatusCode.Forbidden, (await local.SendAsync(rebound)).StatusCode);
        var named = new HttpRequestMessage(HttpMethod.Get, "/api/jobs") { Headers = { Host = $"localhost:{page.Port}" } };
        Assert.Equal(HttpStatusCode.OK, (await local.SendAsync(named)).StatusCode);
        var index = await local.GetAsync("/");
        Assert.Equal("text/html; charset=utf-8", index.Content.Headers.ContentType!.ToString());
        var script = await local.GetAsync("/assets/app.js");
        Assert.Equal(HttpStatusCode.OK, script.StatusCode);
        var again = new HttpRequestMessage(HttpMethod.Get, "/assets/app.js");
        again.Headers.IfNoneMatch.Add(script.Headers.ETag!);
        Assert.Equal(HttpStatusCode.NotModified, (await local.SendAsync(again)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await local.GetAsync("/assets/nothing.js")).StatusCode);
    }
}
