using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Pot.Chain;
using Pot.Chain.Genesis;
using Pot.Chain.State;
using Pot.Chain.Transactions;
using Pot.Commitments;
using Pot.Commitments.Keys;
using Pot.Node;

namespace Pot.Dashboard.Tests;

/// <summary>
/// Four validators in this process (full NodeHosts: Kestrel on loopback, RocksDB in a temp directory),
/// with a genesis that adds a task, a miner and a verifier. <see cref="InitializeAsync"/> then plays
/// one round of the protocol on the real chain through the user API — the miner submits, the verifier
/// rejects with committed evidence, a validator reveals it as a fraud proof, and a validator finalizes
/// the round with the outcome the chain's rules compute — so the miner is slashed on chain.
/// </summary>
public sealed class DashboardNetwork : IAsyncLifetime
{
    private static readonly IReadOnlyDictionary<string, string> NoEnvironment = new Dictionary<string, string>();
    private readonly WebApplication?[] _apps;
    private readonly SemaphoreSlim _pumpGate = new(1, 1);
    private ulong _pumpNonce;

    public DashboardNetwork()
    {
        Directory = Path.Combine(Path.GetTempPath(), "pot-dashboard-test-" + Guid.NewGuid().ToString("N")[..8]);
        var config = new Dictionary<string, object> { ["ViewTimeoutMs"] = 1500, ["SyncIntervalMs"] = 200 };
        string genesisPath;
        (Nodes, genesisPath) = DevnetLayout.Create(Directory, 4, config);
        Miner = Ed25519Keys.Generate();
        Verifier = Ed25519Keys.Generate();
        var genesis = GenesisDocument.Parse(File.ReadAllBytes(genesisPath));
        var task = new CreateTaskPayload(Encoding.UTF8.GetBytes("mlp 784-64-10 dashboard"), SHA256.HashData("dataset"u8), SHA256.HashData("init"u8), 7, [1, 2, 3],
            new VerificationParameters(1, 2, 16, BitConverter.SingleToUInt32Bits(0.01f), 2), 1_000, 50_000);
        genesis = genesis with
        {
            Accounts =
            [
                new GenesisAccount(AccountAddress.BytesFromPublicKey(Miner.PublicKey), Miner.PublicKey, 1_000_000_000, 1_000_000, Roles.Miner),
                new GenesisAccount(AccountAddress.BytesFromPublicKey(Verifier.PublicKey), Verifier.PublicKey, 1_000_000_000, 1_000_000, Roles.Verifier),
            ],
            Tasks = [new GenesisTask(AccountAddress.BytesFromPublicKey(Miner.PublicKey), task)],
        };
        if (genesis.Check() is string error) throw new InvalidOperationException("test genesis is invalid: " + error);
        File.WriteAllBytes(genesisPath, genesis.ToJson());
        _apps = new WebApplication?[Nodes.Count];
        Http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
    }

    public string Directory { get; }
    public IReadOnlyList<DevnetNode> Nodes { get; }
    public HttpClient Http { get; }
    public Ed25519Keys Miner { get; }
    public Ed25519Keys Verifier { get; }
    public string MinerAddress => Miner.Address;

    /// <summary>
    /// Node 0's round history, served by its real <c>/api/task/0/rounds</c> route. The network runs no
    /// protocol roles (the round is played by hand), so the fixture records the committed blocks into it
    /// and sets the evaluation of the finalized round itself (<see cref="RecordedLoss"/>): the round's
    /// model root is a made-up hash, there is no model to evaluate.
    /// </summary>
    public Pot.Node.Training.RoundHistory History { get; } = new(0);

    /// <summary>The validation loss and accuracy the fixture records for the finalized round.</summary>
    public static readonly (double Loss, double Accuracy) RecordedLoss = (1.25, 0.375);

    /// <summary>Height of the block that finalized the slashing round.</summary>
    public ulong FinalizedAt { get; private set; }

    public string ApiUrl(int index) => Nodes[index].ApiUrl;

    public Ed25519Keys Key(int index) => KeyFile.Open(File.ReadAllBytes(Nodes[index].KeyPath), DevnetLayout.Passphrase);

    public NodeCore Core(int index) => _apps[index]!.Services.GetRequiredService<NodeCore>();

