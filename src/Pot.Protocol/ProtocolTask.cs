using Pot.Learning.Models;
using Pot.Learning.Training;

namespace Pot.Protocol;

/// <summary>How the round's primary combines the accepted updates (DESIGN §5.8).</summary>
public enum AggregationRule
{
    /// <summary>Weighted mean of the dequantized updates (PoT's (1/N)·Σ when weights are equal).</summary>
    Mean,

    /// <summary>Coordinate-wise trimmed mean: per coordinate, drop the ⌊β·N⌋ smallest and largest values, average the rest.</summary>
    TrimmedMean,

    /// <summary>Centered clipping (Karimireddy et al. 2021): v ← v + mean((xᵢ − v)·min(1, τ/‖xᵢ − v‖)), a few iterations from 0.</summary>
    CenteredClipping,
}

/// <summary>The outer optimiser applied to the aggregate pseudo-gradient.</summary>
public enum OuterOptimizer
{
    /// <summary>θ ← θ − η·Δ̄ (no momentum); with H = 1 and inner SGD this is PoT's formula.</summary>
    Sgd,

    /// <summary>Nesterov momentum (DiLoCo): v ← μ·v + Δ̄; θ ← θ − η·(μ·v + Δ̄).</summary>
    Nesterov,
}

/// <summary>
/// A training task as the protocol sees it: the model and data (through the engine's
/// <see cref="TrainingConfig"/>), the round's hyper-parameters, the verification parameters and the
/// economics. Every field has a documented default (docs/protocol.md, "Parameters").
/// </summary>
public sealed record ProtocolTask
{
    /// <summary>Task id (also enters the data assignment and every signed object).</summary>
    public required string Id { get; init; }

    /// <summary>
    /// Engine configuration of the inner steps: task, model sizes, inner optimiser, learning rate, batch size.
    /// The inner learning rate is constant unless <see cref="ScheduleRounds"/> spreads the warm-up/decay schedule over
    /// the rounds; see <see cref="InnerConfigAt"/>.
    /// </summary>
    public required TrainingConfig Training { get; init; }

    /// <summary>Inner steps per round H (default 50).</summary>
    public int InnerSteps { get; init; } = 50;

    /// <summary>Verifiers assigned per submission c (default 3).</summary>
    public int VerifiersPerSubmission { get; init; } = 3;

    /// <summary>Inner steps each verifier replays k (default 1).</summary>
    public int ReplayedSteps { get; init; } = 1;

    /// <summary>Leaves each verifier checks for quantization consistency s (default 4).</summary>
    public int SampledLeaves { get; init; } = 4;

    /// <summary>Required loss improvement ε (nats) on γ-chosen data after applying deq(q) (default −0.05: the update must not hurt beyond the sampling noise of one evaluation batch).</summary>
    public float LossMargin { get; init; } = -0.05f;

    /// <summary>Required margin by which the improvement on the miner's own data exceeds that on random data (default −0.1 nats: own data may trail random data by sampling noise, not more).</summary>
    public float OwnDataMargin { get; init; } = -0.1f;

    /// <summary>
    /// Rows of each usefulness evaluation batch; the own-data batch uses at most this many rows of the miner's batch
    /// (default 32; 0: the inner batch size). Four forward passes of this many rows are most of a verification's
    /// cost after the replayed step (docs/protocol.md §7).
    /// </summary>
    public int EvalBatchSize { get; init; } = 32;

    /// <summary>
    /// z of the statistical checks (default 3): usefulness rejects only when improvement + z·SE &lt; ε, and the own-data check
    /// only when (own − random improvement) + z·√(SE_own² + SE²) &lt; its margin, where SE is the standard error of the
    /// per-example paired differences (before − after) on the batch. An honest update whose true effect meets the margin is
    /// then rejected with probability about Φ(−z) (0.13% for z = 3) instead of about one half at the margin; 0 gives the
    /// bare margin test.
    /// </summary>
    public double SignificanceZ { get; init; } = 3.0;

    /// <summary>Cosine similarity at or above which a later update counts as a near-copy of an earlier one (default 0.99).</summary>
    public double NearDuplicateCosine { get; init; } = 0.99;

    /// <summary>Blocks after the round starts within which submissions are accepted, and after which the round finalizes W (default 4).</summary>
    public int WindowBlocks { get; init; } = 4;

    /// <summary>Aggregation rule (default mean).</summary>
    public AggregationRule Aggregation { get; init; } = AggregationRule.Mean;

    /// <summary>Fraction β trimmed from each end by <see cref="AggregationRule.TrimmedMean"/> (default 0.2).</summary>
    public double TrimFraction { get; init; } = 0.2;

    /// <summary>Clipping radius τ of <see cref="AggregationRule.CenteredClipping"/> (default 1.0, L2 norm of an update).</summary>
    public double ClipRadius { get; init; } = 1.0;

