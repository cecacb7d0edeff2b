using System.Security.Cryptography;
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
    /// fresh identity), so every round is an independent trial; the minted stake is excluded from the supply check.
    /// </summary>
    public bool Rebond { get; init; } = true;

    /// <summary>Stake of every participant.</summary>
    public ulong Stake { get; init; } = 1_000_000;
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
public sealed record SubmissionReport(ulong Round, int Miner, MinerStrategy Strategy, bool Cheated, bool Accepted, string RejectedBy, bool Slashed, string SubmissionId);

/// <summary>One round's summary.</summary>
/// <param name="Round">Round.</param>
/// <param name="ValidationLoss">Held-out loss of θ_{r+1} (NaN when not evaluated).</param>
/// <param name="Accepted">Accepted submissions.</param>
/// <param name="Rejected">Rejected submissions (including those refused at inclusion).</param>
/// <param name="AggregationLeafFailures">Leaves of θ_{r+1} that validators found inconsistent (0 for an honest primary).</param>
public sealed record RoundReport(ulong Round, double ValidationLoss, int Accepted, int Rejected, int AggregationLeafFailures);

/// <summary>Totals of a simulation.</summary>
public sealed class SimulationReport
{
    /// <summary>Rounds run.</summary>
    public int Rounds { get; set; }

    /// <summary>Held-out loss of the initial model.</summary>
    public double InitialLoss { get; set; }

    /// <summary>Held-out loss after the last round.</summary>
    public double FinalLoss { get; set; }

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
}

/// <summary>
/// Runs whole rounds in one process with the real engine, commitments and signatures: miners train and
/// commit, the ledger seals blocks, verifiers check and attest, fraud proofs are judged, the round is
/// finalized, the primary aggregates, validators spot-check the aggregation, and the model moves on.
/// </summary>
public static class ProtocolSimulation
{
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
        Ed25519Keys Key(string role, int index) => KeyFor(options.Seed, role, index);
        var miners = options.Miners.Select((s, i) => new Miner(Key("miner", i), s)).ToArray();
        var verifiers = Enumerable.Range(0, options.Validators)
            .Select(i => new Verifier(Key("validator", i), i < options.VerifierStrategies.Count ? options.VerifierStrategies[i] : VerifierStrategy.Honest)).ToArray();
        var verifierByAddress = verifiers.ToDictionary(v => v.Address, StringComparer.Ordinal);
        var minerIndex = miners.Select((m, i) => (m.Address, i)).ToDictionary(x => x.Address, x => x.i, StringComparer.Ordinal);

        var engine = new StepEngine(task);
        ulong escrow = task.RewardPerRound * (ulong)options.Rounds;
        var ledger = new InMemoryLedger(task, new StepEngine(task), verifiers.Select(v => v.Address), escrow);
        foreach (var m in miners)
        {
            ledger.Fund(m.Address, 0, options.Stake);
        }
        foreach (var v in verifiers)
        {
            ledger.Fund(v.Address, 0, options.Stake);
        }
        UInt128 supply = ledger.Supply;

