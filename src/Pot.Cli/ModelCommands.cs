using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using Pot.Commitments;
using Pot.Learning.Checkpoints;
using Pot.Learning.Training;
using Pot.Node;
using Pot.Protocol;

namespace Pot.Cli;

/// <summary>A model, from a node (verified against the chain's model root) or from a local checkpoint.</summary>
/// <param name="Config">Resolved engine configuration (names the tensors).</param>
/// <param name="Model">Values in canonical order.</param>
/// <param name="Root">Model root, lower-case hex.</param>
/// <param name="Step">Training step (checkpoints), or null.</param>
/// <param name="TaskId">Chain task id (downloads), or null.</param>
/// <param name="Height">Chain height (downloads), or null.</param>
/// <param name="ChainId">Chain id (downloads), or null.</param>
internal sealed record LoadedModel(TrainingConfig Config, float[] Model, string Root, int? Step, ulong? TaskId, ulong? Height, string? ChainId)
{
    /// <summary>A trainer holding the model's values (for eval and generate).</summary>
    public Trainer ToTrainer()
    {
        var trainer = Trainer.Create(Config);
        Model.CopyTo(trainer.Trainable.Parameters.Values.Span);
        trainer.Step = Step ?? 0;
        return trainer;
    }

    /// <summary>Metadata entries saying where the model came from.</summary>
    public Dictionary<string, string> Provenance()
    {
        var meta = new Dictionary<string, string>(StringComparer.Ordinal);
        if (TaskId is { } t) meta["pot.taskId"] = t.ToString(CultureInfo.InvariantCulture);
        if (Height is { } h) meta["pot.height"] = h.ToString(CultureInfo.InvariantCulture);
        if (ChainId is { } c) meta["pot.chainId"] = c;
        if (Step is { } s) meta["pot.step"] = s.ToString(CultureInfo.InvariantCulture);
        return meta;
    }
}

