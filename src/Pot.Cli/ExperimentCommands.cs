using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Pot.Protocol;
using Spectre.Console;

namespace Pot.Cli;

/// <summary>
/// The <c>pot experiment</c> group: measured answers to the public designs' claims (docs/results.md). Every
/// subcommand prints a table, and writes a Markdown table, a JSON file and PNG plots (ScottPlot) into <c>--out</c>.
/// </summary>
public static class ExperimentCommands
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Creates <c>experiment</c> with <c>quality</c>, <c>verification-cost</c> and <c>cheating</c>.</summary>
    /// <returns>The command.</returns>
    public static Command Create()
    {
        var experiment = new Command("experiment", "Measure the protocol against centralized training, its verification cost and its detection of cheating; results, tables and plots go to --out (docs/results.md explains them).");
        experiment.Subcommands.Add(CreateQuality());
        experiment.Subcommands.Add(CreateVerificationCost());
        experiment.Subcommands.Add(CreateCheating());
        return experiment;
    }

    private static Option<string> OutOption() => new("--out")
    {
        Description = "Directory for the Markdown table, the JSON results and the PNG plots (created if missing).",
        DefaultValueFactory = _ => Path.Combine("docs", "results"),
    };

    private static Option<bool> JsonOption() => new("--json") { Description = "The last stdout line is one JSON object with every result." };

    private static int[] IntList(string text, string option, int min)
    {
        try
        {
            var values = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(s => int.Parse(s, NumberStyles.None, Inv)).ToArray();
            if (values.Length == 0 || values.Any(v => v < min))
            {
                throw new FormatException();
            }
            return values;
        }
        catch (Exception ex) when (ex is FormatException or OverflowException)
        {
            throw new ArgumentException($"{option}: expected a comma-separated list of integers ≥ {min}, got '{text}'");
        }
    }

    private static double[] ProbabilityList(string text)
    {
        var values = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(s => double.TryParse(s, NumberStyles.Float, Inv, out double p) ? p : double.NaN).ToArray();
        if (values.Length == 0 || values.Any(p => !(p > 0 && p <= 1)))
        {
            throw new ArgumentException($"--probabilities: expected a comma-separated list of numbers in (0, 1], got '{text}'");
        }
        return values;
    }

    private static Command CreateQuality()
    {
        var task = new Option<string>("--task") { Description = "Engine task (addition, addition3, kjv, fashion-mnist) or \"tiny\" (1-layer addition model, batch 8).", DefaultValueFactory = _ => "addition" };
        var budget = new Option<int>("--budget") { Description = "Total training steps of each arm (equal compute): the centralized run's steps, and Σ N·H over the protocol's rounds.", DefaultValueFactory = _ => 1600 };
        var miners = new Option<string>("--miners") { Description = "Miner counts N, comma-separated.", DefaultValueFactory = _ => "1,4,16" };
        var inner = new Option<string>("--inner-steps") { Description = "Inner steps H, comma-separated.", DefaultValueFactory = _ => "1,10,50" };
        var points = new Option<int>("--curve-points") { Description = "Held-out evaluations along each curve.", DefaultValueFactory = _ => 8 };
        var outer = new Option<string>("--outer") { Description = "Outer optimiser of the protocol: sgd (averaging with η) or nesterov.", DefaultValueFactory = _ => "sgd" };
        var outerLr = new Option<float>("--outer-lr") { Description = "Outer learning rate η.", DefaultValueFactory = _ => 1f };
        var outerMomentum = new Option<float>("--outer-momentum") { Description = "Outer Nesterov momentum μ (with --outer nesterov).", DefaultValueFactory = _ => 0.9f };
        var schedule = new Option<string>("--schedule")
        {
            Description = "Inner learning rate of the protocol arms: rounds (the task's warm-up and linear decay spread over the arm's rounds, as the centralized run spreads it over its steps) or constant (the peak rate in every round).",
            DefaultValueFactory = _ => "rounds",
        };
        var jobs = new Option<int>("--jobs")
        {
            Description = "Arms (the centralized run and each N × H) run at once, each on one thread; results do not depend on it (every arm is deterministic and single-threaded, CPU times are per thread).",
            DefaultValueFactory = _ => 1,
        };
        var ablation = new Option<bool>("--ablation")
        {
            Description = "Also run, for each H, the single-miner ablation without the chain: centralized training (same steps, data and the task's schedule, whatever --schedule says) with AdamW restarted every H steps, and with each H-step update also rounded to 4 bits; prices apart what the protocol adds to one miner.",
        };
        var carry = new Option<bool>("--carry-optimizer")
        {
            Description = "Protocol arms with ProtocolTask.CarryOptimizer: each miner carries its AdamW state (moments, step count) from its last accepted submission into the next round, checked by the verifiers, instead of restarting it every round.",
        };
        var lr = new Option<float?>("--lr")
        {
            Description = "Peak learning rate of the task, for every arm (default: the task's documented rate, e.g. 0.002 for kjv, 0.003 for addition).",
        };
        var innerLr = new Option<float?>("--inner-lr")
        {
            Description = "Peak inner learning rate of the protocol arms' miners and of the large-batch reference (default: --lr); the centralized run and the ablation keep --lr. Larger rates are what large-batch training needs: N miners at equal compute are N times fewer sequential steps of N times the batch.",
        };
        var largeBatch = new Option<bool>("--large-batch")
        {
            Description = "Also run, for each N > 1, the large-batch reference without the chain: centralized training with N times the task's batch for budget/N steps at the protocol's inner rate (exact gradient averaging over N miners every step: the reference data-parallel training at equal compute is measured against).",
        };
        var output = OutOption();
        var json = JsonOption();
        var command = new Command("quality", "Centralized training vs the protocol at equal total compute: for each N (miners) and H (inner steps) the protocol runs ⌊budget/(N·H)⌋ rounds with honest miners on the real chain; held-out loss and accuracy along the way; writes quality-<task>.md, .json and .png.")
        {
            task, budget, miners, inner, points, outer, outerLr, outerMomentum, schedule, carry, lr, innerLr, jobs, ablation, largeBatch, output, json,
        };
        command.SetAction(r => CliErrors.Run(() =>
        {
            string taskName = r.GetValue(task)!;
            int[] ns = IntList(r.GetValue(miners)!, "--miners", 1);
            int[] hs = IntList(r.GetValue(inner)!, "--inner-steps", 1);
            int b = r.GetValue(budget);
            if (b < 1)
            {
                throw new ArgumentException($"--budget must be positive, got {b}");
            }
            var outerOptimizer = r.GetValue(outer) switch
            {
                "sgd" => OuterOptimizer.Sgd,
                "nesterov" => OuterOptimizer.Nesterov,
                var other => throw new ArgumentException($"--outer: expected sgd or nesterov, got '{other}'"),
            };
            float eta = r.GetValue(outerLr);
            float mu = r.GetValue(outerMomentum);
            bool roundSchedule = r.GetValue(schedule) switch
            {
                "rounds" => true,
                "constant" => false,
                var other => throw new ArgumentException($"--schedule: expected rounds or constant, got '{other}'"),
            };
            var baseTask = (taskName == "tiny" ? ProtocolTask.Tiny() : ProtocolTask.Default(taskName)) with { Outer = outerOptimizer, OuterLearningRate = eta, OuterMomentum = mu, CarryOptimizer = r.GetValue(carry) };
            if (r.GetValue(lr) is float taskLr)
            {
                baseTask = baseTask with { Training = baseTask.Training with { LearningRate = taskLr } };
            }
            baseTask.Validate();
            float? protocolLr = r.GetValue(innerLr);
            if (protocolLr is float plr)
            {
                (baseTask with { Training = baseTask.Training with { LearningRate = plr } }).Validate();
            }
            var options = new QualityOptions
            {
                Task = baseTask, Budget = b, Miners = ns, InnerSteps = hs, CurvePoints = Math.Max(1, r.GetValue(points)), RoundSchedule = roundSchedule,
                ProtocolLearningRate = protocolLr,
            };
            bool asJson = r.GetValue(json);
            void Say(string line)
            {
                if (!asJson)
                {
                    Console.WriteLine(line);
                }
            }
            int parallel = r.GetValue(jobs);
            if (parallel < 1)
            {
                throw new ArgumentException($"--jobs must be positive, got {parallel}");
            }
            var arms = ns.SelectMany(n => hs.Select(h => (N: n, H: h))).ToArray();
            var results = new QualityRun?[arms.Length];
            var ablations = r.GetValue(ablation) ? hs.SelectMany(h => new[] { (H: h, Quantize: false), (H: h, Quantize: true) }).ToArray() : [];
            var ablationResults = new AblationRun?[ablations.Length];
            int[] largeBatches = r.GetValue(largeBatch) ? ns.Where(n => n > 1).Distinct().ToArray() : [];
            var largeBatchResults = new LargeBatchRun?[largeBatches.Length];
            IReadOnlyList<CurvePoint> central = [];
            var gate = new object();
            string dir = r.GetValue(output)!;
            Directory.CreateDirectory(dir);
            string stem = Path.Combine(dir, "quality-" + taskName);
            JsonObject Result(IEnumerable<QualityRun> runs) => new()
            {
                ["task"] = taskName, ["budget"] = b, ["outer"] = r.GetValue(outer), ["outerLearningRate"] = eta, ["outerMomentum"] = mu,
                ["schedule"] = r.GetValue(schedule), ["carryOptimizer"] = baseTask.CarryOptimizer,
                ["learningRate"] = baseTask.Training.LearningRate, ["innerLearningRate"] = protocolLr ?? baseTask.Training.LearningRate,
                ["centralized"] = CurveJson(central),
                ["protocol"] = new JsonArray(runs.Select(x => (JsonNode)new JsonObject
                {
                    ["miners"] = x.Miners, ["innerSteps"] = x.InnerSteps, ["rounds"] = x.Rounds, ["accepted"] = x.Accepted, ["rejected"] = x.Rejected,
                    ["finalLoss"] = x.Final.Loss, ["finalAccuracy"] = x.Final.Accuracy,
                    ["lossRatio"] = QualityExperiment.LossRatio(x.Final, central[^1]), ["meetsTarget"] = QualityExperiment.MeetsTarget(x.Final, central[^1]),
                    ["accuracyRatio"] = x.Final.Accuracy is double a && central[^1].Accuracy is double c && c > 0 ? a / c : null,
                    ["minerCpuSeconds"] = x.MinerCpuSeconds, ["verifierCpuSeconds"] = x.VerifierCpuSeconds,
                    ["curve"] = CurveJson(x.Curve),
                }).ToArray()),
                ["ablation"] = new JsonArray(ablationResults.OfType<AblationRun>().Select(x => (JsonNode)new JsonObject
                {
                    ["innerSteps"] = x.InnerSteps, ["quantized"] = x.Quantized, ["rounds"] = x.Rounds, ["label"] = x.Label,
                    ["finalLoss"] = x.Final.Loss, ["finalAccuracy"] = x.Final.Accuracy, ["lossRatio"] = QualityExperiment.LossRatio(x.Final, central[^1]),
                    ["curve"] = CurveJson(x.Curve),
                }).ToArray()),
                ["largeBatch"] = new JsonArray(largeBatchResults.OfType<LargeBatchRun>().Select(x => (JsonNode)new JsonObject
                {
                    ["miners"] = x.Miners, ["batchSize"] = x.BatchSize, ["steps"] = x.Steps, ["learningRate"] = x.LearningRate,
                    ["finalLoss"] = x.Final.Loss, ["finalAccuracy"] = x.Final.Accuracy, ["lossRatio"] = QualityExperiment.LossRatio(x.Final, central[^1]),
                    ["curve"] = CurveJson(x.Curve),
                }).ToArray()),
            };
            // The table and the JSON are rewritten as each arm finishes (a long run that stops early keeps what it measured).
            void WritePartial()
            {
                if (central.Count == 0) return;
                var done = results.OfType<QualityRun>().ToList();
                File.WriteAllText(stem + ".md", QualityMarkdown(options, central, done, ablationResults.OfType<AblationRun>().ToList(), largeBatchResults.OfType<LargeBatchRun>().ToList()));
                File.WriteAllText(stem + ".json", Result(done).ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
            }
            Parallel.For(-1, arms.Length + ablations.Length + largeBatches.Length, new ParallelOptions { MaxDegreeOfParallelism = parallel }, i =>
            {
                if (i >= arms.Length + ablations.Length)
                {
                    int k = i - arms.Length - ablations.Length;
                    var large = QualityExperiment.LargeBatch(options, largeBatches[k]);
                    lock (gate)
                    {
                        largeBatchResults[k] = large;
                        Say(string.Create(Inv, $"large batch N={large.Miners} (batch {large.BatchSize}, {large.Steps} steps): held-out loss {LossText(large.Final.Loss)}{Acc(large.Final.Accuracy)}"));
                        WritePartial();
                    }
                    return;
                }
                if (i >= arms.Length)
                {
                    var (h, quantize) = ablations[i - arms.Length];
                    var arm = QualityExperiment.Ablation(options, h, quantize);
                    lock (gate)
                    {
                        ablationResults[i - arms.Length] = arm;
                        Say(string.Create(Inv, $"ablation ({arm.Label}): held-out loss {LossText(arm.Final.Loss)}{Acc(arm.Final.Accuracy)}"));
                        WritePartial();
                    }
                    return;
                }
                if (i < 0)
                {
                    var c = QualityExperiment.Centralized(options);
                    lock (gate)
                    {
                        central = c;
                        Say(string.Create(Inv, $"centralized: {b} steps, held-out loss {LossText(c[^1].Loss)}{Acc(c[^1].Accuracy)}"));
                        WritePartial();
                    }
                    return;
                }
                var run = QualityExperiment.Protocol(options, arms[i].N, arms[i].H);
                lock (gate)
                {
                    results[i] = run;
                    Say(string.Create(Inv, $"protocol N={run.Miners} H={run.InnerSteps}: {run.Rounds} rounds, held-out loss {LossText(run.Final.Loss)}{Acc(run.Final.Accuracy)}, accepted {run.Accepted}, rejected {run.Rejected}"));
                    WritePartial();
                }
            });
            var all = results.OfType<QualityRun>().ToList();
            WritePartial();
            ExperimentPlots.Quality(stem + ".png", taskName, central, all, ablationResults.OfType<AblationRun>().ToList(), largeBatchResults.OfType<LargeBatchRun>().ToList());
            var result = Result(all);
            Say($"wrote {stem}.md, {stem}.json, {stem}.png");
            if (asJson)
            {
                Console.WriteLine(result.ToJsonString());
            }
            return CliErrors.Success;
        }));
        return command;
    }

    private static string VersusCentralized(CurvePoint f, CurvePoint c) =>
        QualityExperiment.LossRatio(f, c) is double lr ? (lr - 1).ToString("+0.0%;-0.0%", Inv) : f.Loss == 0 ? "equal (both 0)" : "— (centralized 0)";

    private static string LossText(double loss) => loss >= 1e-3 ? loss.ToString("F4", Inv) : loss.ToString("0.00E+0", Inv);

    private static string AccuracyCell(double? accuracy) => accuracy is double a ? a.ToString("P1", Inv) : "—";

    private static string Acc(double? accuracy) => accuracy is double a ? string.Create(Inv, $", accuracy {a:P1}") : "";

    private static JsonArray CurveJson(IEnumerable<CurvePoint> curve) =>
        new(curve.Select(p => (JsonNode)new JsonObject { ["steps"] = p.Steps, ["loss"] = p.Loss, ["accuracy"] = p.Accuracy }).ToArray());

    private static string QualityMarkdown(QualityOptions o, IReadOnlyList<CurvePoint> central, IReadOnlyList<QualityRun> runs, IReadOnlyList<AblationRun> ablation, IReadOnlyList<LargeBatchRun> largeBatch)
    {
        var c = central[^1];
        var sb = new StringBuilder();
        string outer = o.Task.Outer == OuterOptimizer.Sgd
            ? string.Create(Inv, $"outer SGD η = {o.Task.OuterLearningRate}")
            : string.Create(Inv, $"outer Nesterov η = {o.Task.OuterLearningRate}, μ = {o.Task.OuterMomentum}");
        string schedule = o.RoundSchedule ? "the task's learning-rate schedule spread over each arm's rounds" : "constant inner learning rate";
        string optimizerState = o.Task.CarryOptimizer ? "miners carry their AdamW state across rounds" : "AdamW restarts every round";
        string rate = o.ProtocolLearningRate is float plr
            ? string.Create(Inv, $"peak inner learning rate {plr} (centralized: {o.Task.Training.LearningRate})")
            : string.Create(Inv, $"peak learning rate {o.Task.Training.LearningRate} (every arm)");
        sb.Append(Inv, $"Task `{o.Task.Id}`, budget {o.Budget} training steps per arm (batch as in docs/engine.md); protocol: {outer}, {schedule}, {optimizerState}, {rate}. Centralized: held-out loss {LossText(c.Loss)}{Acc(c.Accuracy)}. Target: accuracy ≥ {QualityExperiment.TargetAccuracyRatio:P0} of centralized and loss ≤ {QualityExperiment.TargetLossRatio:0.00} × centralized.\n\n");
        sb.Append("| N | H | rounds | held-out loss | loss vs centralized | accuracy | accuracy ratio | target | accepted / rejected | verifier / miner CPU |\n");
        sb.Append("|---|---|---|---|---|---|---|---|---|---|\n");
        foreach (var r in runs)
        {
            var f = r.Final;
            string ratio = f.Accuracy is double a && c.Accuracy is double ca && ca > 0 ? (a / ca).ToString("P1", Inv) : "—";
            string target = QualityExperiment.MeetsTarget(f, c) ? "met" : "not met";
            sb.Append(Inv, $"| {r.Miners} | {r.InnerSteps} | {r.Rounds} | {LossText(f.Loss)} | {VersusCentralized(f, c)} | {AccuracyCell(f.Accuracy)} | {ratio} | {target} | {r.Accepted} / {r.Rejected} | {r.VerifierCpuSeconds / Math.Max(1e-9, r.MinerCpuSeconds):P1} |\n");
        }
        if (ablation.Count > 0)
        {
            sb.Append("\nSingle-miner ablation without the chain: centralized training (same steps, data order and schedule) with what the protocol adds to one miner.\n\n");
            sb.Append("| H | arm | held-out loss | loss vs centralized | accuracy |\n|---|---|---|---|---|\n");
            foreach (var a in ablation)
            {
                sb.Append(Inv, $"| {a.InnerSteps} | {a.Label} | {LossText(a.Final.Loss)} | {VersusCentralized(a.Final, c)} | {AccuracyCell(a.Final.Accuracy)} |\n");
            }
        }
        if (largeBatch.Count > 0)
        {
            sb.Append("\nLarge-batch reference without the chain: centralized training with N times the batch for budget / N steps (exact gradient averaging over N miners every step, the reference data-parallel training at equal compute is measured against).\n\n");
            sb.Append("| N | batch | steps | peak rate | held-out loss | loss vs centralized | accuracy |\n|---|---|---|---|---|---|---|\n");
            foreach (var l in largeBatch)
            {
                sb.Append(Inv, $"| {l.Miners} | {l.BatchSize} | {l.Steps} | {l.LearningRate} | {LossText(l.Final.Loss)} | {VersusCentralized(l.Final, c)} | {AccuracyCell(l.Final.Accuracy)} |\n");
            }
        }
        return sb.ToString();
    }

    private static Command CreateVerificationCost()
    {
        var rounds = new Option<int>("--rounds") { Description = "Rounds per configuration (two honest miners, four validators, c = 3).", DefaultValueFactory = _ => 1 };
        var output = OutOption();
        var json = JsonOption();
        var command = new Command("verification-cost", "Verifier vs miner CPU time and bytes moved per submission as H, k, s and the model vary (one at a time around addition, H = 50, k = 1, s = 4), with the catch probability of one fabricated step and one forged leaf; writes verification-cost.md, .json and .png.")
        {
            rounds, output, json,
        };
        command.SetAction(r => CliErrors.Run(() =>
        {
            int n = r.GetValue(rounds);
            if (n < 1)
            {
                throw new ArgumentException($"--rounds must be positive, got {n}");
            }
            bool asJson = r.GetValue(json);
            var points = VerificationCostExperiment.Run(VerificationCostExperiment.DefaultSweep(), n, p =>
            {
                if (!asJson)
                {
                    Console.WriteLine(string.Create(Inv, $"{p.Label}: verifier {p.VerifierCpuPerVerification:F3} s vs miner {p.MinerCpuPerSubmission:F3} s = {p.Ratio:P1}; fetched {p.VerifierBytesPerVerification / 1e6:F2} MB per verification"));
                }
            });
            string dir = r.GetValue(output)!;
            Directory.CreateDirectory(dir);
            string stem = Path.Combine(dir, "verification-cost");
            var sb = new StringBuilder();
            sb.Append("| configuration | params | H | k | s | miner CPU / submission | verifier CPU / verification | ratio | verifier MB fetched | update KB | model KB | P(catch 1 fabricated step) | P(catch 1 forged leaf) |\n");
            sb.Append("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
            foreach (var p in points)
            {
                sb.Append(Inv, $"| {p.Label} | {p.Parameters:N0} | {p.InnerSteps} | {p.ReplayedSteps} | {p.SampledLeaves} | {p.MinerCpuPerSubmission:F3} s | {p.VerifierCpuPerVerification:F3} s | {p.Ratio:P1} | {p.VerifierBytesPerVerification / 1e6:F2} | {p.UpdateBytes / 1024.0:F0} | {p.ModelBytes / 1024.0:F0} | {p.CatchFabricatedStep:F3} | {p.CatchForgedLeaf:F3} |\n");
            }
            File.WriteAllText(stem + ".md", sb.ToString());
            ExperimentPlots.VerificationCost(stem + ".png", points);
            var result = new JsonObject
            {
                ["points"] = new JsonArray(points.Select(p => (JsonNode)new JsonObject
                {
                    ["label"] = p.Label, ["task"] = p.Task, ["parameters"] = p.Parameters, ["innerSteps"] = p.InnerSteps, ["replayedSteps"] = p.ReplayedSteps,
                    ["sampledLeaves"] = p.SampledLeaves, ["minerCpuPerSubmission"] = p.MinerCpuPerSubmission, ["verifierCpuPerVerification"] = p.VerifierCpuPerVerification,
                    ["ratio"] = p.Ratio, ["verifierBytesPerVerification"] = p.VerifierBytesPerVerification, ["updateBytes"] = p.UpdateBytes, ["modelBytes"] = p.ModelBytes,
                    ["catchFabricatedStep"] = p.CatchFabricatedStep, ["catchForgedLeaf"] = p.CatchForgedLeaf,
                }).ToArray()),
            };
            File.WriteAllText(stem + ".json", result.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
            if (asJson)
            {
                Console.WriteLine(result.ToJsonString());
            }
            else
            {
                Console.WriteLine($"wrote {stem}.md, {stem}.json, {stem}.png");
            }
            return CliErrors.Success;
        }));
        return command;
    }

    private static Command CreateCheating()
    {
        var task = new Option<string>("--task") { Description = "\"tiny\" (1-layer addition model, H = 4: hundreds of rounds in seconds) or an engine task.", DefaultValueFactory = _ => "tiny" };
        var rounds = new Option<int>("--rounds") { Description = "Rounds (trials) per cell.", DefaultValueFactory = _ => 200 };
        var strategies = new Option<string>("--strategies") { Description = "Cheating strategies, comma-separated, or \"all\".", DefaultValueFactory = _ => "all" };
        var probabilities = new Option<string>("--probabilities") { Description = "Rates of cheating ρ (probability of cheating in a round), comma-separated.", DefaultValueFactory = _ => "0.5,1" };
        var counts = new Option<string>("--counts") { Description = "Extra deviation sizes m (fabricated steps, forged leaves, skipped steps) for the graded strategies, run at ρ = 1.", DefaultValueFactory = _ => "2" };
        var seed = new Option<ulong>("--seed") { Description = "Seed of keys and beacons.", DefaultValueFactory = _ => 11UL };
        var output = OutOption();
        var json = JsonOption();
        var command = new Command("cheating", "The detection matrix: every adversarial strategy × rate of cheating, measured catch rate against its formula (3σ binomial interval), and the false-slash rate of honest work (must be 0); writes cheating.md, .json and .png. Exit code 1 when anything honest was slashed.")
        {
            task, rounds, strategies, probabilities, counts, seed, output, json,
        };
        command.SetAction(r => CliErrors.Run(() =>
        {
            string taskName = r.GetValue(task)!;
            var protocolTask = taskName == "tiny" ? ProtocolTask.Tiny() : ProtocolTask.Default(taskName);
            string spec = r.GetValue(strategies)!;
            var list = spec == "all" ? new CheatingOptions().Strategies : ProtocolSimulation.ParseCheaters(spec).Distinct().ToArray();
            if (list.Count == 0)
            {
                throw new ArgumentException("--strategies names no strategy");
            }
            var options = new CheatingOptions
            {
                Task = protocolTask, Rounds = r.GetValue(rounds), Strategies = list, Probabilities = ProbabilityList(r.GetValue(probabilities)!),
                Counts = IntList(r.GetValue(counts)!, "--counts", 1), Seed = r.GetValue(seed),
            };
            bool asJson = r.GetValue(json);
            var cells = CheatingExperiment.Run(options, c =>
            {
                if (!asJson)
                {
                    Console.WriteLine(string.Create(Inv, $"{c.Strategy} m={c.Count?.ToString(Inv) ?? "default"} ρ={c.Probability}: caught {c.Caught}/{c.Cheated} = {c.Rate:F3} vs {(c.Formula.LowerBound ? "≥ " : "")}{c.Formula.Probability:F3} ({c.Formula.Check}) {(c.Agrees ? "agrees" : "DISAGREES")}; false slashes {c.FalseSlashes}"));
                }
            });
            string dir = r.GetValue(output)!;
            Directory.CreateDirectory(dir);
            string stem = Path.Combine(dir, "cheating");
            int falseSlashes = cells.Sum(c => c.FalseSlashes);
            int honestSubmissions = cells.Sum(c => c.Rounds * 2 - c.Cheated);
            var sb = new StringBuilder();
            sb.Append(Inv, $"Task `{taskName}` (H = {protocolTask.InnerSteps}, k = {protocolTask.ReplayedSteps}, s = {protocolTask.SampledLeaves}, c = {protocolTask.VerifiersPerSubmission}), {options.Rounds} rounds per cell, one honest miner beside the cheater, seed {options.Seed}.\n\n");
            sb.Append("| strategy | m | ρ | cheating rounds | caught | slashed | measured rate | formula | check | agrees (3σ) | honest rounds rejected |\n");
            sb.Append("|---|---|---|---|---|---|---|---|---|---|---|\n");
            foreach (var c in cells)
            {
                sb.Append(Inv, $"| {c.Strategy} | {c.Count?.ToString(Inv) ?? "default"} | {c.Probability} | {c.Cheated} | {c.Caught} | {c.Slashed} | {c.Rate:F3} | {(c.Formula.LowerBound ? "≥ " : "")}{c.Formula.Probability:F3} ± {c.HalfWidth:F3} | {c.Formula.Check} | {(c.Agrees ? "yes" : "**no**")} | {c.HonestRoundsRejected} |\n");
            }
            sb.Append(Inv, $"\nFalse slashes: {falseSlashes} of {honestSubmissions} honest submissions (rate {(honestSubmissions == 0 ? 0 : (double)falseSlashes / honestSubmissions):F4}).\n");
            File.WriteAllText(stem + ".md", sb.ToString());
            ExperimentPlots.Cheating(stem + ".png", cells);
            var result = new JsonObject
            {
                ["task"] = taskName, ["rounds"] = options.Rounds, ["falseSlashes"] = falseSlashes, ["honestSubmissions"] = honestSubmissions,
                ["falseSlashRate"] = honestSubmissions == 0 ? 0 : (double)falseSlashes / honestSubmissions,
                ["allAgree"] = cells.All(c => c.Agrees),
                ["cells"] = new JsonArray(cells.Select(c => (JsonNode)new JsonObject
                {
                    ["strategy"] = c.Strategy, ["count"] = c.Count, ["probability"] = c.Probability, ["rounds"] = c.Rounds, ["cheated"] = c.Cheated,
                    ["caught"] = c.Caught, ["slashed"] = c.Slashed, ["rate"] = double.IsNaN(c.Rate) ? null : c.Rate, ["formula"] = c.Formula.Probability,
                    ["lowerBound"] = c.Formula.LowerBound, ["check"] = c.Formula.Check, ["agrees"] = c.Agrees,
                    ["honestRoundsRejected"] = c.HonestRoundsRejected, ["falseSlashes"] = c.FalseSlashes,
                }).ToArray()),
            };
            File.WriteAllText(stem + ".json", result.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
            if (asJson)
            {
                Console.WriteLine(result.ToJsonString());
            }
            else
            {
                Console.WriteLine($"false slashes: {falseSlashes} of {honestSubmissions} honest submissions; wrote {stem}.md, {stem}.json, {stem}.png");
            }
            return falseSlashes == 0 ? CliErrors.Success : CliErrors.InternalError;
        }));
        return command;
    }
}
