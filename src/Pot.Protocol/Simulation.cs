using System.Security.Cryptography;
using Pot.Chain;
using Pot.Chain.Blocks;
using Pot.Chain.Execution;
using Pot.Chain.Genesis;
using Pot.Chain.State;
using Pot.Chain.Storage;
using Pot.Chain.Transactions;
using Pot.Commitments;
using Pot.Commitments.Keys;

namespace Pot.Protocol;

/// <summary>Options of an in-process protocol simulation.</summary>
public sealed record SimulationOptions
{
    /// <summary>The task.</summary>
    public required ProtocolTask Task { get; init; }

    /// <summary>Validators (every validator is a verifier).</summary>
    public int Validators { get; init; } = 4;

    /// <summary>Behaviour of each miner, in mining order (its length is the miner count).</summary>
    public required IReadOnlyList<MinerStrategy> Miners { get; init; }

    /// <summary>How much each cheating miner deviates in a round it cheats (<see cref="Miner.CheatCount"/>; null: each strategy's default).</summary>
    public int? CheatCount { get; init; }

    /// <summary>Probability that a cheating miner cheats in a given round (<see cref="Miner.CheatProbability"/>; default 1).</summary>
    public double CheatProbability { get; init; } = 1;

    /// <summary>Evaluate held-out loss only every this many rounds (and after the last); 1 = every round.</summary>
    public int EvaluateEvery { get; init; } = 1;

    /// <summary>Behaviour of validators 0, 1, …; the rest are honest.</summary>
    public IReadOnlyList<VerifierStrategy> VerifierStrategies { get; init; } = [];

    /// <summary>Rounds.</summary>
    public int Rounds { get; init; } = 3;

    /// <summary>Seed of the simulated keys (and so of every beacon).</summary>
    public ulong Seed { get; init; } = 1;

    /// <summary>Whether to evaluate held-out loss after every round (costs a full validation pass).</summary>
    public bool Evaluate { get; init; } = true;

    /// <summary>Validation batches per evaluation.</summary>
    public int EvaluationBatches { get; init; } = 5;

    /// <summary>
    /// Whether a slashed participant re-bonds to full stake before the next round (a cheater coming back under a
    /// fresh identity), so every round is an independent trial. The re-bond is a real bond transaction paid from the
    /// participant's balance, so the chain's supply invariant still holds.
    /// </summary>
    public bool Rebond { get; init; } = true;

    /// <summary>Stake of every participant.</summary>
    public ulong Stake { get; init; } = 1_000_000;

    /// <summary>Directory for the RocksDB stores (chain, each miner's and each validator's chunk store); null: a fresh temporary directory, deleted afterwards.</summary>
    public string? DataDirectory { get; init; }
}

/// <summary>What happened to one submission.</summary>
/// <param name="Round">Round.</param>
/// <param name="Miner">Miner index.</param>
/// <param name="Strategy">Its behaviour.</param>
/// <param name="Cheated">Whether it actually deviated this round (copy strategies need something to copy).</param>
/// <param name="Accepted">Whether it was accepted.</param>
/// <param name="RejectedBy">Why it was rejected: an inclusion error, or the failing checks of the reject attestations.</param>
/// <param name="Slashed">Whether the miner was slashed.</param>
/// <param name="SubmissionId">Submission id (hex).</param>
public sealed record SubmissionReport(ulong Round, int Miner, MinerStrategy Strategy, bool Cheated, bool Accepted, string RejectedBy, bool Slashed, string SubmissionId)
{
    /// <summary>Lower median over its attestations of the measured improvement on the γ batch (NaN when none measured it).</summary>
    public double Improvement { get; init; } = double.NaN;

    /// <summary>Lower median over its attestations of the measured improvement on the miner's own batch (NaN when none measured it).</summary>
    public double OwnImprovement { get; init; } = double.NaN;
}

