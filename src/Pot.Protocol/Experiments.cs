using Pot.Learning.Kernels;
using Pot.Learning.Training;

namespace Pot.Protocol;

/// <summary>The catch probability of one cheating strategy per cheating round, from the check that catches it (docs/protocol.md §3).</summary>
/// <param name="Probability">The probability (or its lower bound).</param>
/// <param name="LowerBound">Whether <paramref name="Probability"/> is only a lower bound (other, statistical checks add to it).</param>
/// <param name="Check">The check the formula counts.</param>
public sealed record CatchFormula(double Probability, bool LowerBound, string Check)
{
    /// <summary>
    /// The formula for a strategy under a task's verification parameters: H inner steps, k replayed steps and s sampled
    /// leaves per verifier, c verifiers drawing independently, L update leaves, m deviations (fabricated steps, forged
    /// leaves, skipped steps).
    /// </summary>
    /// <param name="strategy">The strategy.</param>
    /// <param name="task">The task (H, k, s, c).</param>
    /// <param name="updateLeaves">L, the number of update leaves of the task's model.</param>
    /// <param name="count">m (null: the strategy's default, as <see cref="Miner.CheatCount"/>).</param>
    /// <returns>The formula's value.</returns>
    public static CatchFormula For(MinerStrategy strategy, ProtocolTask task, int updateLeaves, int? count = null)
    {
        ArgumentNullException.ThrowIfNull(task);
        int h = task.InnerSteps, k = task.ReplayedSteps, s = task.SampledLeaves, c = task.VerifiersPerSubmission;
        switch (strategy)
        {
            case MinerStrategy.FabricateStep or MinerStrategy.ForgeTraceLeaf:
                return new(MissAll(h, count ?? 1, k, c), false, "replay");
            case MinerStrategy.SkipSteps:
                return new(MissAll(h, count ?? h / 2, k, c), true, "replay");
            case MinerStrategy.ForgeUpdateLeaf:
                return new(MissAll(updateLeaves, count ?? 1, s, c), false, "quantization");
            case MinerStrategy.RandomUpdate or MinerStrategy.ScaledUpdate:
                // The fake final state is caught by replaying the last step; usefulness adds to it.
                return new(MissAll(h, 1, k, c), true, "replay of the last step");
            case MinerStrategy.Honest:
                return new(0, false, "none");
            default:
                return new(1, false, strategy switch
                {
                    MinerStrategy.ReplayOldUpdate or MinerStrategy.CopyExact => "exact uniqueness",
                    MinerStrategy.CopyNoisy => "near-duplicate",
                    MinerStrategy.WrongData => "replay (every step)",
                    MinerStrategy.FalseLoss => "loss claim (every step)",
                    MinerStrategy.WithholdChunks => "availability",
                    _ => "submission window",
                });
        }
    }

    /// <summary>1 − (C(n − m, draws) / C(n, draws))^c: at least one of c independent samplers of <paramref name="draws"/> out of n hits one of m bad items.</summary>
    /// <param name="n">Items.</param>
    /// <param name="m">Bad items.</param>
    /// <param name="draws">Items each sampler draws without replacement.</param>
    /// <param name="c">Samplers.</param>
    /// <returns>The probability.</returns>
    public static double MissAll(int n, int m, int draws, int c)
    {
        if (n <= 0 || m < 0 || m > n || draws < 0 || c < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(n), $"invalid sampling: n = {n}, m = {m}, draws = {draws}, c = {c}");
        }
        double missOne = 1;
        for (int i = 0; i < Math.Min(draws, n); i++)
        {
            missOne *= (double)(n - m - i) / (n - i);
            if (missOne <= 0)
            {
                missOne = 0;
                break;
            }
        }
        return 1 - Math.Pow(missOne, c);
    }
}