        var report = new SimulationReport { Rounds = options.Rounds };
        float[] model = engine.InitialModel();
        float[]? momentum = null;
        report.InitialLoss = options.Evaluate ? engine.Evaluate(model, options.EvaluationBatches).ValidationLoss : double.NaN;
        report.FinalLoss = report.InitialLoss;
        for (int round = 0; round < options.Rounds; round++)
        {
            if (options.Rebond)
            {
                foreach (string address in miners.Select(m => m.Address).Concat(verifiers.Select(v => v.Address)))
                {
                    ulong stake = ledger.Account(address).Stake;
                    if (stake < options.Stake)
                    {
                        ledger.Mint(address, options.Stake - stake);
                    }
                }
                supply = ledger.Supply;
            }
            byte[] root = ModelCommitment.ComputeRoot([model]);
            var start = new RoundStart(task, (ulong)round, ledger.Head, model, root);
            ledger.StartRound(start);
            var outputs = new List<MinerOutput>();
            var outputOf = new Dictionary<string, MinerOutput>(StringComparer.Ordinal);
            var inclusionErrors = new Dictionary<int, string>();
            var cheated = new bool[miners.Length];
            for (int i = 0; i < miners.Length; i++)
            {
                var output = miners[i].Mine(start, engine, outputs);
                report.MinerCpuSeconds += output.CpuSeconds;
                cheated[i] = Deviated(miners[i].Strategy, round, outputs.Count);
                outputs.Add(output);
                outputOf[Hex.Encode(output.Submission.Id)] = output;
            }
            foreach (var (output, i) in outputs.Select((o, i) => (o, i)).Where(x => !x.o.Late))
            {
                if (ledger.Submit(output.Submission) is { } error)
                {
                    inclusionErrors[i] = error;
                }
            }
            ledger.SealBlock();
            foreach (var (output, i) in outputs.Select((o, i) => (o, i)).Where(x => x.o.Late))
            {
                while (ledger.WindowOpen)
                {
                    ledger.SealBlock();
                }
                inclusionErrors[i] = ledger.Submit(output.Submission) ?? "late submission was accepted";
            }

            foreach (var record in ledger.Records)
            {
                var s = record.Submission;
                byte[] gamma = ledger.Gamma(s.Id)!;
                var earlier = ledger.Earlier(s.Id).Select(e => new PeerSubmission(e, outputOf.TryGetValue(Hex.Encode(e.Id), out var o) ? o.Blobs : null)).ToArray();
                var blobs = outputOf[Hex.Encode(s.Id)].Blobs;
                foreach (string address in record.AssignedVerifiers)
                {
                    var verifier = verifierByAddress[address];
                    double servedBefore = blobs.ServeSeconds;
                    var result = verifier.Verify(new VerificationContext(start, s, gamma, blobs, earlier));
                    report.MinerCpuSeconds += blobs.ServeSeconds - servedBefore;
                    report.VerifierCpuSeconds += result.CpuSeconds;
                    report.Verifications++;
                    ledger.Attest(result.Attestation);
                    if (result.FraudProof is { } proof)
                    {
                        ledger.SubmitFraudProof(proof);
                    }
                }
            }
            var outcome = ledger.FinalizeRound();
            if (ledger.Supply != supply)
            {
                report.SupplyConserved = false;
            }

            // Aggregation by the primary in canonical order (ascending submission id), then each validator's leaf check.
            var acceptedOrdered = outcome.Accepted.OrderBy(s => Hex.Encode(s.Id), StringComparer.Ordinal).ToArray();
            var blobsOrdered = acceptedOrdered.Select(s => outputOf[Hex.Encode(s.Id)].UpdateBlob).ToArray();
            var weights = acceptedOrdered.Select(s => s.SampleCount).ToArray();
            var aggregation = Aggregator.Aggregate(task, model, momentum, blobsOrdered.Select(b => Updates.Dequantize(b, model.Length)).ToArray(), weights);
            byte[] newRoot = ModelCommitment.ComputeRoot([aggregation.Model]);
            int leafFailures = 0;
            foreach (var v in verifiers)
            {
                foreach (int leaf in new ProtocolRandom(Hashing.Domain("pot/aggregation-check/v1", newRoot, v.Key.PublicKey), "leaves")
                    .SampleWithoutReplacement(Updates.LeafCount(model.Length), task.SampledLeaves))
                {
                    if (!Aggregator.CheckLeaf(task, model, momentum, blobsOrdered, weights, aggregation, leaf))
                    {
                        leafFailures++;
                    }
                }
            }
            model = aggregation.Model;
            momentum = aggregation.Momentum;

            var slashed = new HashSet<string>(outcome.Slashes.Select(s => s.Offender), StringComparer.Ordinal);
            foreach (var slash in outcome.Slashes)
            {
                bool honest = minerIndex.TryGetValue(slash.Offender, out int mi)
                    ? !cheated[mi]
                    : verifierByAddress[slash.Offender].Strategy == VerifierStrategy.Honest;
                report.Slashes.Add(((ulong)round, slash, honest));
                if (honest)
                {
                    report.SlashedHonest++;
                }
                else
                {
                    report.SlashedCheaters++;
                }
            }
            var recordById = ledger.Records.ToDictionary(r => Hex.Encode(r.Submission.Id), StringComparer.Ordinal);
            int accepted = 0, rejected = 0;
            for (int i = 0; i < miners.Length; i++)
            {
                var s = outputs[i].Submission;
                bool ok = !inclusionErrors.ContainsKey(i) && outcome.Accepted.Any(a => a.Id.AsSpan().SequenceEqual(s.Id));
                string why = inclusionErrors.TryGetValue(i, out var err) ? "inclusion: " + err
                    : ok ? "" : string.Join(",", recordById[Hex.Encode(s.Id)].Attestations.Where(a => !a.Accept).Select(a => a.FailedCheck.ToString()).Distinct());
                report.Submissions.Add(new SubmissionReport((ulong)round, i, miners[i].Strategy, cheated[i], ok, why, slashed.Contains(miners[i].Address), Hex.Encode(s.Id)));
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
            double loss = options.Evaluate ? engine.Evaluate(model, options.EvaluationBatches).ValidationLoss : double.NaN;
            report.FinalLoss = loss;
            var roundReport = new RoundReport((ulong)round, loss, accepted, rejected, leafFailures);
            report.RoundReports.Add(roundReport);
            progress?.Invoke(roundReport);
        }
        foreach (var v in verifiers)
        {
            report.Checks.Add(v.Metrics);
        }
        report.FinalModelRoot = Hex.Encode(ModelCommitment.ComputeRoot([model]));
        return report;
    }

    /// <summary>The simulated key of participant <paramref name="index"/> of a role ("miner" or "validator").</summary>
    /// <param name="seed">Simulation seed.</param>
    /// <param name="role">Role.</param>
    /// <param name="index">Index.</param>
    /// <returns>The key.</returns>
    public static Ed25519Keys KeyFor(ulong seed, string role, int index) =>
        Ed25519Keys.FromSeed(SHA256.HashData(Hashing.Domain("pot/sim/key", Hashing.U64(seed), Hashing.Utf8(role), Hashing.U64((ulong)index))));

    private static bool Deviated(MinerStrategy strategy, int round, int earlierOutputs) => strategy switch
    {
        MinerStrategy.Honest => false,
        MinerStrategy.ReplayOldUpdate => round > 0,
        MinerStrategy.CopyExact or MinerStrategy.CopyNoisy => earlierOutputs > 0,
        _ => true,
    };

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