/// <summary>
/// Downloads a task's model from a node and checks it: the tensors must have exactly the layout the chain's model
/// spec names, and the model root recomputed from them must equal the model root the node's chain reports
/// (<c>pot_getModelRoot</c>) for that task and height. Anything else is refused.
/// </summary>
internal static class ModelDownload
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromMinutes(5) };

    public static LoadedModel Fetch(string rpc, ulong taskId, ulong? height, CancellationToken cancellation = default)
    {
        if (!Uri.TryCreate(rpc, UriKind.Absolute, out var baseUri) || (baseUri.Scheme != Uri.UriSchemeHttp && baseUri.Scheme != Uri.UriSchemeHttps))
        {
            throw new ArgumentException($"--rpc '{rpc}' is not an http:// or https:// URL");
        }
        string url = rpc.TrimEnd('/');
        string task = taskId.ToString(CultureInfo.InvariantCulture);
        try
        {
            var at = (JsonObject)Call(url, "pot_getModelRoot", height is { } h ? [task, h.ToString(CultureInfo.InvariantCulture)] : [task], cancellation)!;
            string chainRoot = (string)at["modelRoot"]!;
            ulong atHeight = (ulong)at["height"]!;
            var info = (JsonObject)Call(url, "pot_getTask", [task], cancellation)!;
            var status = (JsonObject)Call(url, "pot_status", [], cancellation)!;
            var config = TaskModelSpec.Resolve(Hex.Decode((string?)info["modelSpec"], "model spec"));
            long count = ModelExport.ParameterCount(ModelExport.Layout(config));
            if (count > ModelExport.MaxParameters)
            {
                throw new InvalidOperationException($"task {taskId}'s model has {count} values; at most {ModelExport.MaxParameters} are supported");
            }
            // The file holds the values once, the tied head again for GPT models, and a header.
            long maxBytes = count * 8 + (1 << 20);
            byte[] body = GetBounded($"{url}/api/task/{task}/model?height={atHeight}", maxBytes, cancellation);
            SafetensorsFile file;
            try
            {
                file = Safetensors.Read(new MemoryStream(body, writable: false));
            }
            catch (CheckpointFormatException ex)
            {
                throw new ModelVerificationException($"the node's answer is not a valid safetensors file: {ex.Message}");
            }
            float[] model;
            try
            {
                model = ModelExport.ReadModel(file, config);
            }
            catch (CheckpointFormatException ex)
            {
                throw new ModelVerificationException($"the node's file does not have the layout of task {taskId}'s model spec: {ex.Message}");
            }
            string root = ModelExport.Root(model);
            if (root != chainRoot)
            {
                throw new ModelVerificationException($"refusing the download: the model root of the received tensors is {root}, but the chain's model root of task {taskId} at height {atHeight} is {chainRoot}");
            }
            return new LoadedModel(config, model, root, null, taskId, atHeight, (string?)status["chainId"]);
        }
        catch (HttpRequestException ex)
        {
            throw new InvalidOperationException($"cannot reach the node at {url}: {ex.Message}", ex);
        }
        catch (TaskCanceledException ex)
        {
            throw new InvalidOperationException($"the node at {url} did not answer in time", ex);
        }
        catch (RpcException ex)
        {
            throw new InvalidOperationException($"the node at {url} refused: {ex.Message}", ex);
        }
        catch (Exception ex) when (ex is System.Text.Json.JsonException or InvalidCastException or NullReferenceException or PotFormatException)
        {
            throw new InvalidOperationException($"the node at {url} gave a malformed answer: {ex.Message}", ex);
        }
    }

    private static JsonNode? Call(string url, string method, string[] args, CancellationToken cancellation) =>
        NodeCommands.CallAsync(url, method, args, cancellation).GetAwaiter().GetResult();

    private static byte[] GetBounded(string url, long maxBytes, CancellationToken cancellation)
    {
        using var response = Http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, cancellation).GetAwaiter().GetResult();
        using var stream = response.Content.ReadAsStream(cancellation);
        if (!response.IsSuccessStatusCode)
        {
            var buffer = new byte[64 * 1024];
            int n = 0;
            int r;
            while (n < buffer.Length && (r = stream.Read(buffer, n, buffer.Length - n)) > 0) n += r;
            string text = System.Text.Encoding.UTF8.GetString(buffer, 0, n);
            string message = text;
            try
            {
                message = (string?)JsonNode.Parse(text)?["error"] ?? text;
            }
            catch (System.Text.Json.JsonException)
            {
            }
            throw new InvalidOperationException($"the node answered {(int)response.StatusCode} {(response.StatusCode == HttpStatusCode.NotFound ? "not found" : response.ReasonPhrase)}: {message}");
        }
        if (response.Content.Headers.ContentLength > maxBytes)
        {
            throw new ModelVerificationException($"the node announces {response.Content.Headers.ContentLength} bytes; the model cannot exceed {maxBytes}");
        }
        using var memory = new MemoryStream();
        var chunk = new byte[1 << 16];
        int read;
        while ((read = stream.Read(chunk)) > 0)
        {
            if (memory.Length + read > maxBytes)
            {
                throw new ModelVerificationException($"the node sent more than {maxBytes} bytes; the model cannot be larger");
            }
            memory.Write(chunk, 0, read);
        }
        return memory.ToArray();
    }
}

/// <summary>A downloaded model failed verification (exit code 2).</summary>
internal sealed class ModelVerificationException(string message) : InvalidOperationException(message);

/// <summary>The model source options shared by <c>pot model export</c>, <c>pot eval</c> and <c>pot generate</c>.</summary>
internal sealed class ModelSourceOptions
{
    public Option<string?> Rpc { get; } = new("--rpc") { Description = "Node API base URL to download the model from (with --task), e.g. http://127.0.0.1:7200; the model is verified against the chain's model root." };
    public Option<ulong?> Task { get; } = new("--task") { Description = "Chain task id whose model to download (with --rpc)." };
    public Option<ulong?> Height { get; } = new("--height") { Description = "Chain height of the model (with --rpc; default: the node's head)." };
    public Option<string?> Checkpoint { get; }

    public ModelSourceOptions(string checkpointDescription) =>
        Checkpoint = new Option<string?>("--checkpoint") { Description = checkpointDescription };