/// <summary>One cell of the detection matrix: a strategy at one rate of cheating.</summary>
/// <param name="Strategy">Strategy name.</param>
/// <param name="Count">m, how much it deviates in a cheating round (null: the strategy's default).</param>
/// <param name="Probability">ρ, the probability of cheating in a round.</param>
/// <param name="Rounds">Rounds run.</param>
/// <param name="Cheated">Rounds in which it actually cheated (its trials).</param>
/// <param name="Caught">Cheating submissions rejected.</param>
/// <param name="Slashed">Cheating submissions slashed.</param>
/// <param name="Formula">The catch probability per cheating round.</param>
/// <param name="HonestRoundsRejected">Rounds it did not cheat in but was rejected anyway (statistical checks; no slash).</param>
/// <param name="FalseSlashes">Slashes in rounds it did not cheat in, or of the honest miner (must be 0).</param>
public sealed record CheatingCell(string Strategy, int? Count, double Probability, int Rounds, int Cheated, int Caught, int Slashed, CatchFormula Formula,
    int HonestRoundsRejected, int FalseSlashes)
{
    /// <summary>Measured catch rate (NaN with no trials).</summary>
    public double Rate => Cheated == 0 ? double.NaN : (double)Caught / Cheated;

    /// <summary>3σ binomial half-width around the formula for this many trials.</summary>
    public double HalfWidth => Cheated == 0 ? double.NaN : 3 * Math.Sqrt(Formula.Probability * (1 - Formula.Probability) / Cheated);

    /// <summary>Whether the measured rate agrees with the formula: within 3σ, or at least the bound minus 3σ for a lower bound.</summary>
    public bool Agrees => Cheated > 0 && (Formula.LowerBound
        ? Rate >= Formula.Probability - HalfWidth - 1e-12
        : Math.Abs(Rate - Formula.Probability) <= HalfWidth + 1e-12);
}

/// <summary>Options of the detection-matrix experiment.</summary>
public sealed record CheatingOptions
{
    /// <summary>The task (default: the tiny task, H = 4, so that hundreds of rounds take seconds).</summary>
    public ProtocolTask Task { get; init; } = ProtocolTask.Tiny();

    /// <summary>Rounds per cell.</summary>
    public int Rounds { get; init; } = 200;

    /// <summary>Strategies (default: every cheating strategy).</summary>
    public IReadOnlyList<MinerStrategy> Strategies { get; init; } = Enum.GetValues<MinerStrategy>().Where(s => s != MinerStrategy.Honest).ToArray();

    /// <summary>Per-round cheating probabilities ρ, each run with the strategy's default m.</summary>
    public IReadOnlyList<double> Probabilities { get; init; } = [0.5, 1.0];

    /// <summary>Deviation sizes m run at ρ = 1 for the graded strategies (fabricate-step, forge-trace-leaf, forge-update-leaf, skip-steps), besides the default.</summary>
    public IReadOnlyList<int> Counts { get; init; } = [2];

    /// <summary>Seed.</summary>
    public ulong Seed { get; init; } = 11;
}

/// <summary>The detection matrix: every adversarial strategy × rate of cheating, measured against its formula, plus the false-slash rate.</summary>
public static class CheatingExperiment
{
    /// <summary>Whether m applies to a strategy.</summary>
    /// <param name="strategy">Strategy.</param>
    /// <returns>True for the graded strategies.</returns>
    public static bool Graded(MinerStrategy strategy) =>
        strategy is MinerStrategy.FabricateStep or MinerStrategy.ForgeTraceLeaf or MinerStrategy.ForgeUpdateLeaf or MinerStrategy.SkipSteps;

