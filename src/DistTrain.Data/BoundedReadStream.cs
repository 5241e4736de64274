namespace DistTrain.Data;

/// <summary>
/// A read-only view of a stream that refuses to yield more than <c>limit</c> bytes: the read that would pass it throws
/// a <see cref="DataException"/> naming the source and the limit, so a decompression bomb is stopped after at most
/// limit + 1 bytes, whatever reads it (a TarReader skipping entries, or our own loops).
/// </summary>
internal sealed class BoundedReadStream(Stream inner, long limit, string source, string what) : Stream
{
    /// <summary>Bytes read so far.</summary>
    public long BytesRead { get; private set; }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        // One byte past the limit is enough to know it was passed.
        int n = inner.Read(buffer[..(int)Math.Min(buffer.Length, limit + 1 - BytesRead)]);
        BytesRead += n;
        if (BytesRead > limit)
            throw new DataException($"{source}: {what} is larger than the limit of {limit:N0} bytes; refusing it (a corrupt or hostile file)");
        return n;
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => BytesRead; set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }
}
