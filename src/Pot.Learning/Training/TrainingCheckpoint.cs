using System.Globalization;
using System.Text.Json;
using Pot.Learning.Checkpoints;
using Pot.Learning.Models;

namespace Pot.Learning.Training;

/// <summary>
/// Saves and loads a training state as two safetensors files in a directory:
/// <c>model.safetensors</c> (parameters under their nanoGPT / PyTorch names, plus
/// <c>lm_head.weight</c> for GPT models so the file loads into nanoGPT unchanged) and
/// <c>optimizer.safetensors</c> (each optimiser state buffer per parameter, named
/// <c>{state}.{parameter}</c>). Metadata keys: <c>pot.format</c>, <c>pot.config</c> (JSON),
/// <c>pot.step</c>, <c>pot.modelRoot</c>, <c>pot.optimizer</c>, <c>pot.optimizer.step</c>.
/// </summary>
public static class TrainingCheckpoint
{
    /// <summary>Format tag written to and required in <c>pot.format</c>.</summary>
    public const string Format = "pot-checkpoint/1";

    /// <summary>Model file name.</summary>
    public const string ModelFile = "model.safetensors";

    /// <summary>Optimiser file name.</summary>
    public const string OptimizerFile = "optimizer.safetensors";

    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = false };

    /// <summary>Writes the trainer's state into <paramref name="directory"/> (created if needed).</summary>
    /// <param name="directory">Target directory.</param>
    /// <param name="trainer">The trainer.</param>
    public static void Save(string directory, Trainer trainer)
    {
        Directory.CreateDirectory(directory);
        var p = trainer.Trainable.Parameters;
        var meta = new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            ["pot.format"] = Format,
            ["pot.config"] = JsonSerializer.Serialize(trainer.Config, JsonOptions),
            ["pot.step"] = trainer.Step.ToString(CultureInfo.InvariantCulture),
            ["pot.modelRoot"] = Trainer.ModelRoot(p),
        };
        var tensors = p.Tensors.Select(t => (t.Name, t.Shape, (ReadOnlyMemory<float>)p.Values.Array.AsMemory((int)t.Offset, (int)t.Length))).ToList();
        if (trainer.Trainable is TokenTrainable)
        {
            var wte = p["transformer.wte.weight"];
            tensors.Add(("lm_head.weight", wte.Shape, p.Values.Array.AsMemory((int)wte.Offset, (int)wte.Length)));
        }

        WriteAtomically(Path.Combine(directory, ModelFile), s => Safetensors.Write(s, tensors, meta));

        var optMeta = new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            ["pot.format"] = Format,
            ["pot.optimizer"] = trainer.Optimizer.Name,
            ["pot.optimizer.step"] = trainer.Optimizer.StepCount.ToString(CultureInfo.InvariantCulture),
        };
        var state = new List<(string, int[], ReadOnlyMemory<float>)>();
        foreach (var (name, buffer) in trainer.Optimizer.State)
        {
            foreach (var t in p.Tensors)
            {
                state.Add(($"{name}.{t.Name}", t.Shape, buffer.Array.AsMemory((int)t.Offset, (int)t.Length)));
            }
        }

        WriteAtomically(Path.Combine(directory, OptimizerFile), s => Safetensors.Write(s, state, optMeta));
    }

    /// <summary>
    /// Loads a trainer from <paramref name="directory"/>. Every tensor must be present with the
    /// shape the stored config implies, and nothing else may be present.
    /// </summary>
    /// <param name="directory">A directory written by <see cref="Save"/>.</param>
    /// <returns>The trainer, positioned at the stored step.</returns>
    /// <exception cref="CheckpointFormatException">The files are missing, malformed or inconsistent.</exception>
    public static Trainer Load(string directory)
    {
        string modelPath = Path.Combine(directory, ModelFile);
        if (!File.Exists(modelPath))
        {
            throw new CheckpointFormatException($"no checkpoint at {directory}: {ModelFile} is missing");
        }

        var model = Safetensors.Read(modelPath);
        if (!model.Metadata.TryGetValue("pot.format", out var format) || format != Format)
        {
            throw new CheckpointFormatException($"{modelPath}: metadata pot.format is '{format}', expected '{Format}'");
        }

        TrainingConfig config;
        try
        {
            config = JsonSerializer.Deserialize<TrainingConfig>(model.Metadata.GetValueOrDefault("pot.config", ""), JsonOptions)
                ?? throw new CheckpointFormatException($"{modelPath}: metadata pot.config is empty");
            config = Trainer.Resolve(config);
        }
        catch (Exception ex) when (ex is JsonException or ArgumentException or NotSupportedException)
        {
            throw new CheckpointFormatException($"{modelPath}: metadata pot.config is invalid: {ex.Message}", ex);
        }

        if (!int.TryParse(model.Metadata.GetValueOrDefault("pot.step"), NumberStyles.None, CultureInfo.InvariantCulture, out int step))
        {
            throw new CheckpointFormatException($"{modelPath}: metadata pot.step is missing or not a non-negative integer");
        }

        var trainer = Trainer.Create(config);
        trainer.Step = step;
        var p = trainer.Trainable.Parameters;
        var expected = p.Tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var tensor in model.Tensors)
        {
            if (tensor.Name == "lm_head.weight" && trainer.Trainable is TokenTrainable)
            {
                continue;
            }

            if (!expected.TryGetValue(tensor.Name, out var layout))
            {
                throw new CheckpointFormatException($"{modelPath}: unexpected tensor '{tensor.Name}' for a {config.Task} model");
            }

            CheckShape(modelPath, tensor, layout);
            tensor.Data.CopyTo(p.ValuesOf(layout));
            seen.Add(tensor.Name);
        }

        var missing = expected.Keys.Where(k => !seen.Contains(k)).ToList();
        if (missing.Count > 0)
        {
            throw new CheckpointFormatException($"{modelPath}: missing tensors {string.Join(", ", missing)}");
        }

        if (model.Metadata.TryGetValue("pot.modelRoot", out var storedRoot) && storedRoot != Trainer.ModelRoot(p))
        {
            throw new CheckpointFormatException($"{modelPath}: parameters do not match the stored model root {storedRoot}");
        }

        LoadOptimizer(Path.Combine(directory, OptimizerFile), trainer, expected);
        return trainer;
    }

    private static void LoadOptimizer(string path, Trainer trainer, Dictionary<string, ParameterTensor> expected)
    {
        if (!File.Exists(path))
        {
            throw new CheckpointFormatException($"{path} is missing (the optimiser state is part of the training state)");
        }

        var file = Safetensors.Read(path);
        if (file.Metadata.GetValueOrDefault("pot.optimizer") != trainer.Optimizer.Name)
        {
            throw new CheckpointFormatException($"{path}: optimizer '{file.Metadata.GetValueOrDefault("pot.optimizer")}' does not match the config's '{trainer.Optimizer.Name}'");
        }

        if (!long.TryParse(file.Metadata.GetValueOrDefault("pot.optimizer.step"), NumberStyles.None, CultureInfo.InvariantCulture, out long optimizerStep))
        {
            throw new CheckpointFormatException($"{path}: metadata pot.optimizer.step is missing or invalid");
        }

        trainer.Optimizer.StepCount = optimizerStep;
        var buffers = trainer.Optimizer.State.ToDictionary(s => s.Name, s => s.Buffer, StringComparer.Ordinal);
        int count = 0;
        foreach (var tensor in file.Tensors)
        {
            int dot = tensor.Name.IndexOf('.', StringComparison.Ordinal);
            if (dot < 0 || !buffers.TryGetValue(tensor.Name[..dot], out var buffer) || !expected.TryGetValue(tensor.Name[(dot + 1)..], out var layout))
            {
                throw new CheckpointFormatException($"{path}: unexpected optimizer tensor '{tensor.Name}'");
            }

            CheckShape(path, tensor, layout);
            tensor.Data.CopyTo(buffer.Span.Slice((int)layout.Offset, (int)layout.Length));
            count++;
        }

        if (count != buffers.Count * expected.Count)
        {
            throw new CheckpointFormatException($"{path}: has {count} state tensors, expected {buffers.Count * expected.Count}");
        }
    }

    private static void CheckShape(string path, SafetensorsTensor tensor, ParameterTensor layout)
    {
        if (!tensor.Shape.SequenceEqual(layout.Shape))
        {
            throw new CheckpointFormatException($"{path}: tensor '{tensor.Name}' has shape [{string.Join(", ", tensor.Shape)}], expected [{string.Join(", ", layout.Shape)}]");
        }
    }

    private static void WriteAtomically(string path, Action<Stream> write)
    {
        string temp = path + ".tmp";
        using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            write(stream);
            stream.Flush(flushToDisk: true);
        }

        File.Move(temp, path, overwrite: true);
    }
}
