using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Pot.Protocol;
using Spectre.Console;

namespace Pot.Cli;

/// <summary>The <c>pot cost</c> command: the protocol's bandwidth, on-chain and compute cost for a real model (docs/cost.md).</summary>
public static class CostCommand
{
    /// <summary>Creates <c>cost</c>.</summary>
    /// <returns>The command.</returns>
    public static Command Create()
    {
        var model = new Option<string>("--model", "-m") { Description = "gpt3-175b, gemma3-27b, or the path of a JSON model spec (fields in docs/cost.md).", Required = true };
        var gpu = new Option<string>("--gpu") { Description = "GPU whose documented peak dense rates give the times: h100, h200 or a100.", DefaultValueFactory = _ => "h100" };
        var json = new Option<bool>("--json") { Description = "Print the estimate as one JSON object on the last line of stdout." };
        var inner = new Option<int>("--inner-steps") { Description = "Inner steps per round H.", DefaultValueFactory = _ => 50 };
        var verifiers = new Option<int>("--verifiers") { Description = "Verifiers per submission c.", DefaultValueFactory = _ => 3 };
        var replayed = new Option<int>("--replayed-steps") { Description = "Steps each verifier replays k.", DefaultValueFactory = _ => 1 };
        var leaves = new Option<int>("--sampled-leaves") { Description = "Leaves each verifier checks s.", DefaultValueFactory = _ => 4 };
        var batch = new Option<long>("--batch") { Description = "Sequences per inner step.", DefaultValueFactory = _ => 32 };
        var seqLen = new Option<long?>("--seq-len") { Description = "Tokens per sequence (default: the model's context, at most 2048)." };
        var evalRows = new Option<long>("--eval-rows") { Description = "Rows of each of the four usefulness forward passes.", DefaultValueFactory = _ => 32 };
        var buffers = new Option<int>("--optimizer-buffers") { Description = "Optimizer state buffers per parameter (AdamW 2, SGD 0).", DefaultValueFactory = _ => 2 };
        var miners = new Option<int>("--miners") { Description = "Submissions per round M (for on-chain bytes).", DefaultValueFactory = _ => 100 };
        var validators = new Option<int>("--validators") { Description = "Validators n (commit certificate, verifier payees).", DefaultValueFactory = _ => 100 };
        var window = new Option<int>("--window") { Description = "Submission window W in blocks.", DefaultValueFactory = _ => 4 };
        var diffRatio = new Option<double>("--diff-ratio") { Description = "Binary diff size over fp32 model size (default: the measured 0.246, docs/commitments.md §9).", DefaultValueFactory = _ => CostModel.MeasuredDiffRatio };
        var mfu = new Option<double>("--mfu") { Description = "Model FLOP utilisation for the realistic time (peak-rate times are printed too).", DefaultValueFactory = _ => 0.4 };
        var command = new Command("cost", "Cost analysis of a Proof-of-Training round for a real model: fp32 model, Q4 update and binary diff sizes, Merkle proof sizes, on-chain bytes from the chain's encoders, training vs verification FLOPs and GPU times (formulas in docs/cost.md).")
        {
            model, gpu, json, inner, verifiers, replayed, leaves, batch, seqLen, evalRows, buffers, miners, validators, window, diffRatio, mfu,
        };
        command.SetAction(parse => CliErrors.Run(() =>
        {
            var spec = LoadModel(parse.GetValue(model)!);
            string gpuName = parse.GetValue(gpu)!;
            if (!GpuSpec.BuiltIn.TryGetValue(gpuName, out var g))
            {
                throw new ArgumentException($"unknown GPU '{gpuName}': expected one of {string.Join(", ", GpuSpec.BuiltIn.Keys)}");
            }
            var p = new CostParameters
            {
                InnerSteps = parse.GetValue(inner),
                Verifiers = parse.GetValue(verifiers),
                ReplayedSteps = parse.GetValue(replayed),
                SampledLeaves = parse.GetValue(leaves),
                BatchSequences = parse.GetValue(batch),
                SequenceLength = parse.GetValue(seqLen),
                EvalRows = parse.GetValue(evalRows),
                OptimizerBuffers = parse.GetValue(buffers),
                Miners = parse.GetValue(miners),
                Validators = parse.GetValue(validators),
                WindowBlocks = parse.GetValue(window),
                DiffRatio = parse.GetValue(diffRatio),
                Mfu = parse.GetValue(mfu),
            };
            var e = CostModel.Estimate(spec, g, p);
            if (parse.GetValue(json))
            {
                Console.WriteLine(ToJson(e));
            }
            else
            {
                Print(e);
            }
            return CliErrors.Success;
        }));
        return command;
    }

