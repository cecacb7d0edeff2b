using System.CommandLine;

namespace Pot.Cli;

/// <summary>Builds the <c>pot</c> command tree.</summary>
public static class PotCommand
{
    /// <summary>Creates the root command with every subcommand attached.</summary>
    /// <returns>The root command.</returns>
    public static RootCommand Build()
    {
        var root = new RootCommand("Proof of Training: a blockchain whose consensus work trains a shared model.");
        root.Subcommands.Add(TrainCommands.CreateTrain());
        root.Subcommands.Add(TrainCommands.CreateEval());
        root.Subcommands.Add(TrainCommands.CreateGenerate());
        root.Subcommands.Add(InspectCommands.Create());
        root.Subcommands.Add(KeysCommands.Create());
        root.Subcommands.Add(SimulateCommands.Create());
        root.Subcommands.Add(GenesisCommands.Create());
        root.Subcommands.Add(NodeCommands.CreateNode());
        root.Subcommands.Add(NodeCommands.CreateStatus());
        root.Subcommands.Add(NodeCommands.CreateTx());
        root.Subcommands.Add(NodeCommands.CreateDevnet());
        root.Subcommands.Add(ModelCommands.Create());
        root.Subcommands.Add(CostCommand.Create());
        root.Subcommands.Add(ExperimentCommands.Create());
        root.Subcommands.Add(DocsCommands.Create());
        return root;
    }
}