    /// <summary>Runs every cell: an honest miner followed by the cheater (so copiers have something to copy), 4 validators.</summary>
    /// <param name="options">Options.</param>
    /// <param name="progress">Called after each cell.</param>
    /// <returns>The cells.</returns>
    public static IReadOnlyList<CheatingCell> Run(CheatingOptions options, Action<CheatingCell>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Rounds < 1)
        {
            throw new ArgumentException($"rounds must be positive, got {options.Rounds}");
        }
        foreach (double p in options.Probabilities)
        {
            if (!(p > 0 && p <= 1))
            {
                throw new ArgumentException($"a cheating probability must be in (0, 1], got {p}");
            }
        }
        int leaves = Updates.LeafCount(new StepEngine(options.Task).ParameterCount);
        var cells = new List<CheatingCell>();
        foreach (var strategy in options.Strategies)
        {
            var settings = options.Probabilities.Select(p => ((int?)null, p)).ToList();
            if (Graded(strategy))
            {
                settings.AddRange(options.Counts.Where(m => m >= 1 && m <= (strategy == MinerStrategy.ForgeUpdateLeaf ? leaves : options.Task.InnerSteps))
                    .Select(m => ((int?)m, 1.0)));
            }
            foreach (var (count, probability) in settings)
            {
                var cell = RunCell(options, strategy, count, probability, leaves);
                cells.Add(cell);
                progress?.Invoke(cell);
            }
        }
        return cells;
    }

    private static CheatingCell RunCell(CheatingOptions o, MinerStrategy strategy, int? count, double probability, int leaves)
    {
        var report = ProtocolSimulation.Run(new SimulationOptions
        {
            Task = o.Task, Validators = 4, Miners = [MinerStrategy.Honest, strategy], Rounds = o.Rounds, Evaluate = false,
            CheatCount = count, CheatProbability = probability, Seed = o.Seed,
        });
        var cheater = report.Submissions.Where(s => s.Miner == 1).ToList();
        var cheating = cheater.Where(s => s.Cheated).ToList();
        int falseSlashes = report.Submissions.Count(s => !s.Cheated && s.Slashed);
        return new CheatingCell(ProtocolSimulation.StrategyName(strategy), count, probability, o.Rounds, cheating.Count,
            cheating.Count(s => !s.Accepted), cheating.Count(s => s.Slashed), CatchFormula.For(strategy, o.Task, leaves, count),
            cheater.Count(s => !s.Cheated && !s.Accepted), falseSlashes);
    }
}

/// <summary>One configuration of the verification-cost experiment.</summary>
/// <param name="Label">What varies.</param>
/// <param name="Task">Engine task.</param>
/// <param name="Parameters">Model parameters.</param>
/// <param name="InnerSteps">H.</param>
/// <param name="ReplayedSteps">k.</param>
/// <param name="SampledLeaves">s.</param>
/// <param name="MinerCpuPerSubmission">Miner CPU seconds per submission (training, committing, serving).</param>
/// <param name="VerifierCpuPerVerification">Verifier CPU seconds per verification.</param>
/// <param name="VerifierBytesPerVerification">Bytes a verifier fetched per verification.</param>
/// <param name="UpdateBytes">Bytes of one 4-bit update.</param>
/// <param name="ModelBytes">Bytes of the fp32 model.</param>
/// <param name="CatchFabricatedStep">Catch probability of one fabricated step per round, 1 − (1 − k/H)^c.</param>
/// <param name="CatchForgedLeaf">Catch probability of one forged update leaf per round, 1 − (1 − s/L)^c.</param>
public sealed record VerificationCostPoint(string Label, string Task, int Parameters, int InnerSteps, int ReplayedSteps, int SampledLeaves,
    double MinerCpuPerSubmission, double VerifierCpuPerVerification, double VerifierBytesPerVerification, long UpdateBytes, long ModelBytes,
    double CatchFabricatedStep, double CatchForgedLeaf)
{
    /// <summary>Verifier CPU per verification over miner CPU per submission.</summary>
    public double Ratio => VerifierCpuPerVerification / MinerCpuPerSubmission;
}

/// <summary>Verifier versus miner CPU time and bytes moved as H, k, s and the model vary.</summary>
public static class VerificationCostExperiment
{
    /// <summary>The default sweep: around (addition, H = 50, k = 1, s = 4), one dimension at a time.</summary>
    /// <returns>(label, task) pairs.</returns>
    public static IReadOnlyList<(string Label, ProtocolTask Task)> DefaultSweep()
    {
        var baseTask = ProtocolTask.Default("addition");
        var list = new List<(string, ProtocolTask)> { ("default", baseTask) };
        list.AddRange(new[] { 10, 25, 100 }.Select(h => ($"H={h}", baseTask with { InnerSteps = h })));
        list.AddRange(new[] { 2, 4, 8 }.Select(k => ($"k={k}", baseTask with { ReplayedSteps = k })));
        list.AddRange(new[] { 1, 16, 64 }.Select(s => ($"s={s}", baseTask with { SampledLeaves = s })));
        list.Add(("model=addition3", ProtocolTask.Default("addition3")));
        return list;
    }

