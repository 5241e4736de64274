using System.Collections.Frozen;
using System.Reflection;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Http;

namespace DistTrain.Coordinator.Web;

/// <summary>
/// The page's files, embedded in the coordinator's assembly at build time (Web/assets), so that the page works with no
/// network and no files beside the binary. Each is served with its type and an ETag, so a browser revalidates instead
/// of downloading again.
/// </summary>
public static class WebAssets
{
    private sealed record Asset(byte[] Content, string ContentType, string ETag);

    private const string Prefix = "web/";

    private static readonly FrozenDictionary<string, Asset> Assets = Load();

    private static FrozenDictionary<string, Asset> Load()
    {
        var assembly = typeof(WebAssets).Assembly;
        var assets = new Dictionary<string, Asset>(StringComparer.Ordinal);
        foreach (string name in assembly.GetManifestResourceNames().Where(n => n.StartsWith(Prefix, StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(name)!;
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            byte[] content = copy.ToArray();
            assets[name[Prefix.Length..]] = new Asset(content, TypeOf(name), $"\"{Convert.ToHexStringLower(SHA256.HashData(content))[..16]}\"");
        }
        return assets.ToFrozenDictionary(StringComparer.Ordinal);
    }

    private static string TypeOf(string name) => Path.GetExtension(name) switch
    {
        ".html" => "text/html; charset=utf-8",
        ".css" => "text/css; charset=utf-8",
        ".js" => "text/javascript; charset=utf-8",
        ".svg" => "image/svg+xml",
        ".png" => "image/png",
        _ => "application/octet-stream",
    };

    /// <summary>An asset's text (a template such as login.html); throws when the build left it out.</summary>
    public static string Text(string name) => Assets.TryGetValue(name, out var a) ? System.Text.Encoding.UTF8.GetString(a.Content)
        : throw new InvalidOperationException($"the coordinator was built without its page's {name} (Web/assets)");

    /// <summary>Writes the asset, or 404 when there is none by that name; 304 when the browser's copy is current.</summary>
    public static async Task ServeAsync(HttpContext context, string name)
    {
        if (!Assets.TryGetValue(name, out var asset))
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }
        context.Response.Headers.ETag = asset.ETag;
        context.Response.Headers.CacheControl = "no-cache";
        if (context.Request.Headers.IfNoneMatch == asset.ETag)
        {
            context.Response.StatusCode = StatusCodes.Status304NotModified;
            return;
        }
        context.Response.ContentType = asset.ContentType;
        context.Response.ContentLength = asset.Content.Length;
        await context.Response.Body.WriteAsync(asset.Content, context.RequestAborted);
    }
}