    public void AddTo(Command command)
    {
        command.Options.Add(Checkpoint);
        command.Options.Add(Rpc);
        command.Options.Add(Task);
        command.Options.Add(Height);
    }

    /// <summary>True when the model comes from a node.</summary>
    public bool IsRemote(ParseResult r)
    {
        bool remote = r.GetValue(Rpc) is not null;
        bool local = r.GetValue(Checkpoint) is not null;
        if (remote == local)
        {
            throw new ArgumentException("give exactly one model source: --checkpoint DIR, or --rpc URL --task ID [--height H]");
        }
        if (remote && r.GetValue(Task) is null)
        {
            throw new ArgumentException("--rpc needs --task ID (the chain task whose model to download)");
        }
        if (!remote && (r.GetValue(Task) is not null || r.GetValue(Height) is not null))
        {
            throw new ArgumentException("--task and --height select a chain model and need --rpc URL; they cannot be used with --checkpoint");
        }
        return remote;
    }

    /// <summary>Downloads and verifies the model named by --rpc/--task/--height.</summary>
    public LoadedModel Download(ParseResult r) => ModelDownload.Fetch(r.GetValue(Rpc)!, r.GetValue(Task)!.Value, r.GetValue(Height));

    /// <summary>Loads the model from whichever source was given.</summary>
    public LoadedModel Load(ParseResult r)
    {
        if (IsRemote(r))
        {
            return Download(r);
        }
        var trainer = TrainingCheckpoint.Load(r.GetValue(Checkpoint)!);
        var p = trainer.Trainable.Parameters;
        var model = p.Values.Span[..(int)p.Count].ToArray();
        return new LoadedModel(trainer.Config, model, ModelExport.Root(model), trainer.Step, null, null, null);
    }
}

/// <summary><c>pot model download</c> and <c>pot model export</c> (docs/model-export.md).</summary>
public static class ModelCommands
{
    /// <summary>Creates <c>pot model</c>.</summary>
    /// <returns>The command.</returns>
    public static Command Create()
    {
        var model = new Command("model", "Get a task's trained model out of the chain: download it from a node (verified against the chain's model root) or export it as safetensors or GGUF.");
        model.Subcommands.Add(CreateDownload());
        model.Subcommands.Add(CreateExport());
        return model;
    }

    private static Command CreateDownload()
    {
        var rpc = new Option<string>("--rpc") { Description = "Node API base URL (its ApiListen), e.g. http://127.0.0.1:7200.", Required = true };
        var task = new Option<ulong>("--task") { Description = "Chain task id.", Required = true };
        var height = new Option<ulong?>("--height") { Description = "Chain height (default: the node's head)." };
        var output = new Option<string>("--out") { Description = "File to write (safetensors). Written only after verification, through a temporary file.", Required = true };
        var force = new Option<bool>("--force") { Description = "Overwrite --out if it exists." };
        var json = new Option<bool>("--json") { Description = "The last stdout line is one JSON object (taskId, height, modelRoot, file, bytes)." };
        var command = new Command("download", "Download a task's model at a height from a node as safetensors (nanoGPT tensor names). The model root is recomputed from the received tensors and must equal the chain's model root (pot_getModelRoot), and the tensors must have the layout of the task's model spec; otherwise nothing is written and the exit code is 2.")
        {
            rpc, task, height, output, force, json,
        };
        command.SetAction(r => CliErrors.Run(() =>
        {
            string path = CheckOutput(r.GetValue(output)!, r.GetValue(force));
            var loaded = ModelDownload.Fetch(r.GetValue(rpc)!, r.GetValue(task), r.GetValue(height));
            long bytes = WriteAtomically(path, s => ModelExport.WriteSafetensors(s, loaded.Config, loaded.Model, loaded.Provenance()));
            Report(r.GetValue(json), loaded, path, bytes, "safetensors", false);
            return 0;
        }));
        return command;
    }