    /// <summary>Runs each configuration for some rounds with two honest miners and four validators.</summary>
    /// <param name="sweep">Configurations.</param>
    /// <param name="rounds">Rounds per configuration.</param>
    /// <param name="progress">Called after each point.</param>
    /// <returns>The points.</returns>
    public static IReadOnlyList<VerificationCostPoint> Run(IReadOnlyList<(string Label, ProtocolTask Task)> sweep, int rounds = 1, Action<VerificationCostPoint>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(sweep);
        var points = new List<VerificationCostPoint>();
        foreach (var (label, task) in sweep)
        {
            var report = ProtocolSimulation.Run(new SimulationOptions
            {
                Task = task, Validators = 4, Miners = [MinerStrategy.Honest, MinerStrategy.Honest], Rounds = rounds, Evaluate = false,
            });
            int n = new StepEngine(task).ParameterCount;
            int leaves = Updates.LeafCount(n);
            int submissions = report.Submissions.Count;
            var point = new VerificationCostPoint(label, task.Training.Task, n, task.InnerSteps, task.ReplayedSteps, task.SampledLeaves,
                report.MinerCpuSeconds / submissions, report.VerifierCpuSeconds / Math.Max(1, report.Verifications),
                (double)report.VerifierBytesFetched / Math.Max(1, report.Verifications), report.UpdateBytes / submissions, 4L * n,
                CatchFormula.MissAll(task.InnerSteps, 1, task.ReplayedSteps, task.VerifiersPerSubmission),
                CatchFormula.MissAll(leaves, 1, Math.Min(task.SampledLeaves, leaves), task.VerifiersPerSubmission));
            points.Add(point);
            progress?.Invoke(point);
        }
        return points;
    }
}

/// <summary>A held-out evaluation after some total number of inner steps.</summary>
/// <param name="Steps">Total training steps spent so far (all miners together).</param>
/// <param name="Loss">Held-out loss.</param>
/// <param name="Accuracy">Held-out accuracy where the task has one.</param>
public sealed record CurvePoint(long Steps, double Loss, double? Accuracy);

/// <summary>One (N, H) configuration of the quality experiment.</summary>
/// <param name="Miners">N.</param>
/// <param name="InnerSteps">H.</param>
/// <param name="Rounds">R = budget / (N·H).</param>
/// <param name="Curve">Held-out loss by total steps.</param>
/// <param name="Accepted">Accepted submissions.</param>
/// <param name="Rejected">Rejected (honest) submissions.</param>
/// <param name="MinerCpuSeconds">Miner CPU.</param>
/// <param name="VerifierCpuSeconds">Verifier CPU.</param>
public sealed record QualityRun(int Miners, int InnerSteps, int Rounds, IReadOnlyList<CurvePoint> Curve, int Accepted, int Rejected, double MinerCpuSeconds, double VerifierCpuSeconds)
{
    /// <summary>The last evaluation.</summary>
    public CurvePoint Final => Curve[^1];
}

/// <summary>One arm of the single-miner ablation (<see cref="QualityExperiment.Ablation"/>).</summary>
/// <param name="InnerSteps">H: AdamW restarts every H steps.</param>
/// <param name="Quantized">Whether each H-step update was rounded to 4 bits.</param>
/// <param name="Rounds">⌈budget / H⌉.</param>
/// <param name="Curve">Held-out loss by steps.</param>
public sealed record AblationRun(int InnerSteps, bool Quantized, int Rounds, IReadOnlyList<CurvePoint> Curve)
{
    /// <summary>The last evaluation.</summary>
    public CurvePoint Final => Curve[^1];

