using System.Security.Cryptography;
using System.Text;
using Pot.Chain;
using Pot.Chain.Blocks;
using Pot.Chain.Execution;
using Pot.Chain.Genesis;
using Pot.Chain.State;
using Pot.Chain.Transactions;
using Pot.Commitments.Keys;

namespace Pot.Chain.CrashChild;

/// <summary>
/// A deterministic test network and random workload: the block at height h is a pure function of
/// (seed, h, state at h − 1), so a killed process that restarts from its store produces the same
/// chain as an uninterrupted replay.
/// </summary>
public sealed class Workload
{
    public const string ChainId = "pot-test";
    public const ulong GenesisTimeMs = 1_700_000_000_000;

    public Workload(ulong seed, int validators = 4, int miners = 4, int verifiers = 4, int plainUsers = 4)
    {
        Seed = seed;
        Validators = Enumerable.Range(0, validators).Select(i => Key("validator", i)).ToArray();
        Miners = Enumerable.Range(0, miners).Select(i => Key("miner", i)).ToArray();
        Verifiers = Enumerable.Range(0, verifiers).Select(i => Key("verifier", i)).ToArray();
        Users = Enumerable.Range(0, plainUsers).Select(i => Key("user", i)).ToArray();
        var accounts = new List<GenesisAccount>();
        foreach (var m in Miners)
        {
            accounts.Add(new GenesisAccount(Addr(m), m.PublicKey, 1_000_000_000, 10_000, Roles.Miner));
        }
        foreach (var v in Verifiers)
        {
            accounts.Add(new GenesisAccount(Addr(v), v.PublicKey, 1_000_000_000, 10_000, Roles.Verifier));
        }
        foreach (var u in Users)
        {
            accounts.Add(new GenesisAccount(Addr(u), null, 1_000_000_000, 0, Roles.None));
        }
        var task = new GenesisTask(Addr(Users[0]), TaskDefinition(0));
        Genesis = new GenesisDocument(ChainId, GenesisTimeMs, new ChainParameters { UnbondingDelayBlocks = 5, MaxWindowBlocks = 3 },
            Validators.Select(v => new GenesisValidator(v.PublicKey, 100_000, 1_000_000_000)).ToArray(), accounts, [task]);
    }

    public ulong Seed { get; }
    public Ed25519Keys[] Validators { get; }
    public Ed25519Keys[] Miners { get; }
    public Ed25519Keys[] Verifiers { get; }
    public Ed25519Keys[] Users { get; }
    public GenesisDocument Genesis { get; }

    public IEnumerable<Ed25519Keys> Everyone => Validators.Concat(Miners).Concat(Verifiers).Concat(Users);

    public static Ed25519Keys Key(string role, int i) => Ed25519Keys.FromSeed(SHA256.HashData(Encoding.UTF8.GetBytes($"pot-test-key/{role}/{i}")));

    public static byte[] Addr(Ed25519Keys k) => AccountAddress.BytesFromPublicKey(k.PublicKey);

    public static CreateTaskPayload TaskDefinition(int salt) => new(
        Encoding.UTF8.GetBytes($"mlp 784-64-10 #{salt}"), SHA256.HashData(Encoding.UTF8.GetBytes($"dataset {salt}")), SHA256.HashData(Encoding.UTF8.GetBytes($"init {salt}")),
        (ulong)salt, [1, 2, 3], new VerificationParameters(3, 2, 16, BitConverter.SingleToUInt32Bits(0.01f), 2), 1_000, 50_000);

    /// <summary>The deterministic evidence a verifier commits to when rejecting a submission.</summary>
    public static byte[] Evidence(ReadOnlySpan<byte> submissionId, ReadOnlySpan<byte> verifier) => [.. "evidence:"u8, .. submissionId, .. verifier];

    // HashCode.Combine is randomised per process, so the seed is mixed by hand: a restarted process must
    // generate the same block for a height.
    public Random RngFor(ulong height) => new((int)(uint)(((Seed * 0x9E3779B97F4A7C15UL) ^ (height * 0xBF58476D1CE4E5B9UL)) >> 17));