    private static Command CreateExport()
    {
        var source = new ModelSourceOptions("Local checkpoint directory written by pot train --out (instead of --rpc).");
        var format = new Option<string>("--format") { Description = "Output format: safetensors (nanoGPT names, F32) or gguf (GGUF v3, gpt2 architecture names).", DefaultValueFactory = _ => "safetensors" };
        format.AcceptOnlyFromAmong("safetensors", "gguf");
        var q4 = new Option<bool>("--q4") { Description = "GGUF only: store each 2-D weight matrix whose rows are a multiple of 32 values as GGML Q4_0 (others stay F32)." };
        var output = new Option<string>("--out") { Description = "File to write (through a temporary file).", Required = true };
        var force = new Option<bool>("--force") { Description = "Overwrite --out if it exists." };
        var json = new Option<bool>("--json") { Description = "The last stdout line is one JSON object (modelRoot, file, bytes, format, q4, …)." };
        var command = new Command("export", "Export a model as safetensors or GGUF, from a node (--rpc URL --task ID [--height H]; downloaded and verified as by `pot model download`) or from a local checkpoint (--checkpoint DIR).")
        {
            format, q4, output, force, json,
        };
        source.AddTo(command);
        command.SetAction(r => CliErrors.Run(() =>
        {
            string fmt = r.GetValue(format)!;
            bool quantize = r.GetValue(q4);
            if (quantize && fmt != "gguf")
            {
                throw new ArgumentException("--q4 applies to --format gguf only (safetensors exports are F32)");
            }
            source.IsRemote(r);
            string path = CheckOutput(r.GetValue(output)!, r.GetValue(force));
            var loaded = source.Load(r);
            long bytes = WriteAtomically(path, s =>
            {
                if (fmt == "gguf")
                {
                    GgufExport.Write(s, loaded.Config, loaded.Model, quantize, loaded.Provenance());
                }
                else
                {
                    ModelExport.WriteSafetensors(s, loaded.Config, loaded.Model, loaded.Provenance());
                }
            });
            Report(r.GetValue(json), loaded, path, bytes, fmt, quantize);
            return 0;
        }));
        return command;
    }

    private static void Report(bool json, LoadedModel loaded, string path, long bytes, string format, bool q4)
    {
        var result = new JsonObject
        {
            ["task"] = loaded.Config.Task, ["taskId"] = loaded.TaskId, ["height"] = loaded.Height, ["modelRoot"] = loaded.Root,
            ["verified"] = loaded.TaskId is not null, ["parameters"] = loaded.Model.Length, ["format"] = format, ["q4"] = q4,
            ["file"] = Path.GetFullPath(path), ["bytes"] = bytes,
        };
        Console.WriteLine(json ? result.ToJsonString()
            : $"wrote {Path.GetFullPath(path)} ({bytes} bytes, {format}{(q4 ? " Q4_0" : "")}): {loaded.Config.Task} model, {loaded.Model.Length} parameters, root {loaded.Root}"
              + (loaded.TaskId is { } t ? $", task {t} at height {loaded.Height} (verified against the chain)" : ""));
    }

    /// <summary>Checks an output path before any work: its directory exists and it does not exist unless forced.</summary>
    private static string CheckOutput(string path, bool force)
    {
        string full = Path.GetFullPath(path);
        if (Directory.Exists(full))
        {
            throw new ArgumentException($"--out '{full}' is a directory; give a file name");
        }
        if (File.Exists(full) && !force)
        {
            throw new ArgumentException($"'{full}' already exists; pass --force to overwrite it");
        }
        string? dir = Path.GetDirectoryName(full);
        if (dir is not null && !Directory.Exists(dir))
        {
            throw new ArgumentException($"directory '{dir}' does not exist");
        }
        return full;
    }

    /// <summary>Writes through a temporary file in the same directory and renames it; the temporary file is removed on failure.</summary>
    private static long WriteAtomically(string path, Action<Stream> write)
    {
        string temp = path + "." + Guid.NewGuid().ToString("N")[..8] + ".tmp";
        try
        {
            long length;
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
                length = stream.Length;
            }
            File.Move(temp, path, overwrite: true);
            return length;
        }
        finally
        {
            if (File.Exists(temp))
            {
                File.Delete(temp);
            }
        }
    }
}
