using DistTrain.Collectives.Grpc;
using DistTrain.Protos;
using DistTrain.Protos.Security;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace DistTrain.Collectives.Tests;

/// <summary>
/// The ring's own defences, over real gRPC on loopback: the cluster token and the generation's ring secret on every
/// Link, and a receiver that meets malformed, truncated, oversized or foreign frames from a hostile "left neighbour"
/// (a real Kestrel server that serves raw bytes as Link's frames) with a CollectiveException naming what was wrong.
/// </summary>
public class RingSecurityTests(ITestOutputHelper output)
{
    private const string Token = "ring-test-token-5c1d9e0a7b";
    private const string Secret = "generation-secret-0123456789abcdef";

    [Fact]
    public async Task A_ring_with_the_token_and_its_secret_sums_and_a_link_without_them_is_refused()
    {
        var security = new ClusterSecurity(Token);
        var outboxes = new[] { new RingOutbox(TimeSpan.FromSeconds(5)), new RingOutbox(TimeSpan.FromSeconds(5)) };
        var hosts = new List<WebApplication>();
        try
        {
            var addresses = new string[2];
            for (int r = 0; r < 2; r++)
            {
                var (app, address) = await CollectiveHost.StartAsync("127.0.0.1", 0, outboxes[r], security: security);
                hosts.Add(app);
                addresses[r] = address;
            }
            var transports = Enumerable.Range(0, 2)
                .Select(r => GrpcRingTransport.Connect(r, 2, 7, addresses[1 - r], outboxes[r], secret: Secret, security: security)).ToArray();
            var buffers = new[] { new float[] { 1, 2, 3 }, new float[] { 10, 20, 30 } };
            await Task.WhenAll(Enumerable.Range(0, 2).Select(r => new RingAllreduce(transports[r], new RingOptions(Timeout: TimeSpan.FromSeconds(30)))
                .AllreduceAsync(buffers[r], 0)));
            Assert.Equal([11f, 22f, 33f], buffers[1]);

            // Strangers at rank 1's address: no token, a wrong token, the token without the secret, the token with a wrong secret.
            var attempts = new (string Name, ClusterSecurity? Security, string Secret, StatusCode Code, string Says)[]
            {
                ("no token", null, Secret, StatusCode.Unauthenticated, "no cluster token"),
                ("wrong token", new ClusterSecurity("not-the-token-000000"), Secret, StatusCode.Unauthenticated, "wrong"),
                ("no secret", security, "", StatusCode.PermissionDenied, "ring secret"),
                ("wrong secret", security, "guessed-secret", StatusCode.PermissionDenied, "ring secret"),
            };
            foreach (var (name, who, secret, code, says) in attempts)
            {
                using var channel = GrpcRingTransport.CreateChannel(addresses[1], who);
                using var call = channel.CreateCallInvoker().AsyncServerStreamingCall(CollectiveService.LinkMethod, null, new CallOptions(deadline: DateTime.UtcNow.AddSeconds(10)),
                    new LinkRequest { Rank = 0, Generation = 7, Secret = secret });
                var e = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext(CancellationToken.None));
                output.WriteLine($"{name}\t{e.StatusCode}\t{e.Status.Detail}");
                Assert.Equal(code, e.StatusCode);
                Assert.Contains(says, e.Status.Detail);
            }
            foreach (var t in transports) await t.DisposeAsync();
        }
        finally
        {
            foreach (var h in hosts) await h.DisposeAsync();
        }
    }

    // Hand-encoded RingChunk fields.
    private static byte[] Varint(int field, ulong value)
    {
        var bytes = new List<byte> { (byte)(field << 3) };
        for (; value >= 0x80; value >>= 7) bytes.Add((byte)(value | 0x80));
        bytes.Add((byte)value);
        return [.. bytes];
    }

    private static byte[] Frame(int fromRank, long generation, int payloadFloats) =>
        [.. Varint(1, (ulong)fromRank), .. Varint(2, (ulong)generation), .. Payload(payloadFloats * 4, payloadFloats * 4)];

    private static byte[] Payload(int declared, int actual)
    {
        var prefix = new List<byte> { (7 << 3) | 2 };
        for (uint v = (uint)declared; ; v >>= 7)
        {
            if (v < 0x80)
            {
                prefix.Add((byte)v);
                break;
            }
            prefix.Add((byte)(v | 0x80));
        }
        return [.. prefix, .. new byte[actual]];
    }

    public static TheoryData<string> HostileFrames => new(Hostile.Keys);

    // What the hostile left neighbour (rank 0, generation 7) serves, and words the receiver's error must hold.
    private static readonly Dictionary<string, (byte[][] Frames, string Says)> Hostile = new()
    {
        ["stream-ends-at-once"] = ([], "closed the ring link"),
        ["empty-frame"] = ([[]], "refused a chunk from rank 0, generation 0"),
        ["varint-cut-short"] = ([[0x08, 0xFF]], "varint"),
        ["varint-over-10-bytes"] = ([[0x08, .. Enumerable.Repeat((byte)0xFF, 11), 0x01]], "varint"),
        ["payload-not-whole-floats"] = ([[.. Varint(1, 0), .. Varint(2, 7), .. Payload(3, 3)]], "whole number of floats"),
        ["payload-longer-than-frame"] = ([[.. Varint(1, 0), .. Varint(2, 7), .. Payload(4000, 4)]], "whole number of floats"),
        ["payload-length-4GiB"] = ([[.. Varint(1, 0), .. Varint(2, 7), 0x3A, 0xFC, 0xFF, 0xFF, 0xFF, 0x0F]], "whole number of floats"),
        ["two-payloads"] = ([[.. Frame(0, 7, 1), .. Payload(4, 4)]], "payload twice"),
        ["unknown-field"] = ([[.. Varint(1, 0), .. Varint(9, 1)]], "field 9"),
        ["rank-with-wrong-wire-type"] = ([[0x0A, 0x01, 0x00]], "field 1"),
        ["stale-generation"] = ([Frame(0, 6, 4)], "generation 6"),
        ["foreign-rank"] = ([Frame(5, 7, 4)], "rank 5"),
        ["over-the-frame-cap"] = ([Frame(0, 7, (CollectiveHost.MaxFrameBytes / 4) + 16)], "ResourceExhausted"),
    };

    [Theory]
    [MemberData(nameof(HostileFrames))]
    public async Task A_hostile_left_neighbour_s_frame_fails_the_receive_with_a_clear_error(string name)
    {
        var (frames, says) = Hostile[name];
        await using var hostile = await HostileLink.StartAsync(frames);
        var outbox = new RingOutbox(TimeSpan.FromSeconds(5));
        var transport = GrpcRingTransport.Connect(1, 2, 7, hostile.Address, outbox);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var e = await Assert.ThrowsAsync<CollectiveException>(async () => (await transport.ReceiveAsync(timeout.Token)).Dispose());
        output.WriteLine($"{name}\t{e.Message}");
        Assert.Contains(says, e.Message);
        Assert.DoesNotContain("   at ", e.Message);
        transport.Abandon("test over");
    }

    /// <summary>A Link server that serves the given bytes as frames, whatever they are.</summary>
    [BindServiceMethod(typeof(HostileLink), nameof(BindService))]
    public class HostileLink : IAsyncDisposable
    {
        private static readonly Marshaller<byte[]> Bytes = Marshallers.Create(b => b, b => b);

        private static readonly Method<LinkRequest, byte[]> Method = new(MethodType.ServerStreaming, Collective.Descriptor.FullName, "Link",
            Marshallers.Create(r => r.ToByteArray(), LinkRequest.Parser.ParseFrom), Bytes);

        private readonly byte[][] _frames;
        private WebApplication? _app;

        public HostileLink(byte[][] frames) => _frames = frames;

        public string Address { get; private set; } = "";

        public static void BindService(ServiceBinderBase binder, HostileLink? service) =>
            binder.AddMethod(Method, service is null ? null : service.Link);

        public virtual async Task Link(LinkRequest request, IServerStreamWriter<byte[]> stream, ServerCallContext context)
        {
            foreach (var frame in _frames) await stream.WriteAsync(frame, context.CancellationToken);
        }

        public static async Task<HostileLink> StartAsync(byte[][] frames)
        {
            var link = new HostileLink(frames);
            var builder = WebApplication.CreateSlimBuilder();
            builder.Services.AddGrpc(o => o.MaxSendMessageSize = null);
            builder.Services.AddSingleton(link);
            builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http2));
            link._app = builder.Build();
            link._app.MapGrpcService<HostileLink>();
            await link._app.StartAsync();
            link.Address = link._app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            return link;
        }

        public async ValueTask DisposeAsync()
        {
            if (_app is not null) await _app.DisposeAsync();
        }
    }
}
