using System.CommandLine;
using DistTrain.Cli;
using DistTrain.Cli.Commands;

var root = new RootCommand("DistTrain: data-parallel neural-network training for .NET")
{
    TrainCommand.Create(),
    EvaluateCommand.Create(),
    DataCommand.Create(),
    BenchCommand.Create(),
    LocalCommand.Create(),
    LaunchCommand.Create(),
    ClusterCommands.Coordinator(),
    ClusterCommands.WorkerCommand(),
    ClusterCommands.Submit(),
    ClusterCommands.Status(),
    ClusterCommands.JobsCommand(),
    ClusterCommands.WorkersCommand(),
    ClusterCommands.Cancel(),
    CheckpointCommands.List(),
    CheckpointCommands.Export(),
    CertsCommand.Create(),
    HealthCommand.Create(),
};
return CliRunner.Invoke(root, args);
