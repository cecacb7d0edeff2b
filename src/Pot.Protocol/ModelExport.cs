using System.Text;
using System.Text.Json;
using Pot.Commitments;
using Pot.Learning.Checkpoints;
using Pot.Learning.Models;
using Pot.Learning.Training;

namespace Pot.Protocol;

/// <summary>
/// How a chain task's <c>modelSpec</c> bytes name the model architecture (docs/model-export.md): UTF-8 text that is
/// either a JSON <see cref="TrainingConfig"/> object (the form <c>pot.config</c> takes in checkpoints), the name of a
/// protocol preset (<c>tiny</c> = <see cref="ProtocolTask.Tiny"/>), or an engine task name (<c>addition</c>,
/// <c>addition3</c>, <c>kjv</c>, <c>fashion-mnist</c>: its documented default configuration). This is the rule the
/// protocol simulator follows (it writes the protocol task's id as the spec).
/// </summary>
public static class TaskModelSpec
{
    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = false };

    /// <summary>Resolves a model spec to the engine configuration whose parameter layout the task's model has.</summary>
    /// <param name="modelSpec">The chain's model spec bytes.</param>
    /// <returns>The resolved configuration (vocabulary filled in, validated).</returns>
    /// <exception cref="ArgumentException">The spec is not UTF-8, not a known name and not a valid configuration.</exception>
    public static TrainingConfig Resolve(ReadOnlySpan<byte> modelSpec)
    {
        string text;
        try
        {
            text = new UTF8Encoding(false, true).GetString(modelSpec).Trim();
        }
        catch (DecoderFallbackException)
        {
            throw new ArgumentException("model spec is not UTF-8 text; expected a task name or a JSON training configuration");
        }
        if (text.StartsWith('{'))
        {
            try
            {
                var config = JsonSerializer.Deserialize<TrainingConfig>(text, JsonOptions)
                    ?? throw new ArgumentException("model spec JSON is null");
                return Trainer.Resolve(config);
            }
            catch (Exception ex) when (ex is JsonException or NotSupportedException)
            {
                throw new ArgumentException($"model spec JSON is not a training configuration: {ex.Message}", ex);
            }
        }
        if (text == "tiny")
        {
            return Trainer.Resolve(ProtocolTask.Tiny().Training);
        }
        if (Pot.Learning.Data.Tasks.Names.Contains(text))
        {
            return Trainer.Resolve(TrainingConfig.Default(text));
        }
        string shown = text.Length > 80 ? text[..80] + "…" : text;
        throw new ArgumentException($"model spec '{shown}' names no known model; expected 'tiny', one of {string.Join(", ", Pot.Learning.Data.Tasks.Names)}, or a JSON training configuration");
    }
}

/// <summary>
/// Turns a flat model (the fp32 values the model commitment covers, canonical order) into named tensors and back,
/// and writes it as safetensors (nanoGPT / PyTorch names, the checkpoint writer) — docs/model-export.md.
/// </summary>
public static class ModelExport
{
    /// <summary>Value of the <c>pot.format</c> metadata key of an exported model file.</summary>
    public const string Format = "pot-model/1";

    /// <summary>Name of the tied output head written for GPT models so the file loads into nanoGPT unchanged.</summary>
    public const string TiedHead = "lm_head.weight";

