using Pot.Commitments;

namespace Pot.Protocol;

/// <summary>A submission as recorded for finalization.</summary>
/// <param name="Submission">The submission.</param>
/// <param name="AssignedVerifiers">Addresses of the c assigned verifiers.</param>
/// <param name="Attestations">Attestations received from assigned verifiers within the window (at most one each).</param>
/// <param name="UpheldProver">Address of the first prover whose fraud proof against it was upheld, or null.</param>
/// <param name="UpheldProof">That proof, or null.</param>
public sealed record RecordedSubmission(Submission Submission, IReadOnlyList<string> AssignedVerifiers, IReadOnlyList<Attestation> Attestations, string? UpheldProver, FraudProof? UpheldProof);

/// <summary>A slash: stake removed from an offender; a share goes to the beneficiary (prover), the rest is burned.</summary>
/// <param name="Offender">Address.</param>
/// <param name="Amount">Stake removed.</param>
/// <param name="Beneficiary">Prover paid <see cref="ProtocolTask.ProverSharePpm"/> of it, or null (all burned).</param>
/// <param name="Reason">Why.</param>
public sealed record Slash(string Offender, ulong Amount, string? Beneficiary, string Reason);

/// <summary>The outcome of a round.</summary>
/// <param name="Accepted">Accepted submissions in chain order.</param>
/// <param name="Rejected">Rejected submissions in chain order.</param>
/// <param name="Rewards">Payouts from escrow, ascending by address.</param>
/// <param name="Slashes">Slashes, ascending by offender.</param>
public sealed record RoundOutcome(IReadOnlyList<Submission> Accepted, IReadOnlyList<Submission> Rejected, IReadOnlyList<(string Address, ulong Amount)> Rewards, IReadOnlyList<Slash> Slashes);

/// <summary>
/// Finalization and rewards (DESIGN §5.7, §5.9), a deterministic function of the recorded round:
/// <list type="bullet">
/// <item>A submission is accepted when no fraud proof against it was upheld and accepting verifiers hold at
/// least 2/3 of the stake of its <em>assigned</em> verifiers (silence counts against). Otherwise it is rejected.</item>
/// <item>An upheld fraud proof slashes the miner (<see cref="ProtocolTask.MinerSlashPpm"/> of its stake) and every
/// assigned verifier that attested accept although the proven fraud lies inside what its attestation says it
/// checked (the proof's step among its replayed steps, its leaf among its sampled leaves, or a trace-start or
/// duplicate fraud, which every verifier checks) (<see cref="ProtocolTask.FalseAcceptSlashPpm"/>); an honest
/// verifier whose random sample missed the fraud is not slashed; the prover receives
/// <see cref="ProtocolTask.ProverSharePpm"/> of each slash. A rejection without an upheld proof (a statistical
/// check: usefulness, own data, near-duplicate; or unavailability) forfeits the reward but slashes nobody, because
/// those checks are not re-checkable by a validator at the cost of one step and an honest miner must never be slashed.</item>
/// <item>A fraud proof that is not upheld costs its sender <see cref="ProtocolTask.FalseProofSlashPpm"/> of its stake (burned).</item>
/// <item>Budget B = min(reward per round, escrow). Verifiers: B·VerifierRewardPpm split equally over attestations that
/// agree with the outcome. Miners: the rest, by contribution w_m = clamp(median measured improvement, 0, cap) over
/// accepting attestations, share = ⌊pool·w_m/Σw⌋ capped at MaxMinerSharePpm of the pool. Remainders stay in escrow.</item>
/// </list>
/// </summary>
public static class RoundRules
{
    /// <summary>Computes a round's outcome.</summary>
    /// <param name="task">The task.</param>
    /// <param name="submissions">Recorded submissions in chain order.</param>
    /// <param name="rejectedProofSenders">Senders of fraud proofs that were not upheld, with the judge's reason, in chain order.</param>
    /// <param name="stakeOf">Stake by address.</param>
    /// <param name="escrow">The task's escrow.</param>
    /// <returns>The outcome.</returns>
    public static RoundOutcome Finalize(ProtocolTask task, IReadOnlyList<RecordedSubmission> submissions, IReadOnlyList<(string Sender, string Reason)> rejectedProofSenders,
        Func<string, ulong> stakeOf, ulong escrow)
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(submissions);
        ArgumentNullException.ThrowIfNull(rejectedProofSenders);
        ArgumentNullException.ThrowIfNull(stakeOf);
        var accepted = new List<RecordedSubmission>();
        var rejected = new List<RecordedSubmission>();
        var slashPpm = new SortedDictionary<string, (ulong Ppm, string? Beneficiary, string Reason)>(StringComparer.Ordinal);
        void AddSlash(string offender, ulong ppm, string? beneficiary, string reason) =>
            slashPpm[offender] = slashPpm.TryGetValue(offender, out var cur) ? (cur.Ppm + ppm, cur.Beneficiary ?? beneficiary, cur.Reason) : (ppm, beneficiary, reason);