    /// <summary>What the arm adds to centralized training, in words.</summary>
    public string Label => Quantized ? $"AdamW restart every {InnerSteps} + 4-bit update" : $"AdamW restart every {InnerSteps}";
}

/// <summary>One arm of the large-batch reference (<see cref="QualityExperiment.LargeBatch"/>).</summary>
/// <param name="Miners">N: the batch is N times the task's.</param>
/// <param name="BatchSize">Examples per step.</param>
/// <param name="Steps">⌊budget / N⌋.</param>
/// <param name="LearningRate">Peak learning rate.</param>
/// <param name="Curve">Held-out loss by total steps (steps × N).</param>
public sealed record LargeBatchRun(int Miners, int BatchSize, int Steps, float LearningRate, IReadOnlyList<CurvePoint> Curve)
{
    /// <summary>The last evaluation.</summary>
    public CurvePoint Final => Curve[^1];
}

/// <summary>Options of the quality experiment.</summary>
public sealed record QualityOptions
{
    /// <summary>The protocol task (its engine configuration is also the centralized run's, with <see cref="Budget"/> steps); H is set per run.</summary>
    public ProtocolTask Task { get; init; } = ProtocolTask.Default("addition");

    /// <summary>Total training steps of each arm (equal compute): centralized steps = Σ over rounds of N·H.</summary>
    public int Budget { get; init; } = 1600;

    /// <summary>Miner counts N.</summary>
    public IReadOnlyList<int> Miners { get; init; } = [1, 4, 16];

    /// <summary>Inner steps H.</summary>
    public IReadOnlyList<int> InnerSteps { get; init; } = [1, 10, 50];

    /// <summary>Evaluations along each curve.</summary>
    public int CurvePoints { get; init; } = 8;

    /// <summary>Validation batches per evaluation.</summary>
    public int EvaluationBatches { get; init; } = 5;

    /// <summary>
    /// Whether each protocol arm spreads the task's learning-rate schedule (warm-up, linear decay) over its rounds
    /// (<see cref="ProtocolTask.ScheduleRounds"/> = the arm's rounds), as the centralized run does over its steps
    /// (default true); false keeps the inner learning rate constant.
    /// </summary>
    public bool RoundSchedule { get; init; } = true;

    /// <summary>
    /// The peak inner learning rate of the protocol arms' miners, or null (default) for the task's own
    /// (<see cref="TrainingConfig.LearningRate"/>); the large-batch reference uses it too. The centralized run and the ablation
    /// always use the task's rate: the option asks whether N miners at equal compute do better with a larger rate, as
    /// large-batch training does.
    /// </summary>
    public float? ProtocolLearningRate { get; init; }
}

/// <summary>Centralized training versus the protocol at equal total compute.</summary>
public static class QualityExperiment
{
    /// <summary>Centralized training: one trainer, <see cref="QualityOptions.Budget"/> steps with the task's engine configuration and its schedule (warm-up, linear decay), single thread.</summary>
    /// <param name="o">Options.</param>
    /// <returns>Its curve.</returns>
    public static IReadOnlyList<CurvePoint> Centralized(QualityOptions o)
    {
        ArgumentNullException.ThrowIfNull(o);
        return Train(o);
    }

    // One trainer over config.Steps steps with its schedule, evaluated CurvePoints times, each point at (steps × stepScale): the
    // compute axis of the other arms; afterEachStep, given the trainer before its first step, returns what runs after every step
    // (before that step's evaluation).
    private static List<CurvePoint> Train(QualityOptions o, TrainingConfig config, int stepScale, Func<Trainer, Action>? afterEachStep = null)
    {
        var trainer = Trainer.Create(config);
        var after = afterEachStep?.Invoke(trainer);
        var curve = new List<CurvePoint>();
        void Evaluate()
        {
            var e = trainer.Trainable.Evaluate(Parallelism.Single, o.EvaluationBatches);
            curve.Add(new CurvePoint((long)trainer.Step * stepScale, e.ValidationLoss, e.Accuracy));
        }
        Evaluate();
        int every = Math.Max(1, config.Steps / Math.Max(1, o.CurvePoints));
        while (trainer.Step < config.Steps)
        {
            trainer.TrainStep(Parallelism.Single);
            after?.Invoke();
            if (trainer.Step % every == 0 || trainer.Step == config.Steps)
            {
                Evaluate();
            }
        }
        return curve;
    }