    /// <summary>Largest model exported or downloaded: 2^28 floats (1 GiB of fp32).</summary>
    public const long MaxParameters = 1L << 28;

    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = false };

    /// <summary>The parameter tensors of a configuration's model: names and shapes in canonical order.</summary>
    /// <param name="config">A resolved configuration.</param>
    /// <returns>The layout.</returns>
    public static IReadOnlyList<(string Name, int[] Shape)> Layout(TrainingConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.Gpt is { } g)
        {
            return Gpt.ParameterNames(g).ToList();
        }
        var m = config.Mlp ?? throw new ArgumentException($"configuration of task {config.Task} has neither a GPT nor an MLP model");
        return [("fc1.weight", [m.Hidden, m.Inputs]), ("fc1.bias", [m.Hidden]), ("fc2.weight", [m.Classes, m.Hidden]), ("fc2.bias", [m.Classes])];
    }

    /// <summary>Number of values of a layout.</summary>
    /// <param name="layout">The layout.</param>
    /// <returns>Σ product(shape).</returns>
    public static long ParameterCount(IReadOnlyList<(string Name, int[] Shape)> layout)
    {
        ArgumentNullException.ThrowIfNull(layout);
        long total = 0;
        foreach (var (_, shape) in layout)
        {
            long n = 1;
            foreach (int d in shape)
            {
                n *= d;
            }
            total += n;
        }
        return total;
    }

    /// <summary>The model root (docs/commitments.md) of flat values, lower-case hex.</summary>
    /// <param name="model">Values in canonical order.</param>
    /// <returns>64 hex digits.</returns>
    public static string Root(float[] model) => Hex.Encode(ModelCommitment.ComputeRoot([model]));

    /// <summary>The named tensors of a flat model (views, no copy); GPT models get the tied <see cref="TiedHead"/> last.</summary>
    /// <param name="config">Resolved configuration.</param>
    /// <param name="model">Values in canonical order.</param>
    /// <returns>Name, shape, values.</returns>
    /// <exception cref="ArgumentException">The value count does not match the layout.</exception>
    public static List<(string Name, int[] Shape, ReadOnlyMemory<float> Data)> Tensors(TrainingConfig config, float[] model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var layout = Layout(config);
        long count = ParameterCount(layout);
        if (count != model.Length)
        {
            throw new ArgumentException($"model has {model.Length} values; the {config.Task} model's layout needs {count}");
        }
        var tensors = new List<(string, int[], ReadOnlyMemory<float>)>(layout.Count + 1);
        int offset = 0;
        foreach (var (name, shape) in layout)
        {
            int n = shape.Aggregate(1, (a, b) => a * b);
            tensors.Add((name, shape, model.AsMemory(offset, n)));
            offset += n;
        }
        if (config.Gpt is not null)
        {
            var wte = tensors[0];
            tensors.Add((TiedHead, wte.Item2, wte.Item3));
        }
        return tensors;
    }

    /// <summary>The metadata of an exported file: format, config JSON, model root, plus the given entries.</summary>
    /// <param name="config">Resolved configuration.</param>
    /// <param name="model">Values.</param>
    /// <param name="extra">Further entries (e.g. <c>pot.taskId</c>, <c>pot.height</c>), or null.</param>
    /// <returns>Sorted metadata.</returns>
    public static SortedDictionary<string, string> Metadata(TrainingConfig config, float[] model, IReadOnlyDictionary<string, string>? extra)
    {
        var meta = new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            ["pot.format"] = Format,
            ["pot.config"] = JsonSerializer.Serialize(config, JsonOptions),
            ["pot.modelRoot"] = Root(model),
        };
        foreach (var (k, v) in extra ?? new Dictionary<string, string>())
        {
            meta[k] = v;
        }
        return meta;
    }

    /// <summary>Writes a flat model as safetensors with the checkpoint writer (<see cref="Safetensors.Write(Stream, IReadOnlyList{ValueTuple{string, int[], ReadOnlyMemory{float}}}, IReadOnlyDictionary{string, string}?)"/>).</summary>
    /// <param name="stream">Destination.</param>
    /// <param name="config">Resolved configuration.</param>
    /// <param name="model">Values in canonical order.</param>
    /// <param name="extra">Extra metadata entries, or null.</param>
    public static void WriteSafetensors(Stream stream, TrainingConfig config, float[] model, IReadOnlyDictionary<string, string>? extra = null) =>
        Safetensors.Write(stream, Tensors(config, model), Metadata(config, model, extra));

    /// <summary>
    /// Reads the flat model back from a safetensors file against an expected layout: exactly the layout's tensors
    /// (plus, for GPT models, <see cref="TiedHead"/> equal bit for bit to <c>transformer.wte.weight</c>), each with
    /// the expected shape. Order in the file does not matter; the result is in canonical order.
    /// </summary>
    /// <param name="file">The parsed file.</param>
    /// <param name="config">Resolved configuration the tensors must match.</param>
    /// <returns>The values in canonical order.</returns>
    /// <exception cref="CheckpointFormatException">A tensor is missing, unexpected or mis-shaped.</exception>
    public static float[] ReadModel(SafetensorsFile file, TrainingConfig config)
    {
        ArgumentNullException.ThrowIfNull(file);
        var layout = Layout(config);
        long count = ParameterCount(layout);
        if (count > MaxParameters)
        {
            throw new CheckpointFormatException($"the {config.Task} model has {count} values; at most {MaxParameters} are supported");
        }
        var model = new float[count];
        int offset = 0;
        foreach (var (name, shape) in layout)
        {
            if (!file.TryGet(name, out var t))
            {
                throw new CheckpointFormatException($"model file has no tensor '{name}'");
            }
            if (!t!.Shape.SequenceEqual(shape))
            {
                throw new CheckpointFormatException($"tensor '{name}' has shape [{string.Join(", ", t.Shape)}], expected [{string.Join(", ", shape)}]");
            }
            t.Data.CopyTo(model, offset);
            offset += t.Data.Length;
        }
        var known = layout.Select(l => l.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var t in file.Tensors)
        {
            if (known.Contains(t.Name))
            {
                continue;
            }
            if (t.Name == TiedHead && config.Gpt is not null)
            {
                var wte = file.Get(layout[0].Name);
                if (!t.Shape.SequenceEqual(wte.Shape) || !Bits(t.Data).SequenceEqual(Bits(wte.Data)))
                {
                    throw new CheckpointFormatException($"'{TiedHead}' differs from '{layout[0].Name}'; the output head is tied to the token embedding");
                }
                continue;
            }
            throw new CheckpointFormatException($"unexpected tensor '{t.Name}' for a {config.Task} model");
        }
        return model;
    }

    private static ReadOnlySpan<uint> Bits(float[] values) => System.Runtime.InteropServices.MemoryMarshal.Cast<float, uint>(values.AsSpan());
}
