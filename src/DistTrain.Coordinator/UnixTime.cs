namespace DistTrain.Coordinator;

/// <summary>A grain's UTC time as the wire and the page carry it: Unix milliseconds.</summary>
public static class UnixTime
{
    /// <summary>Milliseconds since 1970 of a time the grains keep in UTC (a time read back from storage may have lost its kind).</summary>
    public static long Ms(DateTime utc) => new DateTimeOffset(DateTime.SpecifyKind(utc, DateTimeKind.Utc)).ToUnixTimeMilliseconds();
}