    private static List<CurvePoint> Train(QualityOptions o, Func<Trainer, Action>? afterEachStep = null) =>
        Train(o, o.Task.Training with { Steps = o.Budget }, 1, afterEachStep);

    /// <summary>
    /// The large-batch reference of N miners: centralized training with N times the task's batch for ⌊budget / N⌋ steps (at least
    /// one), at the protocol arms' peak rate (<see cref="QualityOptions.ProtocolLearningRate"/>, else the task's) and the task's
    /// warm-up, so its schedule is the one the round schedule gives the protocol arms (budget / N schedule steps). It is exact
    /// gradient averaging over N miners at every step, the reference data-parallel training at equal compute is measured against; its curve is
    /// on the same axis as the others (steps × N).
    /// </summary>
    /// <param name="o">Options.</param>
    /// <param name="miners">N.</param>
    /// <returns>The run.</returns>
    public static LargeBatchRun LargeBatch(QualityOptions o, int miners)
    {
        ArgumentNullException.ThrowIfNull(o);
        if (miners < 1 || o.Budget < 1)
        {
            throw new ArgumentException($"need N and the budget positive, got N = {miners}, budget = {o.Budget}");
        }
        var config = o.Task.Training with
        {
            BatchSize = checked(o.Task.Training.BatchSize * miners), Steps = Math.Max(1, o.Budget / miners),
            LearningRate = o.ProtocolLearningRate ?? o.Task.Training.LearningRate,
        };
        return new LargeBatchRun(miners, config.BatchSize, config.Steps, config.LearningRate, Train(o, config, miners));
    }

    /// <summary>Accuracy ratio of the target (docs/results.md §1): the protocol's held-out accuracy at least this fraction of centralized.</summary>
    public const double TargetAccuracyRatio = 0.98;

    /// <summary>Loss ratio of the target: the protocol's held-out loss at most this multiple of centralized.</summary>
    public const double TargetLossRatio = 1.02;

    /// <summary>
    /// Whether a protocol arm's final evaluation meets the quality target against the centralized one: held-out loss at most
    /// <see cref="TargetLossRatio"/> × centralized and, where the task reports accuracy, accuracy at least
    /// <see cref="TargetAccuracyRatio"/> × centralized.
    /// </summary>
    /// <param name="protocol">The arm's final evaluation.</param>
    /// <param name="centralized">The centralized run's final evaluation.</param>
    /// <returns>True when both hold.</returns>
    public static bool MeetsTarget(CurvePoint protocol, CurvePoint centralized)
    {
        ArgumentNullException.ThrowIfNull(protocol);
        ArgumentNullException.ThrowIfNull(centralized);
        bool loss = protocol.Loss <= centralized.Loss * TargetLossRatio;
        bool accuracy = protocol.Accuracy is not double a || centralized.Accuracy is not double c || a >= TargetAccuracyRatio * c;
        return loss && accuracy;
    }

    /// <summary>The protocol's final held-out loss over the centralized one; null when the centralized loss is 0 (the ratio is undefined, and JSON cannot hold ∞).</summary>
    /// <param name="protocol">The arm's final evaluation.</param>
    /// <param name="centralized">The centralized run's final evaluation.</param>
    /// <returns>The ratio, or null.</returns>
    public static double? LossRatio(CurvePoint protocol, CurvePoint centralized)
    {
        ArgumentNullException.ThrowIfNull(protocol);
        ArgumentNullException.ThrowIfNull(centralized);
        return centralized.Loss > 0 ? protocol.Loss / centralized.Loss : null;
    }