    /// <summary>Iterations of centered clipping (default 3).</summary>
    public int ClipIterations { get; init; } = 3;

    /// <summary>Outer optimiser (default SGD).</summary>
    public OuterOptimizer Outer { get; init; } = OuterOptimizer.Sgd;

    /// <summary>Outer learning rate η (default 1: plain averaging of the inner progress, FedAvg).</summary>
    public float OuterLearningRate { get; init; } = 1f;

    /// <summary>Outer Nesterov momentum μ (default 0.9; used only with <see cref="OuterOptimizer.Nesterov"/>).</summary>
    public float OuterMomentum { get; init; } = 0.9f;

    /// <summary>
    /// Rounds over which the inner learning rate follows the engine's schedule of <see cref="Training"/> (default 0:
    /// constant). When R &gt; 0, inner step j of round r runs at <c>Training.LearningRateAt</c> of schedule step
    /// min(r, R)·H + j, with the schedule's warm-up steps and a linear decay to the minimum ratio over R·H steps, the
    /// same curve as a centralized run of R·H steps; rounds after R stay at the minimum. A pure function of (task,
    /// round, step), so a replay uses the same rate as the miner.
    /// </summary>
    public int ScheduleRounds { get; init; }

    /// <summary>
    /// Whether a miner may carry its inner optimiser state across rounds (default false: every round starts from zero
    /// buffers and step count 0). When true, trace state 0 of a miner's round is either that fresh state or θ_r with the
    /// optimiser buffers and step count of trace state H of the miner's last accepted submission in the task (the chain's
    /// <c>LastAccepted</c> record names its trace); verifiers and the fraud-proof judge accept exactly these two
    /// (docs/protocol.md, "Carried optimiser state").
    /// </summary>
    public bool CarryOptimizer { get; init; }

    /// <summary>Reward paid per round from the task's escrow (default 1 000 000 units).</summary>
    public ulong RewardPerRound { get; init; } = 1_000_000;

    /// <summary>Share of the round reward paid to verifiers whose attestation agrees with the outcome, in ppm (default 100 000 = 10%).</summary>
    public uint VerifierRewardPpm { get; init; } = 100_000;

    /// <summary>Largest share of the miners' pool one miner can receive, in ppm (default 500 000 = 50%); the rest stays in escrow.</summary>
    public uint MaxMinerSharePpm { get; init; } = 500_000;

    /// <summary>Loss improvement (nats) above which a miner's contribution is capped (default 1.0).</summary>
    public double ContributionCap { get; init; } = 1.0;

    /// <summary>Fraction of a miner's stake slashed for an upheld fraud proof, ppm (default 1 000 000 = all of it).</summary>
    public uint MinerSlashPpm { get; init; } = 1_000_000;

    /// <summary>Fraction of a verifier's stake slashed for accepting a submission with an upheld fraud proof, ppm (default 500 000).</summary>
    public uint FalseAcceptSlashPpm { get; init; } = 500_000;

    /// <summary>Fraction of a sender's stake forfeited for a fraud proof that is rejected, ppm (default 100 000).</summary>
    public uint FalseProofSlashPpm { get; init; } = 100_000;

    /// <summary>Share of a slash paid to the prover, ppm (default 500 000; the rest is burned).</summary>
    public uint ProverSharePpm { get; init; } = 500_000;

    /// <summary>Existing model values to start from (fine-tuning); null to initialise from <see cref="TrainingConfig.Seed"/>.</summary>
    public float[]? InitialModel { get; init; }

    /// <summary>The engine configuration of round 0's inner steps (model, optimiser, batch); see <see cref="InnerConfigAt"/>.</summary>
    public TrainingConfig InnerConfig => InnerConfigAt(0);

    /// <summary>
    /// The engine configuration of round <paramref name="round"/>'s inner steps: H steps at a constant learning rate when
    /// <see cref="ScheduleRounds"/> is 0, else the task's warm-up/decay schedule over R·H steps entered at min(r, R)·H.
    /// </summary>
    /// <param name="round">Round number.</param>
    /// <returns>The configuration.</returns>
    public TrainingConfig InnerConfigAt(ulong round) => ScheduleRounds == 0
        ? Training with { Steps = InnerSteps, WarmupSteps = 0, MinLearningRateRatio = 1f, ScheduleOffset = 0 }
        : Training with { Steps = checked(ScheduleRounds * InnerSteps), ScheduleOffset = (long)Math.Min(round, (ulong)ScheduleRounds) * InnerSteps };

    /// <summary>Effective evaluation batch size of the usefulness check.</summary>
    public int EffectiveEvalBatchSize => EvalBatchSize > 0 ? EvalBatchSize : Training.BatchSize;

    /// <summary>Rows of the own-data check's batch: the first rows of the miner's γ-chosen inner batch (at most the evaluation batch size).</summary>
    public int EffectiveOwnBatchSize => Math.Min(Training.BatchSize, EffectiveEvalBatchSize);

