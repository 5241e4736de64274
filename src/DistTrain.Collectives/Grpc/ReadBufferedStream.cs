using System.Runtime.CompilerServices;

namespace DistTrain.Collectives.Grpc;

/// <summary>
/// A socket stream whose reads go through one large buffer, for the client side of ring links. The HTTP/2 client
/// asks the socket for a frame's worth (about 16 KB) at a time; on loopback the system call, not the copy, is what
/// costs, so one receive of up to a buffer's worth followed by in-memory copies moved ring chunks about twice as fast.
/// Writes pass straight through.
/// </summary>
internal sealed class ReadBufferedStream(Stream inner, int bufferSize) : Stream
{
    private readonly byte[] _buffer = GC.AllocateUninitializedArray<byte>(bufferSize, pinned: true);
    private int _position, _length;

    public override bool CanRead => true;
    public override bool CanWrite => true;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    // Pooled state machines: this is called once per HTTP/2 frame's worth of bytes.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public override async ValueTask<int> ReadAsync(Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        if (_position == _length)
        {
            if (destination.Length >= _buffer.Length) return await inner.ReadAsync(destination, cancellationToken).ConfigureAwait(false);
            _position = 0;
            _length = await inner.ReadAsync(_buffer, cancellationToken).ConfigureAwait(false);
            if (_length == 0) return 0;
        }
        int n = Math.Min(destination.Length, _length - _position);
        _buffer.AsSpan(_position, n).CopyTo(destination.Span);
        _position += n;
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> source, CancellationToken cancellationToken = default) => inner.WriteAsync(source, cancellationToken);
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => inner.WriteAsync(buffer, offset, count, cancellationToken);
    public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);
    public override void Flush() => inner.Flush();
    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }

    public override ValueTask DisposeAsync() => inner.DisposeAsync();
}
