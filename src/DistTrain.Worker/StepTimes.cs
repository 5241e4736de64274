namespace DistTrain.Worker;

/// <summary>Rank 0's step times since its previous progress report: their mean, and the mean part spent in allreduces.</summary>
internal sealed class StepTimes
{
    private double _seconds, _allreduce;
    private int _steps;

    public void Add(StepStats step)
    {
        _seconds += step.Seconds;
        _allreduce += step.AllreduceSeconds;
        _steps++;
    }

    public (double StepSeconds, double AllreduceSeconds, int Steps) Take()
    {
        var means = _steps == 0 ? (0, 0, 0) : (_seconds / _steps, _allreduce / _steps, _steps);
        _seconds = _allreduce = 0;
        _steps = 0;
        return means;
    }
}
