using System.Security.Cryptography;
using System.Text;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using Pot.Chain;
using Pot.Chain.Blocks;
using Pot.Chain.Genesis;
using Pot.Chain.Storage;
using Pot.Chain.Transactions;
using Pot.Commitments.Keys;

namespace Pot.Benchmarks.Chain;

/// <summary>
/// Block execution throughput on RocksDB: certified blocks are validated (signatures, every rule,
/// state root), then committed in one synced write batch each. Time is reported per transaction, so
/// tx/s = 10^9 / (ns per op). Transfer blocks hold 1000 transfers; protocol blocks hold submits
/// (1 block of 500) and attestations (2 blocks of 1000).
/// </summary>
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 1, iterationCount: 5)]
[MemoryDiagnoser]
public class BlockExecutionBenchmarks
{
    private const int TransferBlocks = 4;
    private const int TransfersPerBlock = 1000;
    private const int Miners = 500;
    private const int Verifiers = 100;
    private const int ProtocolTxCount = Miners + 2 * 1000;

    private GenesisDocument _genesis = null!;
    private List<(Block Block, CommitCertificate Cert)> _transferBlocks = null!;
    private List<(Block Block, CommitCertificate Cert)> _protocolBlocks = null!;
    private string _dir = null!;
    private ChainStore? _store;

    private static Ed25519Keys Key(string s) => Ed25519Keys.FromSeed(SHA256.HashData(Encoding.UTF8.GetBytes(s)));

    private static byte[] Addr(Ed25519Keys k) => AccountAddress.BytesFromPublicKey(k.PublicKey);

    [GlobalSetup]
    public void Setup()
    {
        var validators = Enumerable.Range(0, 4).Select(i => Key($"bench-validator-{i}")).ToArray();
        var miners = Enumerable.Range(0, Miners).Select(i => Key($"bench-miner-{i}")).ToArray();
        var verifiers = Enumerable.Range(0, Verifiers).Select(i => Key($"bench-verifier-{i}")).ToArray();
        var accounts = miners.Select(m => new GenesisAccount(Addr(m), m.PublicKey, 1_000_000_000, 1_000, Roles.Miner))
            .Concat(verifiers.Select(v => new GenesisAccount(Addr(v), v.PublicKey, 1_000_000_000, 1_000, Roles.Verifier))).ToArray();
        var task = new CreateTaskPayload([1, 2, 3], new byte[32], SHA256.HashData("init"u8), 1, [], new VerificationParameters(3, 2, 16, 0, 5), 1_000, 1_000_000);
        _genesis = new GenesisDocument("pot-bench", 1_700_000_000_000, new ChainParameters(),
            validators.Select(v => new GenesisValidator(v.PublicKey, 100_000, 1_000_000_000)).ToArray(), accounts, [new GenesisTask(Addr(miners[0]), task)]);

        _transferBlocks = [];
        var ledger = Ledger.FromGenesis(_genesis);
        var nonces = new Dictionary<int, ulong>();
        (Block, CommitCertificate) Seal(IReadOnlyList<Transaction> txs)
        {
            var block = ledger.BuildBlock(txs, Addr(validators[0]), 0, ledger.Head.TimeMs + 1000, out var skipped);
            if (skipped.Count > 0)
            {
                throw new InvalidOperationException(skipped[0].Rejection.ToString());
            }
            var cert = CommitCertificate.Sign(block.Hash, validators);
            ledger.Commit(block, cert);
            return (block, cert);
        }
        var rng = new Random(1);
        for (int b = 0; b < TransferBlocks; b++)
        {
            var txs = new List<Transaction>();
            for (int i = 0; i < TransfersPerBlock; i++)
            {
                int from = i % Miners;
                ulong n = nonces.GetValueOrDefault(from);
                nonces[from] = n + 1;
                txs.Add(Transaction.Create("pot-bench", miners[from], n, 5_000, new TransferPayload(Addr(miners[rng.Next(Miners)]), (ulong)rng.Next(1, 1000))));
            }
            _transferBlocks.Add(Seal(txs));
        }

        _protocolBlocks = [];
        ledger = Ledger.FromGenesis(_genesis);
        byte[] baseRoot = SHA256.HashData("init"u8);
        var submits = miners.Select(m => Transaction.Create("pot-bench", m, 0, 5_000,
            new SubmitPayload(0, 0, baseRoot, SHA256.HashData(m.PublicKey), SHA256.HashData(Addr(m)), [0x3f800000, 0x3f000000], 256))).ToList();
        _protocolBlocks.Add(Seal(submits));
        for (int b = 0; b < 2; b++)
        {
            var txs = new List<Transaction>();
            for (int v = 0; v < Verifiers; v++)
            {
                for (int j = 0; j < 10; j++)
                {
                    var sub = submits[(v * 5 + j + b * 10) % Miners];
                    txs.Add(Transaction.Create("pot-bench", verifiers[v], (ulong)(b * 10 + j), 5_000, new AttestPayload(sub.Hash, true, [1], [7, 99], new byte[32])));
                }
            }
            _protocolBlocks.Add(Seal(txs));
        }
    }

    [IterationSetup]
    public void OpenFreshStore()
    {
        _dir = Path.Combine(Path.GetTempPath(), "pot-bench-" + Guid.NewGuid().ToString("N"));
        _store = ChainStore.Open(_dir, _genesis);
    }

    [IterationCleanup]
    public void DeleteStore()
    {
        _store?.Dispose();
        Directory.Delete(_dir, true);
    }

    /// <summary>Validate and commit 4 blocks of 1000 transfers each to RocksDB; time per transaction.</summary>
    [Benchmark(OperationsPerInvoke = TransferBlocks * TransfersPerBlock)]
    public ulong TransferBlocksOnRocksDb()
    {
        foreach (var (block, cert) in _transferBlocks)
        {
            _store!.Commit(block, cert);
        }
        return _store!.Height;
    }

    /// <summary>Validate and commit one block of 500 submits and two of 1000 attestations; time per transaction.</summary>
    [Benchmark(OperationsPerInvoke = ProtocolTxCount)]
    public ulong ProtocolBlocksOnRocksDb()
    {
        foreach (var (block, cert) in _protocolBlocks)
        {
            _store!.Commit(block, cert);
        }
        return _store!.Height;
    }
}
