namespace DistTrain.State;

/// <summary>The grain storage name every DistTrain grain uses; the host decides what backs it.</summary>
public static class StateStorage
{
    public const string Name = "disttrain";
}