    /// <summary>Throws with a message naming the bad value and the accepted range.</summary>
    public void Validate()
    {
        Require(!string.IsNullOrEmpty(Id) && Id.Length <= 64, $"task id '{Id}' must be 1 to 64 characters");
        Require(InnerSteps is >= 1 and <= 100_000, $"inner steps H = {InnerSteps} must be in [1, 100000]");
        Require(VerifiersPerSubmission is >= 1 and <= 100, $"verifiers per submission c = {VerifiersPerSubmission} must be in [1, 100]");
        Require(ReplayedSteps >= 1 && ReplayedSteps <= InnerSteps, $"replayed steps k = {ReplayedSteps} must be in [1, H = {InnerSteps}]");
        Require(SampledLeaves >= 1, $"sampled leaves s = {SampledLeaves} must be ≥ 1");
        Require(float.IsFinite(LossMargin), $"loss margin ε = {LossMargin} must be finite");
        Require(float.IsFinite(OwnDataMargin), $"own-data margin {OwnDataMargin} must be finite");
        Require(EvalBatchSize >= 0, $"evaluation batch size {EvalBatchSize} must be ≥ 0");
        Require(SignificanceZ is >= 0 and <= 10, $"significance z = {SignificanceZ} must be in [0, 10]");
        Require(NearDuplicateCosine is > 0 and <= 1, $"near-duplicate cosine {NearDuplicateCosine} must be in (0, 1]");
        Require(WindowBlocks >= 1, $"window W = {WindowBlocks} blocks must be ≥ 1");
        Require(TrimFraction is >= 0 and < 0.5, $"trim fraction {TrimFraction} must be in [0, 0.5)");
        Require(ClipRadius > 0 && double.IsFinite(ClipRadius), $"clip radius {ClipRadius} must be positive and finite");
        Require(ClipIterations is >= 1 and <= 100, $"clip iterations {ClipIterations} must be in [1, 100]");
        Require(OuterLearningRate > 0f && float.IsFinite(OuterLearningRate), $"outer learning rate {OuterLearningRate} must be positive and finite");
        Require(OuterMomentum is >= 0f and < 1f, $"outer momentum {OuterMomentum} must be in [0, 1)");
        Require(ScheduleRounds >= 0 && (long)ScheduleRounds * InnerSteps <= int.MaxValue, $"schedule rounds {ScheduleRounds} must be ≥ 0 with R·H = {(long)ScheduleRounds * InnerSteps} ≤ {int.MaxValue}");
        Require(VerifierRewardPpm <= 1_000_000 && MaxMinerSharePpm is > 0 and <= 1_000_000, "reward shares must be in ppm (≤ 1 000 000) and the miner cap positive");
        Require(MinerSlashPpm <= 1_000_000 && FalseAcceptSlashPpm <= 1_000_000 && FalseProofSlashPpm <= 1_000_000 && ProverSharePpm <= 1_000_000, "slash fractions must be in ppm (≤ 1 000 000)");
        Require(ContributionCap > 0 && double.IsFinite(ContributionCap), $"contribution cap {ContributionCap} must be positive and finite");
        // Resolve fills the task-dependent sizes first (kjv's vocabulary comes from its text), then validates.
        Trainer.Resolve(Training);
    }

    /// <summary>
    /// A tiny task for tests and quick simulations: a 1-layer GPT of width 16 on addition (about 4 500
    /// parameters, 5 leaves), batch 8, H = 4, inner SGD or AdamW.
    /// </summary>
    /// <param name="id">Task id.</param>
    /// <param name="optimizer">Inner optimiser.</param>
    /// <returns>The task.</returns>
    public static ProtocolTask Tiny(string id = "tiny", string optimizer = "adamw") => new()
    {
        Id = id,
        InnerSteps = 4,
        EvalBatchSize = 128,
        LossMargin = -0.02f,
        OwnDataMargin = -0.05f,
        Training = TrainingConfig.Default("addition") with
        {
            BatchSize = 8, LearningRate = optimizer == "adamw" ? 5e-3f : 0.1f, Optimizer = optimizer, WeightDecay = 0f,
            Gpt = new GptConfig(VocabSize: 12, BlockSize: 8, Layers: 1, Heads: 2, Embed: 16),
        },
    };

    /// <summary>The protocol defaults on an engine task's documented configuration (docs/protocol.md).</summary>
    /// <param name="task">Engine task name, e.g. "addition".</param>
    /// <returns>The task.</returns>
    public static ProtocolTask Default(string task) => new() { Id = task, Training = TrainingConfig.Default(task) };

    private static void Require(bool ok, string message)
    {
        if (!ok)
        {
            throw new ArgumentException($"invalid protocol task: {message}");
        }
    }
}
