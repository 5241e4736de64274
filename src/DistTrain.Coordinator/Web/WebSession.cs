using System.Net;
using System.Security.Cryptography;
using System.Text;
using DistTrain.Protos.Security;
using Microsoft.AspNetCore.Http;

namespace DistTrain.Coordinator.Web;

/// <summary>
/// Who may see the page and act on it. With a cluster token, a browser proves it holds the token once (the login form,
/// or a link that carries it) and gets an HTTP-only, same-site cookie; scripts may also send the token as a bearer
/// header. The cookie holds an HMAC of the token, never the token: it stays valid across coordinator restarts and
/// ends when the token changes. Its name carries the port, so that two coordinators on one host keep separate sessions.
/// <para>
/// Without a token the page is served only where gRPC would be: on loopback, where it answers only to a loopback host
/// name (a DNS-rebound name of some web site gets nothing), or beyond with --insecure, read-only and without model
/// downloads.
/// </para>
/// <para>
/// Actions (cancel, logout) are POSTs that must carry <see cref="ActionHeader"/>: a cross-site form cannot set a
/// header, and a cross-site script cannot send one without a CORS preflight, which this server never grants.
/// </para>
/// </summary>
/// <param name="ticket">A second secret that logs a browser in through a link (`/login?ticket=...`) and does nothing else:
/// `local` hands one to its coordinator and prints the link, so that the cluster token itself is never printed.</param>
public sealed class WebSession(string? token, bool loopbackOnly, bool insecure = false, string? ticket = null)
{
    public const string ActionHeader = "X-DistTrain-Action";

    /// <summary>The environment variable a coordinator reads its login ticket from (`local` sets it for its own).</summary>
    public const string TicketVariable = "DISTTRAIN_PAGE_TICKET";

    private readonly string? _session = token is null ? null
        : Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(token), "DistTrain web session v1"u8));

    public bool TokenRequired => token is not null;

    /// <summary>Whether the page is served at all: with a token, on loopback, or with --insecure.</summary>
    public bool PageServed => token is not null || loopbackOnly || insecure;

    /// <summary>The session cookie's name on the port this request came in on.</summary>
    public static string Cookie(HttpContext context) => $"disttrain_session_{context.Connection.LocalPort}";

    /// <summary>Null when the request may read the page; otherwise its HTTP status and why.</summary>
    public (int Status, string Why)? Refusal(HttpContext context)
    {
        if (!PageServed)
            return (StatusCodes.Status403Forbidden, "this coordinator has no cluster token, so its page is served on loopback only: give it --token-file "
                + $"(or ${ClusterToken.Variable}), bind the page to 127.0.0.1 with --metrics-bind, or pass --insecure for a read-only page");
        if (token is null)
            return loopbackOnly && !LoopbackHost(context)
                ? (StatusCodes.Status403Forbidden, "this page has no cluster token and answers only to 127.0.0.1, [::1] or localhost")
                : null;
        if (context.Request.Cookies[Cookie(context)] is { } cookie && ClusterToken.Matches(_session!, cookie)) return null;
        if (ClusterToken.FromBearer(context.Request.Headers.Authorization) is { } bearer && ClusterToken.Matches(token, bearer)) return null;
        return (StatusCodes.Status401Unauthorized, "log in with the cluster token at /login (or send 'authorization: Bearer TOKEN')");
    }

    public bool Authenticated(HttpContext context) => Refusal(context) is null;

    /// <summary>May act (cancel a job, download a model): authenticated with a token, or no token on a loopback-only page.</summary>
    public bool CanAct(HttpContext context) => Authenticated(context) && (token is not null || loopbackOnly);

    /// <summary>An action's POST carries the header naming it.</summary>
    public static bool IsAction(HttpContext context, string action) =>
        string.Equals(context.Request.Headers[ActionHeader], action, StringComparison.Ordinal);

    /// <summary>Sets the session cookie when <paramref name="presented"/> is the token; false otherwise.</summary>
    public bool TryLogin(HttpContext context, string? presented) =>
        token is not null && presented is not null && ClusterToken.Matches(token, presented.Trim()) && StartSession(context);

    /// <summary>Sets the session cookie when <paramref name="presented"/> is the login ticket; false otherwise.</summary>
    public bool TryTicket(HttpContext context, string? presented) =>
        token is not null && ticket is not null && presented is not null && ClusterToken.Matches(ticket, presented) && StartSession(context);

    private bool StartSession(HttpContext context)
    {
        context.Response.Cookies.Append(Cookie(context), _session!, new CookieOptions
        {
            HttpOnly = true, SameSite = SameSiteMode.Strict, Secure = context.Request.IsHttps, Path = "/", IsEssential = true,
        });
        return true;
    }

    public static void Logout(HttpContext context) => context.Response.Cookies.Delete(Cookie(context), new CookieOptions { Path = "/" });

    /// <summary>
    /// A path on this site to go to after login. Anything else becomes "/": another host ("//evil", "/\evil"), and any
    /// character outside printable ASCII, since browsers drop tabs and newlines from a Location ("/\t/evil" is "//evil").
    /// </summary>
    public static string SafeNext(string? next) =>
        next is { Length: > 0 and < 512 } n && n[0] == '/' && n.All(c => c is > ' ' and < '\x7f') && !n.StartsWith("//", StringComparison.Ordinal)
            && !n.Contains('\\') ? n : "/";

    // The Host header names this machine's loopback: an address literal or localhost.
    private static bool LoopbackHost(HttpContext context)
    {
        string host = context.Request.Host.Host;
        return host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
            || (IPAddress.TryParse(host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));
    }
}