    /// <summary>
    /// The ablation of a single miner: centralized training (same steps, data order and learning-rate schedule) with what the
    /// protocol adds to one miner's training, without the chain: every H steps AdamW restarts (zero moments, step count 0, as a
    /// round's fresh state), and with <paramref name="quantize"/> the H-step update is also rounded to 4 bits (θ ← θ_r − deq(q(θ_r − θ_H)),
    /// the outer step of one miner at η = 1). Comparing centralized, restart, and restart + rounding prices each apart.
    /// </summary>
    /// <param name="o">Options (task, budget, curve points, evaluation batches).</param>
    /// <param name="innerSteps">H.</param>
    /// <param name="quantize">Whether each H-step update is rounded to 4 bits.</param>
    /// <returns>The run (N = 1, rounds = ⌈budget / H⌉, no submissions).</returns>
    public static AblationRun Ablation(QualityOptions o, int innerSteps, bool quantize)
    {
        ArgumentNullException.ThrowIfNull(o);
        if (innerSteps < 1 || o.Budget < 1)
        {
            throw new ArgumentException($"need H and the budget positive, got H = {innerSteps}, budget = {o.Budget}");
        }
        var curve = Train(o, trainer =>
        {
            var parameters = trainer.Trainable.Parameters.Values.Array;
            float[] roundStart = (float[])parameters.Clone();
            return () =>
            {
                if (trainer.Step % innerSteps != 0 && trainer.Step != o.Budget)
                {
                    return;
                }
                if (quantize)
                {
                    var rounded = Updates.Apply(roundStart, Updates.Dequantize(Updates.Quantize(Updates.Delta(roundStart, parameters)), parameters.Length));
                    rounded.CopyTo(parameters, 0);
                }
                foreach (var buffer in trainer.Optimizer.State)
                {
                    Array.Clear(buffer.Buffer.Array);
                }
                trainer.Optimizer.StepCount = 0;
                parameters.CopyTo(roundStart, 0);
            };
        });
        return new AblationRun(innerSteps, quantize, (o.Budget + innerSteps - 1) / innerSteps, curve);
    }

    /// <summary>The protocol with N honest miners and H inner steps for ⌊budget/(N·H)⌋ rounds (at least one).</summary>
    /// <param name="o">Options.</param>
    /// <param name="miners">N.</param>
    /// <param name="innerSteps">H.</param>
    /// <returns>The run.</returns>
    public static QualityRun Protocol(QualityOptions o, int miners, int innerSteps)
    {
        ArgumentNullException.ThrowIfNull(o);
        if (miners < 1 || innerSteps < 1 || o.Budget < 1)
        {
            throw new ArgumentException($"need N, H and the budget positive, got N = {miners}, H = {innerSteps}, budget = {o.Budget}");
        }
        int rounds = Math.Max(1, o.Budget / (miners * innerSteps));
        var task = o.Task with
        {
            InnerSteps = innerSteps, ScheduleRounds = o.RoundSchedule ? rounds : 0,
            Training = o.ProtocolLearningRate is float lr ? o.Task.Training with { LearningRate = lr } : o.Task.Training,
        };
        int every = Math.Max(1, rounds / Math.Max(1, o.CurvePoints));
        var report = ProtocolSimulation.Run(new SimulationOptions
        {
            Task = task, Validators = 4, Miners = Enumerable.Repeat(MinerStrategy.Honest, miners).ToArray(), Rounds = rounds,
            EvaluationBatches = o.EvaluationBatches, EvaluateEvery = every,
        });
        var curve = new List<CurvePoint> { new(0, report.InitialLoss, report.InitialAccuracy) };
        curve.AddRange(report.RoundReports.Where(r => !double.IsNaN(r.ValidationLoss))
            .Select(r => new CurvePoint((long)(r.Round + 1) * miners * innerSteps, r.ValidationLoss, r.ValidationAccuracy)));
        return new QualityRun(miners, innerSteps, rounds, curve, report.Accepted, report.Rejected, report.MinerCpuSeconds, report.VerifierCpuSeconds);
    }
}