    /// <summary>A built-in spec by name, or a JSON spec file.</summary>
    /// <param name="nameOrPath">Name or path.</param>
    /// <returns>The validated spec.</returns>
    internal static ModelSpec LoadModel(string nameOrPath)
    {
        if (ModelSpec.BuiltIn.TryGetValue(nameOrPath, out string? builtIn))
        {
            return ModelSpec.Parse(builtIn);
        }
        if (!nameOrPath.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
        {
            throw new ArgumentException($"unknown model '{nameOrPath}': expected {string.Join(", ", ModelSpec.BuiltIn.Keys)} or the path of a .json model spec");
        }
        if (!File.Exists(nameOrPath))
        {
            throw new ArgumentException($"model spec file '{nameOrPath}' does not exist");
        }
        var info = new FileInfo(nameOrPath);
        if (info.Length > 1 << 20)
        {
            throw new ArgumentException($"model spec file '{nameOrPath}' is {info.Length} bytes; at most 1 MiB is accepted");
        }
        try
        {
            return ModelSpec.Parse(File.ReadAllText(nameOrPath));
        }
        catch (ArgumentException ex)
        {
            throw new ArgumentException($"{nameOrPath}: {ex.Message}", ex);
        }
    }

    /// <summary>The estimate as one JSON line.</summary>
    /// <param name="e">The estimate.</param>
    /// <returns>Compact JSON.</returns>
    internal static string ToJson(CostEstimate e)
    {
        var options = new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.CamelCase, WriteIndented = false };
        return JsonSerializer.Serialize(new
        {
            model = e.Model.Name,
            parameters = e.ParameterCount,
            nominalParameters = e.Model.NominalParameters,
            gpu = e.Gpu,
            sequenceLength = e.SequenceLength,
            workload = e.Parameters,
            sizes = e.Sizes,
            chain = e.Chain,
            compute = e.Compute,
        }, options);
    }

    private static string Bytes(double b) => b switch
    {
        >= 1e12 => $"{b / 1e12:F2} TB",
        >= 1e9 => $"{b / 1e9:F2} GB",
        >= 1e6 => $"{b / 1e6:F2} MB",
        >= 1e3 => $"{b / 1e3:F2} kB",
        _ => $"{b:F0} B",
    };

    private static string Seconds(double s) => s switch
    {
        >= 86400 => $"{s / 86400:F2} GPU-days",
        >= 3600 => $"{s / 3600:F2} GPU-h",
        >= 1 => $"{s:F1} GPU-s",
        _ => $"{s * 1000:F2} GPU-ms",
    };