    /// <summary>Generates the next block (with a certificate from every validator) on top of the ledger's head.</summary>
    public (Block Block, CommitCertificate Certificate) NextBlock(Ledger ledger, int minTx = 0, int maxTx = 12, double protocolShare = 0.4)
    {
        ulong height = ledger.Head.Height + 1;
        var rng = RngFor(height);
        var proposerKey = Validators[(int)(height % (ulong)Validators.Length)];
        byte[] proposer = Addr(proposerKey);
        ulong time = ledger.Head.TimeMs + 1000 + (ulong)rng.Next(0, 500);
        var ctx = new BlockContext(ledger.ChainId, height, time, proposer, ledger.Parameters, ledger.HeadHash);
        var o = new StateOverlay(ledger.State);
        ChainExecutor.BeginBlock(o, ctx);
        ledger.Executor.OpenChallenges(o, ctx);
        var included = new List<Transaction>();
        int count = rng.Next(minTx, maxTx + 1);
        for (int i = 0; i < count; i++)
        {
            var tx = RandomTransaction(ledger, o, rng, height, proposerKey, protocolShare);
            if (tx is not null && ledger.Executor.ApplyTransaction(o, tx, ctx) is null)
            {
                included.Add(tx);
            }
        }
        var block = ledger.BuildBlock(included, proposer, (ulong)rng.Next(0, 3), time, out var skipped);
        if (skipped.Count > 0)
        {
            throw new InvalidOperationException($"generated transaction was skipped at build: {skipped[0].Rejection}");
        }
        return (block, CommitCertificate.Sign(block.Hash, Validators));
    }

    private static ulong Fee(Random rng) => (ulong)rng.Next(2_000, 4_000);

    private Transaction? RandomTransaction(Ledger ledger, StateOverlay o, Random rng, ulong height, Ed25519Keys proposer, double protocolShare)
    {
        ulong NonceOf(Ed25519Keys k) => StateAccess.Account(o, Addr(k)).Nonce;
        T Pick<T>(IReadOnlyList<T> list) => list[rng.Next(list.Count)];
        Transaction Tx(Ed25519Keys k, TransactionPayload p) => Transaction.Create(ledger.ChainId, k, NonceOf(k), Fee(rng), p);

        if (rng.NextDouble() < protocolShare)
        {
            var meta = StateAccess.Meta(o);
            ulong taskId = (ulong)rng.Next(0, (int)meta.NextTaskId);
            var round = StateAccess.TaskRound(o, taskId)!;
            double r = rng.NextDouble();
            var pending = Enumerable.Range(0, (int)round.PendingCount).Select(i => o.Get(StateKeys.Pending(taskId, (uint)i))!).ToArray();
            if (r < 0.35 && !round.Finished)
            {
                var miner = Pick(Miners);
                var losses = Enumerable.Range(0, rng.Next(1, 5)).Select(_ => BitConverter.SingleToUInt32Bits((float)rng.NextDouble())).ToArray();
                return Tx(miner, new SubmitPayload(taskId, round.Round, round.ModelRoot, RandomHash(rng), RandomHash(rng), losses, (ulong)rng.Next(1, 1000)));
            }
            if (r < 0.75 && pending.Length > 0)
            {
                var verifier = Pick(Verifiers);
                byte[] id = Pick(pending);
                bool accept = rng.NextDouble() < 0.75;
                byte[] evidence = accept ? new byte[32] : SHA256.HashData(Evidence(id, Addr(verifier)));
                return Tx(verifier, new AttestPayload(id, accept, [(uint)rng.Next(0, 4)], [(uint)rng.Next(0, 100), (uint)rng.Next(100, 200)], evidence));
            }
            if (r < 0.85 && pending.Length > 0)
            {
                byte[] id = Pick(pending);
                var s = StateAccess.Submission(o, id)!;
                var reject = s.Attestations.FirstOrDefault(a => !a.Accept);
                if (reject is null)
                {
                    return null;
                }
                var prover = Pick(Users);
                return Tx(prover, new FraudProofPayload(id, RandomHash(rng), Evidence(id, reject.Verifier)));
            }
            var payload = ledger.Executor.ProposeFinalization(o, taskId, RandomHash(rng), height);
            return payload is null ? null : Tx(proposer, payload);
        }

        double k = rng.NextDouble();
        var sender = Pick(Everyone.ToArray());
        if (k < 0.70)
        {
            var to = rng.NextDouble() < 0.8 ? Addr(Pick(Everyone.ToArray())) : RandomHash(rng)[..20];
            return Tx(sender, new TransferPayload(to, (ulong)rng.Next(1, 100_000)));
        }
        if (k < 0.80)
        {
            return Tx(sender, new BondPayload((ulong)rng.Next(1, 5_000)));
        }
        if (k < 0.90)
        {
            return Tx(sender, new UnbondPayload((ulong)rng.Next(1, 3_000)));
        }
        if (k < 0.95)
        {
            var roles = new[] { Roles.Miner, Roles.Verifier };
            return Tx(Pick(Users), new RegisterRolePayload(Pick(roles)));
        }
        return Tx(Pick(Users), TaskDefinition(rng.Next(1, 1_000_000)));
    }

    private static byte[] RandomHash(Random rng)
    {
        var b = new byte[32];
        rng.NextBytes(b);
        return b;
    }
}
