using Pot.Consensus;

namespace Pot.Consensus.Tests;

/// <summary>Builders for core-level tests: keys, a validator that accepts any batch, and signed messages.</summary>
internal static class TestKit
{
    public const ulong Master = 42;
    public static readonly ValidatorSet Four = new([0, 1, 2, 3]);
    public static readonly ConsensusOptions Options = new() { CheckpointInterval = 4, WatermarkWindow = 8, BatchDelayMs = 0 };

    public static KeyedHashSigner Signer(int id) => new(id, Master);

    public static IConsensusVerifier Verifier => new KeyedHashSigner(0, Master);

    public sealed class AnyBatch : IBlockValidator
    {
        public bool IsValid(long height, ReadOnlySpan<byte> payload) => TransactionBatch.TryDecode(payload, out _);
    }

    public static Replica NewReplica(int id, IEnumerable<PersistRecord>? disk = null) =>
        new(Options, Four, Signer(id), Verifier, new AnyBatch(), disk);

    public static byte[] Tx(int i) => [0x54, (byte)i, (byte)(i >> 8)];

    public static PrePrepare Proposal(int primary, long view, long height, params byte[][] txs)
    {
        byte[] payload = TransactionBatch.Encode(txs);
        return new PrePrepare { Sender = primary, View = view, Height = height, Digest = Digests.Block(height, payload), Payload = payload }.SignWith(Signer(primary));
    }

    public static Prepare PrepareFor(int sender, PrePrepare pp) =>
        new Prepare { Sender = sender, View = pp.View, Height = pp.Height, Digest = pp.Digest }.SignWith(Signer(sender));

    public static Commit CommitFor(int sender, PrePrepare pp) =>
        new Commit { Sender = sender, View = pp.View, Height = pp.Height, Digest = pp.Digest }.SignWith(Signer(sender));

    public static IReadOnlyList<ConsensusOutput> Deliver(this Replica r, ConsensusMessage m) => r.Step(new MessageInput(m));

    public static IEnumerable<T> Sent<T>(this IEnumerable<ConsensusOutput> outputs) where T : ConsensusMessage =>
        outputs.OfType<SendOutput>().Select(s => s.Message).OfType<T>();

    /// <summary>Runs four replicas to commit heights 1..count with synchronous, lossless delivery.</summary>
    public static Replica[] CommitBlocks(int count, Func<ConsensusMessage, bool>? deliver = null)
    {
        var replicas = Enumerable.Range(0, 4).Select(id => NewReplica(id)).ToArray();
        var queue = new Queue<(int To, ConsensusMessage M)>();
        var timers = new Queue<(int To, SetTimerOutput T)>();
        void Carry(int from, IReadOnlyList<ConsensusOutput> outs)
        {
            // Batch timers fire at once; view timers never do (this harness has no faults).
            foreach (var t in outs.OfType<SetTimerOutput>().Where(t => t.Kind == TimerKind.Batch)) timers.Enqueue((from, t));
            foreach (var s in outs.OfType<SendOutput>())
            {
                foreach (int to in s.To)
                {
                    if (deliver is null || deliver(s.Message)) queue.Enqueue((to, s.Message));
                }
            }
        }
        for (int i = 0; i < count; i++)
        {
            for (int id = 0; id < 4; id++) Carry(id, replicas[id].Step(new ClientRequestInput(Tx(i))));
            while (queue.Count > 0 || timers.Count > 0)
            {
                if (queue.Count > 0)
                {
                    var (to, m) = queue.Dequeue();
                    Carry(to, replicas[to].Deliver(m));
                }
                else
                {
                    var (to, t) = timers.Dequeue();
                    Carry(to, replicas[to].Step(new TimerInput(t.Kind, t.Generation)));
                }
            }
        }
        return replicas;
    }
}
