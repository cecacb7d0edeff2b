using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Pot.Learning.Data;
using Pot.Learning.Kernels;
using Pot.Learning.Training;
using Spectre.Console;

namespace Pot.Cli;

/// <summary>The engine's commands: <c>pot train</c>, <c>pot eval</c> and <c>pot generate</c>.</summary>
public static class TrainCommands
{
    /// <summary>Creates <c>pot train</c>.</summary>
    /// <returns>The command.</returns>
    public static Command CreateTrain()
    {
        var task = new Option<string>("--task") { Description = $"Task to train: {string.Join(", ", Tasks.Names)}.", DefaultValueFactory = _ => "addition" };
        var steps = new Option<int?>("--steps") { Description = "Optimiser steps (default: the task's documented default, 1500 for addition, 5000 for addition3, 1000 for kjv, 3000 for fashion-mnist)." };
        var seed = new Option<ulong>("--seed") { Description = "Seed of initialisation and data order.", DefaultValueFactory = _ => 1UL };
        var threads = new Option<int>("--threads") { Description = "Worker threads (results are identical for any value).", DefaultValueFactory = _ => Environment.ProcessorCount };
        var batch = new Option<int?>("--batch-size") { Description = "Examples per step (default: the task's)." };
        var lr = new Option<float?>("--lr") { Description = "Peak learning rate (default: the task's)." };
        var optimizer = new Option<string?>("--optimizer") { Description = "adamw, sgd or sgd-momentum (default: adamw)." };
        var evalEvery = new Option<int>("--eval-every") { Description = "Evaluate every N steps (0: only at the end).", DefaultValueFactory = _ => 0 };
        var output = new Option<string?>("--out") { Description = "Directory to write the checkpoint to (model.safetensors + optimizer.safetensors)." };
        var resume = new Option<string?>("--resume") { Description = "Continue from a checkpoint directory (its config is used; --steps is the new total)." };
        var json = new Option<bool>("--json") { Description = "Print no live display; the last stdout line is one JSON object with the results." };
        var skipEval = new Option<bool>("--skip-eval") { Description = "Skip the final evaluation (valLoss and accuracy are then null)." };
        var command = new Command("train", "Train a model on a task with the deterministic engine and report loss, validation loss, accuracy and the model root (Merkle root of the parameters).")
        {
            task, steps, seed, threads, batch, lr, optimizer, evalEvery, output, resume, json, skipEval,
        };
        command.SetAction(r => CliErrors.Run(() =>
        {
            Trainer trainer;
            string? resumeDir = r.GetValue(resume);
            if (resumeDir is not null)
            {
                trainer = TrainingCheckpoint.Load(resumeDir);
                if (r.GetValue(steps) is int total)
                {
                    trainer = Rebuild(trainer, trainer.Config with { Steps = total });
                }
            }
            else
            {
                var config = TrainingConfig.Default(r.GetValue(task)!) with { Seed = r.GetValue(seed) };
                config = config with
                {
                    Steps = r.GetValue(steps) ?? config.Steps,
                    BatchSize = r.GetValue(batch) ?? config.BatchSize,
                    LearningRate = r.GetValue(lr) ?? config.LearningRate,
                    Optimizer = r.GetValue(optimizer) ?? config.Optimizer,
                };
                trainer = Trainer.Create(config);
            }

            return Train(trainer, new Parallelism(r.GetValue(threads)), r.GetValue(evalEvery), r.GetValue(output), r.GetValue(json), r.GetValue(skipEval));
        }));
        return command;
    }

    private static Trainer Rebuild(Trainer loaded, TrainingConfig config) =>
        new(Trainer.Resolve(config), loaded.Trainable, loaded.Optimizer) { Step = loaded.Step };

