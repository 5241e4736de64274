using System.Buffers;
using System.Runtime.InteropServices;
using Google.Protobuf;

namespace DistTrain.Collectives.Grpc;

/// <summary>
/// Float payloads as protobuf bytes without a copy on the send side: the float memory is viewed as bytes and wrapped
/// (UnsafeByteOperations.UnsafeWrap), which is safe because a send completes before its buffer is touched again.
/// The receive side copies once, from the message into its destination.
/// </summary>
internal static class FloatBytes
{
    public static ByteString Wrap(ReadOnlyMemory<float> floats) =>
        floats.IsEmpty ? ByteString.Empty : UnsafeByteOperations.UnsafeWrap(new ByteView(floats).Memory);

    public static int FloatCount(ByteString bytes) => bytes.Length / sizeof(float);

    public static void CopyTo(ByteString bytes, Span<float> destination) =>
        MemoryMarshal.Cast<byte, float>(bytes.Span).CopyTo(destination);

    // A Memory<byte> over a Memory<float>'s storage (little-endian, as every supported CPU is).
    private sealed class ByteView(ReadOnlyMemory<float> floats) : MemoryManager<byte>
    {
        public override Span<byte> GetSpan() => MemoryMarshal.AsBytes(MemoryMarshal.AsMemory(floats).Span);

        public override MemoryHandle Pin(int elementIndex = 0)
        {
            var handle = MemoryMarshal.AsMemory(floats).Pin();
            unsafe { return new MemoryHandle((byte*)handle.Pointer + elementIndex, default, null); }
        }

        public override void Unpin() { }

        protected override void Dispose(bool disposing) { }
    }
}
