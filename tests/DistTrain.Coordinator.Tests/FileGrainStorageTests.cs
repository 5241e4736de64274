using DistTrain.State;
using Orleans.Runtime;
using Orleans.Storage;

namespace DistTrain.Coordinator.Tests;

/// <summary>The embedded store on its own: stale writes and corrupt files are refused with errors that say so.</summary>
public class FileGrainStorageTests
{
    private static readonly GrainId Id = GrainId.Create("job", "job-1");

    [Fact]
    public async Task A_write_from_a_stale_copy_is_refused()
    {
        var storage = new FileGrainStorage(Silo.TempStateDir());
        var a = new GrainState<JobIndexState>(new JobIndexState { LastJob = 1 });
        await storage.WriteStateAsync("index", Id, a);
        var stale = new GrainState<JobIndexState>(new JobIndexState());
        await storage.ReadStateAsync("index", Id, stale);
        a.State!.LastJob = 2;
        await storage.WriteStateAsync("index", Id, a);
        stale.State!.LastJob = 99;
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.WriteStateAsync("index", Id, stale));
        var read = new GrainState<JobIndexState>(new JobIndexState());
        await storage.ReadStateAsync("index", Id, read);
        Assert.Equal(2, read.State!.LastJob);
    }

    [Fact]
    public async Task A_corrupt_state_file_is_named_in_the_error()
    {
        var storage = new FileGrainStorage(Silo.TempStateDir());
        var s = new GrainState<JobIndexState>(new JobIndexState());
        await storage.WriteStateAsync("index", Id, s);
        string file = Directory.GetFiles(storage.Root, "*.json", SearchOption.AllDirectories).Single();
        await File.WriteAllTextAsync(file, "{\"ETag\": \"x\", \"State\": {\"LastJob\": ");
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => storage.ReadStateAsync("index", Id, new GrainState<JobIndexState>(new JobIndexState())));
        Assert.Contains(file, e.Message);
    }
}
