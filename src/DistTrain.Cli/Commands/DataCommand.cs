using System.CommandLine;
using DistTrain.Cli.Output;
using DistTrain.Data;

namespace DistTrain.Cli.Commands;

/// <summary>`disttrain data fetch NAME` and `disttrain data info`.</summary>
public static class DataCommand
{
    public static Command Create()
    {
        var name = new Argument<string>("dataset") { Description = "Dataset to fetch" };
        name.AcceptOnlyFromAmong(DatasetCatalog.Names.ToArray());
        var fetch = new Command("fetch", "Fetch, verify and cache a dataset") { name };
        fetch.SetAction(p =>
        {
            var data = DatasetCatalog.Load(p.GetValue(name)!, null, Terminal.Info);
            Console.Out.WriteLine(data.Describe());
            return 0;
        });
        var info = new Command("info", "Show the data cache and what it holds");
        info.SetAction(_ =>
        {
            string root = DataCache.Root;
            Console.Out.WriteLine($"cache: {root} (set DISTTRAIN_DATA to move it)");
            if (!Directory.Exists(root))
            {
                Console.Out.WriteLine("  empty; run 'disttrain data fetch mnist'");
                return 0;
            }
            foreach (var dir in Directory.GetDirectories(root).Where(d => !Path.GetFileName(d).StartsWith('.')).Order())
            {
                long bytes = Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
                string detail = Path.GetFileName(dir) == Mnist.CacheName ? Mnist.LoadDirectory(dir).Describe() : "";
                Console.Out.WriteLine($"  {Path.GetFileName(dir),-24} {bytes / 1048576.0,8:F1} MiB  {detail}");
            }
            return 0;
        });
        return new Command("data", "Manage datasets") { fetch, info };
    }
}
