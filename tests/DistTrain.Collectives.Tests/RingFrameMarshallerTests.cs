using System.Buffers;
using DistTrain.Collectives.Grpc;
using DistTrain.Protos;
using Google.Protobuf;

namespace DistTrain.Collectives.Tests;

/// <summary>The hand-written ring codec must speak exactly the proto's RingChunk, in both directions.</summary>
public class RingFrameMarshallerTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(31)]        // payload length varint of one byte
    [InlineData(262_144)]   // 1 MiB, a three-byte varint
    public void Encoded_frames_parse_as_ring_chunks(int floats)
    {
        var payload = Enumerable.Range(0, floats).Select(i => i * 0.5f - 3).ToArray();
        var frame = RingFrame.Outgoing(-1, 1L << 40, new RingMessageHeader(123_456_789_012, 1, 7, 3, floats), payload);
        var writer = new ArrayBufferWriter<byte>();
        RingFrameMarshaller.Encode(frame, writer);
        Assert.Equal(RingFrameMarshaller.EncodedLength(frame), writer.WrittenCount);

        var chunk = RingChunk.Parser.ParseFrom(writer.WrittenSpan);
        Assert.Equal((-1, 1L << 40, 123_456_789_012L, 1, 7, 3), (chunk.FromRank, chunk.Generation, chunk.Operation, chunk.Phase, chunk.Step, chunk.Chunk));
        Assert.Equal(payload, System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(chunk.Payload.Span).ToArray());
    }

    [Fact]
    public void Protobuf_encoded_chunks_decode_in_any_field_order_and_across_segments()
    {
        var payload = new[] { 1f, -2f, 3.5f };
        var chunk = new RingChunk
        {
            FromRank = 2, Generation = 9, Operation = 4, Phase = 0, Step = 1, Chunk = 5,
            Payload = ByteString.CopyFrom(System.Runtime.InteropServices.MemoryMarshal.AsBytes(payload.AsSpan())),
        };
        // Protobuf writes the payload last; put it first, and split the message into one-byte segments.
        var bytes = chunk.ToByteArray();
        int payloadStart = Array.IndexOf(bytes, (byte)0x3A);
        var reordered = bytes[payloadStart..].Concat(bytes[..payloadStart]).ToArray();
        var frame = RingFrameMarshaller.Decode(Segmented(reordered));
        Assert.Equal((2, 9L), (frame.FromRank, frame.Generation));
        Assert.Equal(new RingMessageHeader(4, 0, 1, 5, 3), frame.Header);
        Assert.Equal(payload, frame.Payload.ToArray());
        frame.Release();
    }

    [Fact]
    public void A_payload_that_is_not_whole_floats_is_refused()
    {
        var chunk = new RingChunk { FromRank = 1, Payload = ByteString.CopyFrom(1, 2, 3) };
        var e = Assert.Throws<InvalidDataException>(() => RingFrameMarshaller.Decode(new ReadOnlySequence<byte>(chunk.ToByteArray())));
        Assert.Contains("3 bytes", e.Message);
    }

    [Fact]
    public void An_unknown_field_is_refused_by_number()
    {
        var e = Assert.Throws<InvalidDataException>(() => RingFrameMarshaller.Decode(new ReadOnlySequence<byte>([0x40, 0x01])));
        Assert.Contains("field 8", e.Message);
    }

    private static ReadOnlySequence<byte> Segmented(byte[] bytes)
    {
        var first = new Segment(bytes[..1], 0);
        var last = first;
        for (int i = 1; i < bytes.Length; i++) last = last.Append(bytes[i..(i + 1)]);
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(byte[] memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(byte[] memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
