using DistTrain.Engine.Model;
using DistTrain.Engine.Spec;
using DistTrain.Protos;

namespace DistTrain.Coordinator;

/// <summary>How a job's model text becomes a model: a preset name, or a spec as JSON text.</summary>
public static class JobModel
{
    /// <summary>Builds the job's model for data whose samples have <paramref name="sampleShape"/> (a preset follows it).</summary>
    public static Sequential Build(JobSpec spec, int[]? sampleShape = null)
    {
        var text = spec.Model.Trim();
        if (text.StartsWith('{')) return ModelSpec.Parse(text, "job model", spec.Seed);
        var declared = ModelSpec.Resolve(text, spec.Seed);
        return sampleShape is not null && sampleShape.Length == declared.InputShape.Length ? ModelSpec.Resolve(text, spec.Seed, sampleShape) : declared;
    }
}