    public async Task InitializeAsync()
    {
        for (int i = 0; i < Nodes.Count; i++)
        {
            var config = NodeConfig.Load(Nodes[i].ConfigPath, [], NoEnvironment);
            var app = NodeHost.Build(config, NoEnvironment, roundHistory: i == 0 ? History : null);
            await app.StartAsync();
            _apps[i] = app;
        }
        await PlaySlashingRoundAsync();
        for (ulong h = 1; h <= FinalizedAt; h++)
        {
            var block = Core(0).Read(v => v.Store.GetBlock(h))!.Value.Block;
            foreach (var record in History.Record(block)) History.SetEvaluation(record, RecordedLoss.Loss, RecordedLoss.Accuracy, null);
        }
    }

    public async Task<JsonNode> GetAsync(int index, string path) => JsonNode.Parse(await Http.GetStringAsync(Nodes[index].ApiUrl + path))!;

    /// <summary>Submits a transaction to node 0 and waits until it is committed (or fails with the node's reason).</summary>
    public async Task<ulong> CommitAsync(Transaction tx, TimeSpan? timeout = null)
    {
        using var response = await Http.PostAsync(Nodes[0].ApiUrl + "/api/tx", new ByteArrayContent(tx.Encode()));
        string body = await response.Content.ReadAsStringAsync();
        if ((int)response.StatusCode != 202) throw new InvalidOperationException($"{tx.Type} refused: {(int)response.StatusCode} {body}");
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (DateTime.UtcNow < deadline)
        {
            var status = await GetAsync(0, "/api/tx/" + Hex.Encode(tx.Hash));
            if ((string?)status["status"] == "committed") return (ulong)status["height"]!;
            await Task.Delay(100);
        }
        throw new TimeoutException($"{tx.Type} {Hex.Encode(tx.Hash)} not committed in time");
    }

    /// <summary>One transfer from validator 3 (the only sender of pump transfers), committed: makes a block.</summary>
    public async Task<ulong> PumpAsync()
    {
        await _pumpGate.WaitAsync();
        try
        {
            using var key = Key(3);
            var tx = Transaction.Create("pot-devnet", key, _pumpNonce, 5_000, new TransferPayload(AccountAddress.BytesFromPublicKey(Miner.PublicKey), 1));
            ulong h = await CommitAsync(tx);
            _pumpNonce++;
            return h;
        }
        finally
        {
            _pumpGate.Release();
        }
    }

    private async Task PlaySlashingRoundAsync()
    {
        var round = Core(0).Read(v => StateAccess.TaskRound(v.Store.Ledger.State, 0))!;
        uint[] losses = [BitConverter.SingleToUInt32Bits(2.0f), BitConverter.SingleToUInt32Bits(1.5f)];
        var submit = Transaction.Create("pot-devnet", Miner, 0, 10_000,
            new SubmitPayload(0, round.Round, round.ModelRoot, SHA256.HashData("update"u8), SHA256.HashData("trace"u8), losses, 64));
        await CommitAsync(submit);
        await PumpAsync(); // the challenge opens at the block after the submission's
        byte[] evidence = [.. "evidence:"u8, .. submit.Hash];
        var attest = Transaction.Create("pot-devnet", Verifier, 0, 10_000,
            new AttestPayload(submit.Hash, false, [0, 1], [3, 9], SHA256.HashData(evidence), FailedCheck: 1));
        await CommitAsync(attest);
        using var prover = Key(1);
        await CommitAsync(Transaction.Create("pot-devnet", prover, 0, 50_000, new FraudProofPayload(submit.Hash, SHA256.HashData("step"u8), evidence)));
        using var aggregator = Key(0);
        for (int attempt = 0; ; attempt++)
        {
            await PumpAsync();
            var payload = Core(0).Read(v => v.Store.Ledger.Executor.ProposeFinalization(v.Store.Ledger.State, 0, SHA256.HashData("aggregated"u8), v.Store.Height + 1))!;
            var fin = Transaction.Create("pot-devnet", aggregator, 0, 50_000, payload);
            try
            {
                FinalizedAt = await CommitAsync(fin);
                return;
            }
            catch (InvalidOperationException) when (attempt < 6)
            {
                // Window not over yet: one more block.
            }
        }
    }

    public async Task DisposeAsync()
    {
        for (int i = 0; i < _apps.Length; i++)
        {
            if (_apps[i] is { } app)
            {
                await app.StopAsync();
                await app.DisposeAsync();
                _apps[i] = null;
            }
        }
        Http.Dispose();
        Miner.Dispose();
        Verifier.Dispose();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