    private static void Print(CostEstimate e)
    {
        var c = CultureInfo.InvariantCulture;
        var p = e.Parameters;
        var t = new Table().AddColumns("quantity", "value", "formula");
        t.AddRow("parameters N", $"{e.ParameterCount.ToString("E4", c)} (published {e.Model.NominalParameters?.ToString("E2", c) ?? "-"})", "L·(attention + (2|3)·d·ffn) + V·d (+ctx·d)");
        t.AddRow("fp32 model", Bytes(e.Sizes.Fp32ModelBytes), "4N");
        t.AddRow("training state (replay fetch)", Bytes(e.Sizes.TrainingStateBytes), $"(1+{p.OptimizerBuffers})·4N");
        t.AddRow("Q4_0 update", Bytes(e.Sizes.Q4UpdateBytes), "16 + ⌈N/32⌉·18");
        t.AddRow("binary diff", Bytes(e.Sizes.DiffBytes), $"80 + {p.DiffRatio.ToString(c)}·4N");
        t.AddRow("Merkle leaves / height", $"{e.Sizes.Leaves} / {e.Sizes.TreeHeight}", "⌈N/1024⌉, ⌈log₂ leaves⌉");
        t.AddRow("inclusion proof", $"{e.Sizes.InclusionProofBytes} B", "encoded MerkleProof, longest path");
        t.AddRow($"multi-proof, s = {p.SampledLeaves}", $"{e.Sizes.MultiProofBytes} B ({e.Sizes.MultiProofHashes} hashes)", "encoded MerkleMultiProof, spread leaves");
        t.AddRow("leaf-check data per verifier", Bytes(e.Sizes.LeafCheckBytes), "s·(4096+576) + 2 multi-proofs");
        t.AddRow("submit tx", $"{e.Chain.SubmitTxBytes} B", $"Transaction.Create, H = {p.InnerSteps} losses");
        t.AddRow("attest tx", $"{e.Chain.AttestTxBytes} B", $"k = {p.ReplayedSteps}, s = {p.SampledLeaves}");
        t.AddRow("finalize tx", $"{e.Chain.FinalizeTxBytes} B{(e.Chain.FinalizeExceedsTransactionLimit ? " (ABOVE the 128 KiB tx limit)" : "")}", $"M = {p.Miners} ids + payees");
        t.AddRow("block header + certificate", $"{e.Chain.BlockOverheadBytes} B", $"n = {p.Validators}, n − f signatures");
        t.AddRow("on-chain bytes per round", Bytes(e.Chain.RoundBytes), "M·submit + c·M·attest + finalize + (W+1)·overhead");
        t.AddRow("on-chain bytes per block", Bytes(e.Chain.BytesPerBlock) + (e.Chain.LargestBlockExceedsLimit ? " (a block ABOVE the 8 MiB limit)" : ""), "round / (W+1)");
        t.AddRow("tokens per step", e.Compute.TokensPerStep.ToString("N0", c), $"{p.BatchSequences} × {e.SequenceLength}");
        t.AddRow("training FLOPs per round", e.Compute.TrainingFlops.ToString("E3", c), "6·N·tokens·H");
        t.AddRow("verification FLOPs (one verifier)", e.Compute.VerificationFlops.ToString("E3", c), "6·N·tokens·k + 4·2·N·evalRows·seq");
        t.AddRow("verifier / miner", $"{e.Compute.VerifierToMinerRatio * 100:F3} %", "one verifier; c verifiers: ×c");
        t.AddRow($"training time ({e.Gpu.Name})", $"{Seconds(e.Compute.TrainingSecondsBf16)} BF16 peak, {Seconds(e.Compute.TrainingSecondsAtMfu)} at {p.Mfu:P0} MFU, {Seconds(e.Compute.TrainingSecondsFp32)} FP32 peak", $"{e.Gpu.Bf16DenseTflops} / {e.Gpu.Fp32Tflops} TFLOP/s");
        t.AddRow("verification time", $"{Seconds(e.Compute.VerificationSecondsBf16)} BF16 peak, {Seconds(e.Compute.VerificationSecondsAtMfu)} at {p.Mfu:P0} MFU, {Seconds(e.Compute.VerificationSecondsFp32)} FP32 peak", "");
        t.AddRow("GPUs to hold training state", $"{e.Compute.GpusToHoldState}", $"(2+{p.OptimizerBuffers})·4N / {e.Gpu.MemoryGb} GB");
        AnsiConsole.Write(new Markup($"[bold]{Markup.Escape(e.Model.Name)}[/] on {Markup.Escape(e.Gpu.Name)}\n"));
        AnsiConsole.Write(t);
    }
}
