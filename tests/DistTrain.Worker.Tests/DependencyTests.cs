using System.Reflection;

namespace DistTrain.Worker.Tests;

/// <summary>
/// Workers depend in the direction of the architecture: never on the coordinator, so a worker process carries no
/// Orleans silo, Redis client or PostgreSQL driver.
/// </summary>
public class DependencyTests
{
    [Fact]
    public void The_worker_references_neither_the_coordinator_nor_its_storage()
    {
        var seen = new HashSet<string>();
        var todo = new Stack<AssemblyName>([typeof(WorkerRuntime).Assembly.GetName()]);
        while (todo.TryPop(out var name))
        {
            if (!seen.Add(name.Name!)) continue;
            Assembly assembly;
            try
            {
                assembly = Assembly.Load(name);
            }
            catch (FileNotFoundException)
            {
                continue; // a framework facade this runtime resolves elsewhere
            }
            foreach (var r in assembly.GetReferencedAssemblies()) todo.Push(r);
        }
        Assert.Contains("DistTrain.Engine", seen);
        Assert.Contains("DistTrain.Collectives", seen);
        Assert.DoesNotContain(seen, n => n.StartsWith("Orleans", StringComparison.Ordinal) || n is "DistTrain.Coordinator" or "StackExchange.Redis" or "Npgsql"
            or "DistTrain.State.Grains" or "DistTrain.State.Contracts");
    }
}