        foreach (var r in submissions)
        {
            if (r.UpheldProver is { } prover)
            {
                rejected.Add(r);
                AddSlash(r.Submission.MinerAddress, task.MinerSlashPpm, prover, $"upheld fraud proof against submission {r.Submission.ShortId}");
                foreach (var a in r.Attestations.Where(a => a.Accept && Covers(a, r.UpheldProof)))
                {
                    AddSlash(a.VerifierAddress, task.FalseAcceptSlashPpm, prover, $"accepted submission {r.Submission.ShortId} with an upheld fraud proof");
                }
                continue;
            }
            UInt128 total = 0, positive = 0;
            foreach (string v in r.AssignedVerifiers)
            {
                total += stakeOf(v);
            }
            foreach (var a in r.Attestations.Where(a => a.Accept))
            {
                positive += stakeOf(a.VerifierAddress);
            }
            (total > 0 && positive * 3 >= total * 2 ? accepted : rejected).Add(r);
        }
        foreach (var (sender, reason) in rejectedProofSenders)
        {
            AddSlash(sender, task.FalseProofSlashPpm, null, "fraud proof not upheld: " + reason);
        }

        ulong budget = Math.Min(task.RewardPerRound, escrow);
        ulong verifierPool = MulPpm(budget, task.VerifierRewardPpm);
        ulong minerPool = budget - verifierPool;
        var rewards = new SortedDictionary<string, ulong>(StringComparer.Ordinal);
        void Pay(string address, ulong amount)
        {
            if (amount > 0)
            {
                rewards[address] = rewards.TryGetValue(address, out ulong cur) ? cur + amount : amount;
            }
        }
        var agreeing = new List<string>();
        foreach (var r in accepted)
        {
            agreeing.AddRange(r.Attestations.Where(a => a.Accept).Select(a => a.VerifierAddress));
        }
        foreach (var r in rejected)
        {
            agreeing.AddRange(r.Attestations.Where(a => !a.Accept).Select(a => a.VerifierAddress));
        }
        if (agreeing.Count > 0)
        {
            ulong each = verifierPool / (ulong)agreeing.Count;
            foreach (string v in agreeing)
            {
                Pay(v, each);
            }
        }
        var contributions = accepted.Select(r => Contribution(task, r)).ToArray();
        UInt128 totalContribution = 0;
        foreach (ulong w in contributions)
        {
            totalContribution += w;
        }
        ulong cap = MulPpm(minerPool, task.MaxMinerSharePpm);
        for (int i = 0; i < accepted.Count && totalContribution > 0; i++)
        {
            ulong share = (ulong)(minerPool * (UInt128)contributions[i] / totalContribution);
            Pay(accepted[i].Submission.MinerAddress, Math.Min(share, cap));
        }

        var slashes = new List<Slash>();
        foreach (var kv in slashPpm)
        {
            ulong amount = MulPpm(stakeOf(kv.Key), (uint)Math.Min(1_000_000UL, kv.Value.Ppm));
            if (amount > 0)
            {
                slashes.Add(new Slash(kv.Key, amount, kv.Value.Beneficiary, kv.Value.Reason));
            }
        }
        return new RoundOutcome(accepted.Select(r => r.Submission).ToArray(), rejected.Select(r => r.Submission).ToArray(),
            rewards.Select(kv => (kv.Key, kv.Value)).ToArray(), slashes);
    }

    /// <summary>
    /// A miner's contribution weight: the (lower) median of the improvements measured by its accepting
    /// verifiers, clamped to [0, cap], in units of 10⁻⁹ nats.
    /// </summary>
    /// <param name="task">The task.</param>
    /// <param name="r">The submission.</param>
    /// <returns>The weight.</returns>
    public static ulong Contribution(ProtocolTask task, RecordedSubmission r)
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(r);
        var measured = r.Attestations.Where(a => a.Accept).Select(a => (double)a.Improvement).Order().ToArray();
        if (measured.Length == 0)
        {
            return 0;
        }
        double median = measured[(measured.Length - 1) / 2];
        double clamped = Math.Clamp(double.IsFinite(median) ? median : 0, 0, task.ContributionCap);
        return (ulong)Math.Floor(clamped * 1e9);
    }

    /// <summary>Whether an attestation's declared checks cover the fraud an upheld proof shows.</summary>
    /// <param name="a">The attestation.</param>
    /// <param name="proof">The upheld proof (null: treated as covered).</param>
    /// <returns>True when the verifier should have seen the fraud.</returns>
    public static bool Covers(Attestation a, FraudProof? proof)
    {
        ArgumentNullException.ThrowIfNull(a);
        return proof is null || proof.Kind switch
        {
            FraudKind.Replay => a.ReplayedSteps.Contains(proof.Index),
            FraudKind.Quantization => a.SampledLeaves.Contains(proof.Index),
            _ => true,
        };
    }

    /// <summary>⌊value·ppm/10⁶⌋ without overflow.</summary>
    /// <param name="value">Value.</param>
    /// <param name="ppm">Parts per million.</param>
    /// <returns>The product.</returns>
    public static ulong MulPpm(ulong value, uint ppm) => (ulong)((UInt128)value * ppm / 1_000_000);

    /// <summary>Short form of an address for messages.</summary>
    /// <param name="address">Address.</param>
    /// <returns>First 12 characters.</returns>
    internal static string Short(string address) => address.Length > 12 ? address[..12] : address;

    /// <summary>Hex of an id (for messages).</summary>
    /// <param name="id">Bytes.</param>
    /// <returns>Hex.</returns>
    internal static string HexOf(byte[] id) => Hex.Encode(id);
}
