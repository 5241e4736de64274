using System.Buffers;
using System.Runtime.InteropServices;
using DistTrain.Protos;
using Google.Protobuf;
using Grpc.Core;

namespace DistTrain.Collectives.Grpc;

/// <summary>
/// Moves <see cref="RingFrame"/>s in exactly the wire format of the proto's <c>RingChunk</c>, but without the
/// generated code's copies: the sender's floats go once into gRPC's buffer, and the receiver's payload goes once from
/// the HTTP/2 pipe into a pooled array. Protobuf's own parser would allocate a fresh 1 MiB byte array (a large-object
/// heap allocation) per chunk and copy it again into the buffer; on loopback that cost a third of the link's speed.
/// </summary>
public static class RingFrameMarshaller
{
    private const int PayloadField = 7; // RingChunk.payload
    private const byte PayloadTag = (PayloadField << 3) | 2; // length-delimited

    public static readonly Marshaller<RingFrame> Instance = new(Serialize, Deserialize);

    private static void Serialize(RingFrame frame, SerializationContext context)
    {
        context.SetPayloadLength(EncodedLength(frame));
        Encode(frame, context.GetBufferWriter());
        context.Complete();
    }

    private static RingFrame Deserialize(DeserializationContext context) => Decode(context.PayloadAsReadOnlySequence());

    /// <summary>Bytes <see cref="Encode"/> writes for <paramref name="frame"/>.</summary>
    public static int EncodedLength(RingFrame frame)
    {
        int bytes = frame.Payload.Length * sizeof(float);
        return HeaderOf(frame).CalculateSize() + (bytes == 0 ? 0 : 1 + CodedOutputStream.ComputeLengthSize(bytes) + bytes);
    }

    /// <summary>Writes <paramref name="frame"/> as a protobuf RingChunk.</summary>
    public static void Encode(RingFrame frame, IBufferWriter<byte> writer)
    {
        // Header fields through protobuf itself, then the payload field appended by hand (fields may come in any order).
        HeaderOf(frame).WriteTo(writer);
        var bytes = MemoryMarshal.AsBytes(frame.Payload.Span);
        if (!bytes.IsEmpty)
        {
            var prefix = writer.GetSpan(6);
            prefix[0] = PayloadTag;
            int n = 1 + WriteVarint(prefix[1..], (uint)bytes.Length);
            writer.Advance(n);
            while (!bytes.IsEmpty)
            {
                // No size hint: a pipe asked for a 1 MiB span allocates a fresh 1 MiB segment, so the payload goes in
                // whatever pieces the writer's pooled blocks give.
                var span = writer.GetSpan();
                int take = Math.Min(span.Length, bytes.Length);
                bytes[..take].CopyTo(span);
                writer.Advance(take);
                bytes = bytes[take..];
            }
        }
    }

    /// <summary>Reads a protobuf RingChunk into a frame whose payload is pooled; fields may come in any order.</summary>
    public static RingFrame Decode(ReadOnlySequence<byte> message)
    {
        var reader = new SequenceReader<byte>(message);
        int fromRank = 0, phase = 0, step = 0, chunk = 0, floats = 0;
        long generation = 0, operation = 0;
        float[]? pooled = null;
        try
        {
            while (!reader.End)
            {
                ulong tag = ReadVarint(ref reader);
                switch ((int)(tag >> 3), (int)(tag & 7))
                {
                    case (1, 0): fromRank = (int)ReadVarint(ref reader); break;
                    case (2, 0): generation = (long)ReadVarint(ref reader); break;
                    case (3, 0): operation = (long)ReadVarint(ref reader); break;
                    case (4, 0): phase = (int)ReadVarint(ref reader); break;
                    case (5, 0): step = (int)ReadVarint(ref reader); break;
                    case (6, 0): chunk = (int)ReadVarint(ref reader); break;
                    case (PayloadField, 2):
                        ulong length = ReadVarint(ref reader);
                        if (pooled is not null) throw new InvalidDataException("a ring chunk carries its payload twice");
                        if (length % sizeof(float) != 0 || length > (ulong)reader.Remaining)
                            throw new InvalidDataException($"a ring chunk's payload of {length} bytes is not a whole number of floats within the message");
                        floats = (int)length / sizeof(float);
                        pooled = ArrayPool<float>.Shared.Rent(floats);
                        reader.TryCopyTo(MemoryMarshal.AsBytes(pooled.AsSpan(0, floats)));
                        reader.Advance((long)length);
                        break;
                    case var (field, wire):
                        throw new InvalidDataException($"a ring chunk carries field {field} (wire type {wire}), which RingChunk does not have");
                }
            }
        }
        catch
        {
            if (pooled is not null) ArrayPool<float>.Shared.Return(pooled);
            throw;
        }
        return RingFrame.Received(fromRank, generation, new RingMessageHeader(operation, phase, step, chunk, floats), pooled, floats);
    }

    private static RingChunk HeaderOf(RingFrame frame) => new()
    {
        FromRank = frame.FromRank, Generation = frame.Generation, Operation = frame.Header.Operation,
        Phase = frame.Header.Phase, Step = frame.Header.Step, Chunk = frame.Header.Chunk,
    };

    private static int WriteVarint(Span<byte> destination, uint value)
    {
        int i = 0;
        for (; value >= 0x80; value >>= 7) destination[i++] = (byte)(value | 0x80);
        destination[i++] = (byte)value;
        return i;
    }

    private static ulong ReadVarint(ref SequenceReader<byte> reader)
    {
        ulong value = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (!reader.TryRead(out byte b)) throw new InvalidDataException("a ring chunk ends inside a varint");
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80) return value;
        }
        throw new InvalidDataException("a ring chunk has a varint longer than 10 bytes");
    }
}
