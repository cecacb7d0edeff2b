using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Jobs;
using Pot.Consensus;

namespace Pot.Benchmarks.Consensus;

/// <summary>
/// Throughput of the pure PBFT core: n replicas in one process, lossless synchronous delivery,
/// keyed-hash signatures (so the numbers measure the protocol logic, not Ed25519). One operation
/// is one committed block at every replica; see <see cref="MessagesPerBlock"/> for the message count.
/// </summary>
[ShortRunJob]
[MemoryDiagnoser]
public class ConsensusThroughputBenchmarks
{
    private const int BlocksPerInvoke = 32;

    private sealed class AnyBatch : IBlockValidator
    {
        public bool IsValid(long height, ReadOnlySpan<byte> payload) => true;
    }

    [Params(4, 7, 16, 31, 64)]
    public int N { get; set; }

    /// <summary>Messages delivered per committed block (printed in setup; used to derive messages/s).</summary>
    public static long MessagesPerBlock { get; private set; }

    private int _round;

    [GlobalSetup]
    public void Setup()
    {
        long messages = CommitBlocks(N, BlocksPerInvoke, 0);
        MessagesPerBlock = messages / BlocksPerInvoke;
        Console.WriteLine($"// n={N}: {MessagesPerBlock} messages delivered per block");
    }

    [Benchmark(OperationsPerInvoke = BlocksPerInvoke)]
    public long CommitBlocks() => CommitBlocks(N, BlocksPerInvoke, ++_round);

    /// <summary>Commits <paramref name="blocks"/> blocks of 8 transactions on n fresh replicas; returns messages delivered.</summary>
    public static long CommitBlocks(int n, int blocks, int round)
    {
        var options = new ConsensusOptions { CheckpointInterval = 8, WatermarkWindow = 16, MaxBatchTransactions = 8, BatchDelayMs = 0 };
        var set = new ValidatorSet(Enumerable.Range(0, n));
        var verifier = new KeyedHashSigner(0, 7);
        var replicas = Enumerable.Range(0, n).Select(id => new Replica(options, set, new KeyedHashSigner(id, 7), verifier, new AnyBatch())).ToArray();
        var queue = new Queue<(int To, ConsensusInput Input)>();
        long delivered = 0;
        void Carry(int from, IReadOnlyList<ConsensusOutput> outs)
        {
            foreach (var o in outs)
            {
                if (o is SendOutput s) foreach (int to in s.To) queue.Enqueue((to, new MessageInput(s.Message)));
                else if (o is SetTimerOutput { Kind: TimerKind.Batch } t) queue.Enqueue((from, new TimerInput(t.Kind, t.Generation)));
            }
        }
        int tx = 0;
        for (int b = 0; b < blocks; b++)
        {
            for (int i = 0; i < 8; i++)
            {
                byte[] t = [0x54, (byte)round, (byte)(tx >> 16), (byte)(tx >> 8), (byte)tx];
                tx++;
                for (int id = 0; id < n; id++) Carry(id, replicas[id].Step(new ClientRequestInput(t)));
            }
            while (queue.Count > 0)
            {
                var (to, input) = queue.Dequeue();
                if (input is MessageInput) delivered++;
                Carry(to, replicas[to].Step(input));
            }
        }
        if (replicas.Any(r => r.ExecutedHeight != blocks))
        {
            throw new InvalidOperationException($"expected every replica at height {blocks}, got [{string.Join(",", replicas.Select(r => r.ExecutedHeight))}]");
        }
        return delivered;
    }
}
