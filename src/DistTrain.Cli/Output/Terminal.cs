using Spectre.Console;

namespace DistTrain.Cli.Output;

/// <summary>Progress and messages go to stderr so that stdout carries only results (and the --json line).</summary>
public static class Terminal
{
    public static IAnsiConsole Error { get; } = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });

    public static void Info(string message) => Console.Error.WriteLine(message);
}