/// <summary>One round's summary.</summary>
/// <param name="Round">Round.</param>
/// <param name="ValidationLoss">Held-out loss of θ_{r+1} (NaN when not evaluated).</param>
/// <param name="Accepted">Accepted submissions.</param>
/// <param name="Rejected">Rejected submissions (including those refused at inclusion).</param>
/// <param name="AggregationLeafFailures">Leaves of θ_{r+1} that validators found inconsistent (0 for an honest primary).</param>
public sealed record RoundReport(ulong Round, double ValidationLoss, int Accepted, int Rejected, int AggregationLeafFailures)
{
    /// <summary>Held-out accuracy of θ_{r+1} where the task has one (addition: exact match on 1,000 held-out problems); null otherwise or when not evaluated.</summary>
    public double? ValidationAccuracy { get; init; }
}

/// <summary>Totals of a simulation.</summary>
public sealed class SimulationReport
{
    /// <summary>Rounds run.</summary>
    public int Rounds { get; set; }

    /// <summary>Held-out loss of the initial model.</summary>
    public double InitialLoss { get; set; }

    /// <summary>Held-out loss after the last round.</summary>
    public double FinalLoss { get; set; }

    /// <summary>Held-out accuracy of the initial model (null when the task has no accuracy metric or evaluation is off).</summary>
    public double? InitialAccuracy { get; set; }

    /// <summary>Held-out accuracy after the last round (null when the task has no accuracy metric or evaluation is off).</summary>
    public double? FinalAccuracy { get; set; }

    /// <summary>Accepted submissions.</summary>
    public int Accepted { get; set; }

    /// <summary>Rejected submissions.</summary>
    public int Rejected { get; set; }

    /// <summary>Slashes of honest miners or verifiers (must be 0).</summary>
    public int SlashedHonest { get; set; }

    /// <summary>Slashes of cheating miners or misbehaving verifiers.</summary>
    public int SlashedCheaters { get; set; }

    /// <summary>Cheating submissions that were accepted.</summary>
    public int CheatersUndetected { get; set; }

    /// <summary>Honest submissions that were rejected (no slash; should be 0).</summary>
    public int HonestRejected { get; set; }

    /// <summary>Processor seconds of all verifier work.</summary>
    public double VerifierCpuSeconds { get; set; }

    /// <summary>Processor seconds of all miner work (training, committing, serving).</summary>
    public double MinerCpuSeconds { get; set; }

    /// <summary>Bytes verifiers fetched through the chunk network (models, updates, traces, states).</summary>
    public long VerifierBytesFetched { get; set; }

    /// <summary>Bytes of all submitted 4-bit updates.</summary>
    public long UpdateBytes { get; set; }

    /// <summary>Verifications performed.</summary>
    public int Verifications { get; set; }

    /// <summary>Every submission's fate.</summary>
    public List<SubmissionReport> Submissions { get; } = [];

    /// <summary>Per-round summaries.</summary>
    public List<RoundReport> RoundReports { get; } = [];

    /// <summary>Every slash with whether its target behaved honestly.</summary>
    public List<(ulong Round, Slash Slash, bool Honest)> Slashes { get; } = [];

    /// <summary>Counters of every verifier check.</summary>
    public CheckMetrics Checks { get; } = new();

    /// <summary>Final model root (hex).</summary>
    public string FinalModelRoot { get; set; } = "";

    /// <summary>Whether the supply invariant held after every round.</summary>
    public bool SupplyConserved { get; set; } = true;

    /// <summary>β of each round (hex): the hash of the block that started it.</summary>
    public List<string> RoundBeacons { get; } = [];

    /// <summary>Height of the chain at the end.</summary>
    public ulong ChainHeight { get; set; }

    /// <summary>Transactions the harness expected to apply but the chain refused (0 unless something is wrong).</summary>
    public List<string> UnexpectedRejections { get; } = [];
}

/// <summary>
/// Runs whole rounds in one process on the real chain: a genesis and a create-task transaction, blocks built with
/// <see cref="Pot.Chain.Ledger.BuildBlock"/> and committed with a commit certificate signed by every validator key
/// into a RocksDB <see cref="ChainStore"/> whose protocol rules are <see cref="PotProtocolRules"/>; miners, verifiers
/// and the aggregator are the role components (<see cref="MinerRole"/>, <see cref="VerifierRole"/>,
/// <see cref="AggregatorRole"/>) with RocksDB chunk stores, connected by an in-process <see cref="ChunkNetwork"/>.
/// </summary>
public static class ProtocolSimulation
{
    /// <summary>Chain id of the simulated chain.</summary>
    public const string ChainId = "pot-sim";