    private static int Train(Trainer trainer, Parallelism parallelism, int evalEvery, string? outDir, bool json, bool skipEval)
    {
        var config = trainer.Config;
        long tokensPerStep = trainer.Trainable.TokensPerStep(config.BatchSize);
        var clock = Stopwatch.StartNew();
        StepReport last = default;
        int startStep = trainer.Step;
        var history = new List<(int Step, Evaluation Eval)>();

        void RunSteps(Action<StepReport>? onStep)
        {
            while (trainer.Step < config.Steps)
            {
                last = trainer.TrainStep(parallelism);
                if (!float.IsFinite(last.Loss))
                {
                    throw new InvalidOperationException($"training diverged at step {last.Step}: loss is {last.Loss}; lower --lr");
                }

                onStep?.Invoke(last);
                if (evalEvery > 0 && trainer.Step % evalEvery == 0 && trainer.Step < config.Steps)
                {
                    history.Add((trainer.Step, trainer.Trainable.Evaluate(parallelism)));
                }
            }
        }

        double trainSeconds = 0;
        double TokensPerSecond() => (trainer.Step - startStep) * (double)tokensPerStep / Math.Max(1e-9, trainSeconds > 0 ? trainSeconds : clock.Elapsed.TotalSeconds);

        if (json || Console.IsOutputRedirected)
        {
            int reportEvery = Math.Max(1, (config.Steps - startStep) / 10);
            RunSteps(s =>
            {
                if (!json && s.Step % reportEvery == 0)
                {
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"step {s.Step}/{config.Steps} loss {s.Loss:F4} lr {s.LearningRate:G3} {TokensPerSecond():F0} tok/s"));
                }
            });
        }
        else
        {
            AnsiConsole.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
                .Start(ctx =>
                {
                    var bar = ctx.AddTask($"{config.Task}", maxValue: Math.Max(1, config.Steps));
                    bar.Value = trainer.Step;
                    RunSteps(s =>
                    {
                        bar.Value = s.Step;
                        if (s.Step % 10 == 0 || s.Step == config.Steps)
                        {
                            bar.Description = string.Create(CultureInfo.InvariantCulture, $"{config.Task} step {s.Step}/{config.Steps} loss {s.Loss:F4} {TokensPerSecond():F0} tok/s");
                        }
                    });
                });
        }

        trainSeconds = clock.Elapsed.TotalSeconds;
        var eval = skipEval ? new Evaluation(double.NaN, null, 0) : trainer.Trainable.Evaluate(parallelism);
        if (!skipEval)
        {
            history.Add((trainer.Step, eval));
        }

        string digest = Trainer.ModelRoot(trainer.Trainable.Parameters);
        if (outDir is not null)
        {
            TrainingCheckpoint.Save(outDir, trainer);
        }

        double? bigram = trainer.Trainable is TokenTrainable { Task: KjvTask kjv } ? kjv.BigramValidationLoss() : null;
        var result = new JsonObject
        {
            ["task"] = config.Task,
            ["steps"] = trainer.Step,
            ["seed"] = config.Seed,
            ["threads"] = parallelism.Threads,
            ["simd"] = Gemm.SimdPath,
            ["parameters"] = trainer.Trainable.Parameters.Count,
            ["loss"] = last.Step > 0 ? last.Loss : null,
            ["valLoss"] = skipEval ? null : eval.ValidationLoss,
            ["accuracy"] = eval.Accuracy,
            ["accuracyExamples"] = eval.Accuracy is null ? null : eval.Examples,
            ["bigramValLoss"] = bigram,
            ["trainSeconds"] = Math.Round(trainSeconds, 3),
            ["tokensPerSecond"] = Math.Round(TokensPerSecond(), 1),
            ["modelRoot"] = digest,
            ["checkpoint"] = outDir is null ? null : Path.GetFullPath(outDir),
            ["evaluations"] = new JsonArray(history.Select(h => (JsonNode)new JsonObject
            {
                ["step"] = h.Step,
                ["valLoss"] = h.Eval.ValidationLoss,
                ["accuracy"] = h.Eval.Accuracy,
            }).ToArray()),
        };

        if (json)
        {
            Console.WriteLine(result.ToJsonString());
        }
        else
        {
            var table = new Table().AddColumn("result").AddColumn("value");
            table.AddRow("task", config.Task);
            table.AddRow("steps", trainer.Step.ToString(CultureInfo.InvariantCulture));
            table.AddRow("train loss", last.Step > 0 ? last.Loss.ToString("F4", CultureInfo.InvariantCulture) : "-");
            table.AddRow("validation loss", eval.ValidationLoss.ToString("F4", CultureInfo.InvariantCulture));
            if (eval.Accuracy is double acc)
            {
                table.AddRow("accuracy", $"{acc.ToString("P2", CultureInfo.InvariantCulture)} of {eval.Examples}");
            }

            if (bigram is double bg)
            {
                table.AddRow("bigram baseline loss", bg.ToString("F4", CultureInfo.InvariantCulture));
            }

            table.AddRow("tokens/s", TokensPerSecond().ToString("F0", CultureInfo.InvariantCulture));
            table.AddRow("model root", digest);
            if (outDir is not null)
            {
                table.AddRow("checkpoint", Markup.Escape(Path.GetFullPath(outDir)));
            }

            AnsiConsole.Write(table);
        }

        return 0;
    }

    /// <summary>Creates <c>pot eval</c>.</summary>
    /// <returns>The command.</returns>
    public static Command CreateEval()
    {
        var source = new ModelSourceOptions("Checkpoint directory written by pot train --out (or give --rpc URL --task ID [--height H] to evaluate a chain task's model, downloaded and verified against the chain's model root).");
        var threads = new Option<int>("--threads") { Description = "Worker threads.", DefaultValueFactory = _ => Environment.ProcessorCount };
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of a table." };
        var command = new Command("eval", "Evaluate a saved checkpoint or a chain task's model: validation loss, and accuracy where the task has one.") { threads, json };
        source.AddTo(command);
        command.SetAction(r => CliErrors.Run(() =>
        {
            var trainer = source.IsRemote(r) ? source.Download(r).ToTrainer() : TrainingCheckpoint.Load(r.GetValue(source.Checkpoint)!);
            var eval = trainer.Trainable.Evaluate(new Parallelism(r.GetValue(threads)));
            var result = new JsonObject
            {
                ["task"] = trainer.Config.Task,
                ["steps"] = trainer.Step,
                ["valLoss"] = eval.ValidationLoss,
                ["accuracy"] = eval.Accuracy,
                ["modelRoot"] = Trainer.ModelRoot(trainer.Trainable.Parameters),
            };
            if (r.GetValue(json))
            {
                Console.WriteLine(result.ToJsonString());
            }
            else
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"task {trainer.Config.Task}, step {trainer.Step}: validation loss {eval.ValidationLoss:F4}")
                    + (eval.Accuracy is double a ? string.Create(CultureInfo.InvariantCulture, $", accuracy {a:P2} of {eval.Examples}") : ""));
            }

            return 0;
        }));
        return command;
    }

    /// <summary>Creates <c>pot generate</c>.</summary>
    /// <returns>The command.</returns>
    public static Command CreateGenerate()
    {
        var source = new ModelSourceOptions("Checkpoint directory of a token model (addition, kjv), or give --rpc URL --task ID [--height H] to use a chain task's model (downloaded and verified against the chain's model root).");
        var prompt = new Option<string>("--prompt") { Description = "Prompt text, e.g. \"12+34=\" for addition.", Required = true };
        var tokens = new Option<int?>("--tokens") { Description = "Tokens to generate (default: the answer length for addition, 200 otherwise)." };
        var temperature = new Option<float>("--temperature") { Description = "0 for greedy decoding, otherwise the sampling temperature.", DefaultValueFactory = _ => 0f };
        var seed = new Option<ulong>("--seed") { Description = "Sampling seed.", DefaultValueFactory = _ => 1UL };
        var json = new Option<bool>("--json") { Description = "Print one JSON object." };
        var command = new Command("generate", "Continue a prompt with a saved token model or a chain task's model. For addition the answer is decoded (digits are generated low digit first).")
        {
            prompt, tokens, temperature, seed, json,
        };
        source.AddTo(command);
        command.SetAction(r => CliErrors.Run(() =>
        {
            var trainer = source.IsRemote(r) ? source.Download(r).ToTrainer() : TrainingCheckpoint.Load(r.GetValue(source.Checkpoint)!);
            if (trainer.Trainable is not TokenTrainable token)
            {
                throw new ArgumentException($"task {trainer.Config.Task} is not a text task; generate works on addition and kjv checkpoints");
            }

            string text = r.GetValue(prompt)!;
            var ids = token.Task.Encode(text);
            int count = r.GetValue(tokens) ?? (token.Task is AdditionTask add ? add.AnswerLength : 200);
            if (count < 0 || count > 100_000)
            {
                throw new ArgumentException($"--tokens {count} must be in [0, 100000]");
            }

            var generated = token.Model.Generate(ids, count, r.GetValue(temperature), r.GetValue(seed), new Parallelism(Environment.ProcessorCount));
            string continuation = token.Task.Decode(generated);
            int? sum = token.Task is AdditionTask a && a.TryParseAnswer(generated, out int s) ? s : null;
            if (r.GetValue(json))
            {
                Console.WriteLine(new JsonObject { ["prompt"] = text, ["completion"] = continuation, ["answer"] = sum }.ToJsonString());
            }
            else
            {
                Console.WriteLine(text + continuation);
                if (sum is int value)
                {
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"answer: {value}"));
                }
            }

            return 0;
        }));
        return command;
    }
}
