using System.Security.Cryptography;
using System.Text;
using DistTrain.Protos.Security;
using Microsoft.AspNetCore.Http;

namespace DistTrain.Coordinator.Web;

/// <summary>
/// Who may see the page and act on it. With a cluster token, a browser proves it holds the token once (the login form,
/// or a link that carries it) and gets an HTTP-only, same-site cookie; scripts may also send the token as a bearer
/// header. The cookie holds an HMAC of the token, never the token: it stays valid across coordinator restarts and
/// ends when the token changes. Without a token the page is open to read, and actions are taken only when the page
/// listens on loopback (a coordinator started with --insecure on a network shows it read-only).
/// <para>
/// Actions (cancel, logout) are POSTs that must carry <see cref="ActionHeader"/>: a cross-site form cannot set a
/// header, and a cross-site script cannot send one without a CORS preflight, which this server never grants.
/// </para>
/// </summary>
public sealed class WebSession(string? token, bool loopbackOnly)
{
    public const string Cookie = "disttrain_session";
    public const string ActionHeader = "X-DistTrain-Action";

    private readonly string? _session = token is null ? null
        : Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(token), "DistTrain web session v1"u8));

    public bool TokenRequired => token is not null;

    /// <summary>May read the page: no token is required, or the cookie or a bearer header proves the token.</summary>
    public bool Authenticated(HttpContext context)
    {
        if (token is null) return true;
        if (context.Request.Cookies[Cookie] is { } cookie && ClusterToken.Matches(_session!, cookie)) return true;
        return ClusterToken.FromBearer(context.Request.Headers.Authorization) is { } bearer && ClusterToken.Matches(token, bearer);
    }

    /// <summary>May act (cancel a job): authenticated with a token, or no token on a loopback-only page.</summary>
    public bool CanAct(HttpContext context) => token is not null ? Authenticated(context) : loopbackOnly;

    /// <summary>An action's POST carries the header naming it.</summary>
    public static bool IsAction(HttpContext context, string action) =>
        string.Equals(context.Request.Headers[ActionHeader], action, StringComparison.Ordinal);

    /// <summary>Sets the session cookie when <paramref name="presented"/> is the token; false otherwise.</summary>
    public bool TryLogin(HttpContext context, string? presented)
    {
        if (token is null || presented is null || !ClusterToken.Matches(token, presented.Trim())) return false;
        context.Response.Cookies.Append(Cookie, _session!, new CookieOptions
        {
            HttpOnly = true, SameSite = SameSiteMode.Strict, Secure = context.Request.IsHttps, Path = "/", IsEssential = true,
        });
        return true;
    }

    public static void Logout(HttpContext context) => context.Response.Cookies.Delete(Cookie, new CookieOptions { Path = "/" });

    /// <summary>A path on this site to go to after login; anything else (another host, "//evil") becomes "/".</summary>
    public static string SafeNext(string? next) =>
        next is { Length: > 0 and < 512 } n && n[0] == '/' && !n.StartsWith("//", StringComparison.Ordinal) && !n.Contains('\\') && !n.Contains('\n')
            && !n.Contains('\r') ? n : "/";

}