    /// <summary>Chain task id of the simulated task.</summary>
    public const ulong TaskId = 0;

    /// <summary>Runs the simulation.</summary>
    /// <param name="options">Options.</param>
    /// <param name="progress">Called after each round.</param>
    /// <returns>The report.</returns>
    public static SimulationReport Run(SimulationOptions options, Action<RoundReport>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var task = options.Task;
        task.Validate();
        if (options.Validators < task.VerifiersPerSubmission)
        {
            throw new ArgumentException($"{options.Validators} validators cannot supply c = {task.VerifiersPerSubmission} verifiers per submission");
        }
        if (options.Miners.Count == 0 || options.Rounds < 1)
        {
            throw new ArgumentException($"need at least one miner and one round, got {options.Miners.Count} miners and {options.Rounds} rounds");
        }
        bool temporary = options.DataDirectory is null;
        string dir = options.DataDirectory ?? Path.Combine(Path.GetTempPath(), "pot-sim-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var run = new Harness(options, dir);
        try
        {
            return run.Execute(progress);
        }
        finally
        {
            run.Dispose();
            if (temporary)
            {
                try
                {
                    Directory.Delete(dir, recursive: true);
                }
                catch (IOException)
                {
                    // A leftover temporary directory is harmless.
                }
            }
        }
    }

    private sealed class MinerEndpoint(MinerRole role) : IChunkSource, IServingClock
    {
        private double _retired;
        private MinerBlobServer? _last;

        public double ServeSeconds
        {
            get
            {
                if (!ReferenceEquals(_last, role.Server))
                {
                    _retired += _last?.ServeSeconds ?? 0;
                    _last = role.Server;
                }
                return _retired + (_last?.ServeSeconds ?? 0);
            }
        }

        public byte[]? TryGet(ReadOnlySpan<byte> commitment) => role.Server?.TryGet(commitment);
    }

    private sealed class Harness : IDisposable
    {
        private readonly SimulationOptions _o;
        private readonly ProtocolTask _task;
        private readonly Ed25519Keys[] _validatorKeys;
        private readonly Ed25519Keys[] _minerKeys;
        private readonly Ed25519Keys _owner;
        private readonly List<IDisposable> _disposables = [];
        private readonly ChunkNetwork _network = new();
        private readonly MinerRole[] _miners;
        private readonly VerifierRole[] _verifiers;
        private readonly AggregatorRole[] _aggregators;
        private readonly ChainStore _chain;
        private readonly SimulationReport _report;

        public Harness(SimulationOptions o, string dir)
        {
            _o = o;
            _task = o.Task;
            _report = new SimulationReport { Rounds = o.Rounds };
            _validatorKeys = Enumerable.Range(0, o.Validators).Select(i => KeyFor(o.Seed, "validator", i)).ToArray();
            _minerKeys = Enumerable.Range(0, o.Miners.Count).Select(i => KeyFor(o.Seed, "miner", i)).ToArray();
            _owner = KeyFor(o.Seed, "owner", 0);
            RocksChunkStore Store(string name)
            {
                var s = new RocksChunkStore(Path.Combine(dir, name));
                _disposables.Add(s);
                return s;
            }
            _verifiers = _validatorKeys.Select((k, i) => new VerifierRole(k, Store("validator-" + i),
                i < o.VerifierStrategies.Count ? o.VerifierStrategies[i] : VerifierStrategy.Honest)).ToArray();
            _aggregators = _verifiers.Select(v => new AggregatorRole(v.Store)).ToArray();
            foreach (var v in _verifiers)
            {
                _network.Add(v.Store);
            }
            _miners = _minerKeys.Select((k, i) => new MinerRole(k, Store("miner-" + i), o.Miners[i], o.CheatCount, o.CheatProbability)).ToArray();
            foreach (var m in _miners)
            {
                _network.Add(new MinerEndpoint(m));
            }
            var rules = new PotProtocolRules(new Dictionary<ulong, ProtocolTask> { [TaskId] = _task }, _network);
            _chain = ChainStore.Open(Path.Combine(dir, "chain"), Genesis(), rules);
            _disposables.Add(_chain);
        }

        private Ledger Ledger => _chain.Ledger;

        private IStateReader State => _chain.Ledger.State;

        public void Dispose()
        {
            for (int i = _disposables.Count - 1; i >= 0; i--)
            {
                _disposables[i].Dispose();
            }
        }

        private GenesisDocument Genesis()
        {
            ulong rounds = (ulong)_o.Rounds;
            ulong balance = _o.Stake * (rounds + 2) + 1_000_000_000;
            var parameters = new ChainParameters
            {
                SlashBurnPpm = 1_000_000 - _task.ProverSharePpm,
                MaxWindowBlocks = (ulong)Math.Max(10, _task.WindowBlocks),
                UnbondingDelayBlocks = (ulong)Math.Max(10, _task.WindowBlocks) + 10,
                MaxBlockBytes = ChainLimits.MaxBlockBytes,
            };
            var validators = _validatorKeys.Select(k => new GenesisValidator(k.PublicKey, _o.Stake, balance)).ToArray();
            var accounts = _minerKeys.Select(k => new GenesisAccount(AccountAddress.BytesFromPublicKey(k.PublicKey), k.PublicKey, balance, _o.Stake, Roles.Miner))
                .Append(new GenesisAccount(AccountAddress.BytesFromPublicKey(_owner.PublicKey), _owner.PublicKey, _task.RewardPerRound * rounds + 1_000_000_000, 0, Roles.None))
                .ToArray();
            return new GenesisDocument(ChainId, 1_700_000_000_000, parameters, validators, accounts, []);
        }

        private byte[] Proposer => AccountAddress.BytesFromPublicKey(_validatorKeys[(int)((Ledger.Head.Height + 1) % (ulong)_validatorKeys.Length)].PublicKey);

        /// <summary>Builds, certifies (every validator signs) and commits the next block; returns the skipped transactions.</summary>
        private IReadOnlyList<(Transaction Transaction, Rejection Rejection)> Commit(IEnumerable<Transaction> txs)
        {
            var block = Ledger.BuildBlock(txs, Proposer, 0, Ledger.Head.TimeMs + 1000, out var skipped);
            _chain.Commit(block, CommitCertificate.Sign(block.Hash, _validatorKeys));
            return skipped;
        }

        private void CommitExpecting(IEnumerable<Transaction> txs, string what)
        {
            foreach (var (tx, why) in Commit(txs))
            {
                _report.UnexpectedRejections.Add($"{what}: {tx}: {why}");
            }
        }

        public SimulationReport Execute(Action<RoundReport>? progress)
        {
            var engine = new StepEngine(_task);
            float[] model = engine.InitialModel();
            float[]? momentum = null;
            byte[] initialRoot = ModelBlobs.Put(_verifiers[0].Store, model);

            // Block 1: validators take the verifier role; the owner creates the task (round 0 starts here).
            var setup = _validatorKeys.Select(k => ChainView.Sign(ChainId, k, State, new RegisterRolePayload(Roles.Verifier))).ToList();
            setup.Add(ChainView.Sign(ChainId, _owner, State, new CreateTaskPayload(Hashing.Utf8(_task.Id), Hashing.Domain("pot/sim/dataset/v1", Hashing.Utf8(_task.Id)),
                initialRoot, _task.InitialModel is null ? (ulong)_task.Training.Seed : null, Hashing.Utf8(_task.Id), PotProtocolRules.VerificationOf(_task),
                _task.RewardPerRound, _task.RewardPerRound * (ulong)_o.Rounds)));
            CommitExpecting(setup, "setup");

            var report = _report;
            var initial = _o.Evaluate ? engine.Evaluate(model, _o.EvaluationBatches) : null;
            report.InitialLoss = initial?.ValidationLoss ?? double.NaN;
            report.FinalLoss = report.InitialLoss;
            report.InitialAccuracy = initial?.Accuracy;
            report.FinalAccuracy = report.InitialAccuracy;
            var minerIndex = _minerKeys.Select((k, i) => (AccountAddress.FromPublicKey(k.PublicKey), i)).ToDictionary(x => x.Item1, x => x.i, StringComparer.Ordinal);
            var verifierIndex = _validatorKeys.Select((k, i) => (AccountAddress.FromPublicKey(k.PublicKey), i)).ToDictionary(x => x.Item1, x => x.i, StringComparer.Ordinal);
            for (int round = 0; round < _o.Rounds; round++)
            {
                // The block after the round's start records β; it also carries the re-bonds of slashed participants
                // (a cheater coming back with fresh stake, so that every round is an independent trial).
                var bonds = new List<Transaction>();
                if (_o.Rebond)
                {
                    foreach (var k in _minerKeys.Concat(_validatorKeys))
                    {
                        var a = StateAccess.Account(State, AccountAddress.BytesFromPublicKey(k.PublicKey));
                        if (a.Stake < _o.Stake && a.Balance > _o.Stake - a.Stake + 10_000)
                        {
                            bonds.Add(ChainView.Sign(ChainId, k, State, new BondPayload(_o.Stake - a.Stake)));
                        }
                    }
                }
                CommitExpecting(bonds, "re-bond");
                var chainRound = ChainView.Round(State, TaskId) ?? throw new InvalidOperationException("the simulated task has no open round");
                report.RoundBeacons.Add(Hex.Encode(chainRound.Beacon));

                // Mining: each miner trains from θ_r (fetched by root) and signs its submit transaction.
                var outputs = new List<MinerOutput>();
                var mined = new MinedRound[_miners.Length];
                var cheated = new bool[_miners.Length];
                var inclusionErrors = new Dictionary<int, string>();
                for (int i = 0; i < _miners.Length; i++)
                {
                    mined[i] = _miners[i].Mine(_task, ChainId, State, TaskId, _network, engine, outputs)!;
                    report.MinerCpuSeconds += mined[i].Output.CpuSeconds;
                    report.UpdateBytes += mined[i].Output.UpdateBlob.Length;
                    cheated[i] = mined[i].Output.Deviated;
                    outputs.Add(mined[i].Output);
                }
                var byHash = mined.Select((m, i) => (Hex.Encode(m.Transaction.Hash), i)).ToDictionary(x => x.Item1, x => x.i, StringComparer.Ordinal);
                foreach (var (tx, why) in Commit(mined.Where(m => !m.Output.Late).Select(m => m.Transaction)))
                {
                    inclusionErrors[byHash[Hex.Encode(tx.Hash)]] = why.ToString();
                }
                var late = mined.Where(m => m.Output.Late).ToArray();
                if (late.Length > 0)
                {
                    while (Ledger.Head.Height + 1 < chainRound.SubmissionsCloseHeight)
                    {
                        Commit([]);
                    }
                    var skipped = Commit(late.Select(m => m.Transaction));
                    foreach (var m in late)
                    {
                        int i = byHash[Hex.Encode(m.Transaction.Hash)];
                        inclusionErrors[i] = skipped.FirstOrDefault(x => x.Transaction.Hash.AsSpan().SequenceEqual(m.Transaction.Hash)).Rejection?.ToString() ?? "late submission was accepted";
                    }
                }
                else
                {
                    // The next block opens the challenges (γ from the hash of the block that included the submissions).
                    Commit([]);
                }

                // Verification: each verifier checks the submissions γ assigned to it and attests; provable failures come with fraud proofs.
                var attestations = new List<Transaction>();
                var proofs = new List<(int Verifier, FraudProofPayload Payload)>();
                for (int v = 0; v < _verifiers.Length; v++)
                {
                    ulong offset = 0;
                    foreach (byte[] id in _verifiers[v].AssignedPending(State, TaskId))
                    {
                        double servedBefore = _network.ServeSeconds;
                        long bytesBefore = _network.BytesServed;
                        var result = _verifiers[v].Verify(_task, State, id, _network);
                        report.MinerCpuSeconds += _network.ServeSeconds - servedBefore;
                        report.VerifierBytesFetched += _network.BytesServed - bytesBefore;
                        report.VerifierCpuSeconds += result.CpuSeconds;
                        report.Verifications++;
                        attestations.Add(ChainView.Sign(ChainId, _validatorKeys[v], State, result.AttestPayload, offset++));
                        if (result.FraudProofPayload is { } proof)
                        {
                            proofs.Add((v, proof));
                        }
                    }
                }
                CommitExpecting(attestations, "attestation");
                while (proofs.Count > 0)
                {
                    // One proof per sender per block, so that a refused proof cannot leave a nonce gap.
                    var batch = proofs.GroupBy(p => p.Verifier).Select(g => g.First()).ToList();
                    foreach (var p in batch)
                    {
                        proofs.Remove(p);
                    }
                    var skipped = Commit(batch.Select(p => ChainView.Sign(ChainId, _validatorKeys[p.Verifier], State, p.Payload)));
                    foreach (var (tx, why) in skipped.Where(x => x.Rejection.Code != RejectionCode.DuplicateFraudProof))
                    {
                        report.UnexpectedRejections.Add($"fraud proof: {tx}: {why}");
                    }
                }

                // Finalization after the window: the primary aggregates; every validator checks s leaves before certifying.
                while (Ledger.Head.Height + 1 < chainRound.SubmissionsCloseHeight)
                {
                    Commit([]);
                }
                var pending = ChainView.Pending(State, TaskId);
                int primary = round % _validatorKeys.Length;
                var proposal = _aggregators[primary].Propose(_task, Ledger, TaskId, _network, momentum)
                    ?? throw new InvalidOperationException("the aggregator could not propose a finalization");
                int leafFailures = 0;
                foreach (var k in _validatorKeys)
                {
                    leafFailures += Math.Max(0, AggregatorRole.CheckProposal(_task, proposal, _network, k.PublicKey));
                }
                CommitExpecting([ChainView.Sign(ChainId, _validatorKeys[primary], State, proposal.Payload)], "finalize");
                model = proposal.Result.Model;
                momentum = proposal.Result.Momentum;
                if (!SupplyAudit.Compute(Ledger.State).Conserved)
                {
                    report.SupplyConserved = false;
                }

                var slashed = new HashSet<string>(StringComparer.Ordinal);
                foreach (var slash in proposal.Payload.Slashes)
                {
                    string offender = AddressText.Of(slash.Offender);
                    slashed.Add(offender);
                    bool honest = minerIndex.TryGetValue(offender, out int mi)
                        ? !cheated[mi]
                        : _verifiers[verifierIndex[offender]].Verifier.Strategy == VerifierStrategy.Honest;
                    report.Slashes.Add(((ulong)round, new Slash(offender, slash.Amount, slash.Beneficiary is null ? null : AddressText.Of(slash.Beneficiary), $"slashed when round {round} was finalized"), honest));
                    if (honest)
                    {
                        report.SlashedHonest++;
                    }
                    else
                    {
                        report.SlashedCheaters++;
                    }
                }
                var acceptedIds = new HashSet<string>(proposal.Payload.Accepted.Select(x => Hex.Encode(x)), StringComparer.Ordinal);
                var recordById = pending.ToDictionary(p => Hex.Encode(p.Id), StringComparer.Ordinal);
                int accepted = 0, rejected = 0;
                for (int i = 0; i < _miners.Length; i++)
                {
                    string id = Hex.Encode(mined[i].Transaction.Hash);
                    bool ok = !inclusionErrors.ContainsKey(i) && acceptedIds.Contains(id);
                    string why = inclusionErrors.TryGetValue(i, out var err) ? "inclusion: " + err
                        : ok ? "" : string.Join(",", recordById[id].Attestations.Where(a => !a.Accept).Select(a => ((CheckKind)a.FailedCheck).ToString()).Distinct());
                    var measured = recordById.TryGetValue(id, out var rec)
                        ? rec.Attestations.Where(a => a.LossBeforeBits != 0).ToArray() : [];
                    static double Median(IEnumerable<double> v)
                    {
                        var sorted = v.Order().ToArray();
                        return sorted.Length == 0 ? double.NaN : sorted[(sorted.Length - 1) / 2];
                    }
                    report.Submissions.Add(new SubmissionReport((ulong)round, i, _miners[i].Miner.Strategy, cheated[i], ok, why, slashed.Contains(AccountAddress.FromPublicKey(_minerKeys[i].PublicKey)), id)
                    {
                        Improvement = Median(measured.Select(a => (double)BitConverter.UInt32BitsToSingle(a.LossBeforeBits) - BitConverter.UInt32BitsToSingle(a.LossAfterBits))),
                        OwnImprovement = Median(measured.Where(a => a.OwnImprovementBits != 0).Select(a => (double)BitConverter.UInt32BitsToSingle(a.OwnImprovementBits))),
                    });
                    if (ok)
                    {
                        accepted++;
                        if (cheated[i])
                        {
                            report.CheatersUndetected++;
                        }
                    }
                    else
                    {
                        rejected++;
                        if (!cheated[i])
                        {
                            report.HonestRejected++;
                        }
                    }
                }
                report.Accepted += accepted;
                report.Rejected += rejected;
                bool evaluateNow = _o.Evaluate && ((round + 1) % Math.Max(1, _o.EvaluateEvery) == 0 || round == _o.Rounds - 1);
                var evaluation = evaluateNow ? engine.Evaluate(model, _o.EvaluationBatches) : null;
                double loss = evaluation?.ValidationLoss ?? double.NaN;
                if (evaluation is not null)
                {
                    report.FinalLoss = loss;
                    report.FinalAccuracy = evaluation.Accuracy;
                }
                var roundReport = new RoundReport((ulong)round, loss, accepted, rejected, leafFailures) { ValidationAccuracy = evaluation?.Accuracy };
                report.RoundReports.Add(roundReport);
                progress?.Invoke(roundReport);
            }
            foreach (var v in _verifiers)
            {
                report.Checks.Add(v.Verifier.Metrics);
            }
            report.FinalModelRoot = Hex.Encode(ModelCommitment.ComputeRoot([model]));
            report.ChainHeight = Ledger.Head.Height;
            return report;
        }
    }

    /// <summary>The simulated key of participant <paramref name="index"/> of a role ("miner" or "validator").</summary>
    /// <param name="seed">Simulation seed.</param>
    /// <param name="role">Role.</param>
    /// <param name="index">Index.</param>
    /// <returns>The key.</returns>
    public static Ed25519Keys KeyFor(ulong seed, string role, int index) =>
        Ed25519Keys.FromSeed(SHA256.HashData(Hashing.Domain("pot/sim/key", Hashing.U64(seed), Hashing.Utf8(role), Hashing.U64((ulong)index))));

    /// <summary>Parses a cheater specification: comma-separated <c>strategy[:count]</c>, e.g. "fabricate-step:2,copy-noisy".</summary>
    /// <param name="spec">The spec ("" or "none" for no cheaters).</param>
    /// <returns>The strategies in order.</returns>
    public static IReadOnlyList<MinerStrategy> ParseCheaters(string spec)
    {
        var list = new List<MinerStrategy>();
        if (string.IsNullOrWhiteSpace(spec) || spec == "none")
        {
            return list;
        }
        foreach (string part in spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            string[] kv = part.Split(':');
            string name = kv[0];
            int count = 1;
            if (kv.Length > 2 || (kv.Length == 2 && (!int.TryParse(kv[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out count) || count < 1)))
            {
                throw new ArgumentException($"cheater spec '{part}': expected strategy[:count] with a positive count");
            }
            var strategy = Enum.GetValues<MinerStrategy>().Where(s => s != MinerStrategy.Honest).FirstOrDefault(s => StrategyName(s) == name);
            if (strategy == MinerStrategy.Honest)
            {
                throw new ArgumentException($"unknown cheater strategy '{name}'; valid: {string.Join(", ", Enum.GetValues<MinerStrategy>().Where(s => s != MinerStrategy.Honest).Select(StrategyName))}");
            }
            list.AddRange(Enumerable.Repeat(strategy, count));
        }
        return list;
    }

    /// <summary>The kebab-case name of a strategy (e.g. "fabricate-step").</summary>
    /// <param name="strategy">The strategy.</param>
    /// <returns>The name.</returns>
    public static string StrategyName(MinerStrategy strategy) =>
        string.Concat(strategy.ToString().Select((ch, i) => char.IsUpper(ch) ? (i > 0 ? "-" : "") + char.ToLowerInvariant(ch) : ch.ToString()));
}
