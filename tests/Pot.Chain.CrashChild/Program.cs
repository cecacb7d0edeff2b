using System.Globalization;
using Pot.Chain.Storage;

namespace Pot.Chain.CrashChild;

/// <summary>
/// Applies workload blocks to a RocksDB chain store until a target height, printing
/// "committed H" after each commit returns. The crash-safety test kills it with SIGKILL at random
/// moments and checks that every restart finds at least the last reported height and a state equal
/// to the replay of the stored blocks.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length != 3)
        {
            Console.Error.WriteLine("usage: Pot.Chain.CrashChild DB_DIR SEED TARGET_HEIGHT");
            return 2;
        }
        string dir = args[0];
        ulong seed = ulong.Parse(args[1], CultureInfo.InvariantCulture);
        ulong target = ulong.Parse(args[2], CultureInfo.InvariantCulture);
        var workload = new Workload(seed);
        using var store = ChainStore.Open(dir, workload.Genesis);
        Console.WriteLine($"head {store.Height}");
        while (store.Height < target)
        {
            var (block, cert) = workload.NextBlock(store.Ledger);
            store.Commit(block, cert);
            Console.WriteLine($"committed {store.Height}");
        }
        Console.WriteLine("done");
        return 0;
    }
}
