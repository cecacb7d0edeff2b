using Pot.Learning.Checkpoints;
using Pot.Learning.Kernels;
using Pot.Learning.Optim;
using Pot.Learning.Training;

namespace Pot.Learning.Tests;

/// <summary>Trainer, optimisers, checkpoints and the CLI's handling of user mistakes.</summary>
public sealed class TrainingTests : IDisposable
{
    private readonly string directory = Path.Combine(Path.GetTempPath(), "pot-tests-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(directory))
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static TrainingConfig Small(string optimizer = "adamw") =>
        TrainingConfig.Default("addition") with { Steps = 20, BatchSize = 8, Seed = 11, Optimizer = optimizer };

    private static void Run(Trainer trainer, int steps)
    {
        for (int i = 0; i < steps; i++)
        {
            trainer.TrainStep(new Parallelism(2));
        }
    }

    // Proves saving after 10 steps, loading and training 10 more gives exactly the bits of 20
    // uninterrupted steps, for every optimiser: the optimiser state is part of the training state.
    [Theory]
    [InlineData("adamw")]
    [InlineData("sgd")]
    [InlineData("sgd-momentum")]
    public void ResumeFromCheckpointIsBitExact(string optimizer)
    {
        var straight = Trainer.Create(Small(optimizer));
        Run(straight, 20);

        var first = Trainer.Create(Small(optimizer));
        Run(first, 10);
        TrainingCheckpoint.Save(directory, first);
        var resumed = TrainingCheckpoint.Load(directory);
        Assert.Equal(10, resumed.Step);
        Run(resumed, 10);

        Assert.Equal(Trainer.ModelRoot(straight.Trainable.Parameters), Trainer.ModelRoot(resumed.Trainable.Parameters));
    }

    // Proves the model file uses nanoGPT's names and shapes, including the tied lm_head.weight.
    [Fact]
    public void ModelFileUsesNanoGptNames()
    {
        var trainer = Trainer.Create(Small());
        TrainingCheckpoint.Save(directory, trainer);
        var file = Safetensors.Read(Path.Combine(directory, TrainingCheckpoint.ModelFile));
        var names = file.Tensors.Select(t => t.Name).ToList();
        Assert.Equal("transformer.wte.weight", names[0]);
        Assert.Contains("transformer.h.1.attn.c_attn.weight", names);
        Assert.Contains("transformer.h.0.mlp.c_proj.bias", names);
        Assert.Equal([384, 128], file.Get("transformer.h.0.attn.c_attn.weight").Shape);
        Assert.Equal(file.Get("transformer.wte.weight").Data, file.Get("lm_head.weight").Data);
        Assert.Equal("pot-checkpoint/1", file.Metadata["pot.format"]);
    }

    // Proves a checkpoint with a tensor of the wrong shape, a truncated file, or a missing optimiser
    // file is rejected with a clear CheckpointFormatException.
    [Fact]
    public void MalformedCheckpointsAreRejectedClearly()
    {
        var trainer = Trainer.Create(Small());
        TrainingCheckpoint.Save(directory, trainer);
        string model = Path.Combine(directory, TrainingCheckpoint.ModelFile);
        var file = Safetensors.Read(model);
        var wrong = file.Tensors.Select(t => t.Name == "transformer.ln_f.bias"
            ? (t.Name, new[] { 2, 64 }, (ReadOnlyMemory<float>)t.Data)
            : (t.Name, t.Shape, (ReadOnlyMemory<float>)t.Data)).ToList();
        using (var stream = File.Create(model))
        {
            Safetensors.Write(stream, wrong, new Dictionary<string, string>(file.Metadata));
        }

        var shape = Assert.Throws<CheckpointFormatException>(() => TrainingCheckpoint.Load(directory));
        Assert.Contains("'transformer.ln_f.bias' has shape [2, 64], expected [128]", shape.Message);

        TrainingCheckpoint.Save(directory, trainer);
        var bytes = File.ReadAllBytes(model);
        File.WriteAllBytes(model, bytes[..(bytes.Length / 2)]);
        Assert.Throws<CheckpointFormatException>(() => TrainingCheckpoint.Load(directory));

        TrainingCheckpoint.Save(directory, trainer);
        File.Delete(Path.Combine(directory, TrainingCheckpoint.OptimizerFile));
        Assert.Contains("optimizer.safetensors is missing", Assert.Throws<CheckpointFormatException>(() => TrainingCheckpoint.Load(directory)).Message);
    }

    // Proves a checkpoint whose parameters were altered after saving no longer matches its digest.
    [Fact]
    public void TamperedParametersFailTheDigest()
    {
        var trainer = Trainer.Create(Small());
        TrainingCheckpoint.Save(directory, trainer);
        string model = Path.Combine(directory, TrainingCheckpoint.ModelFile);
        var file = Safetensors.Read(model);
        file.Get("transformer.ln_f.weight").Data[0] += 1f;
        using (var stream = File.Create(model))
        {
            Safetensors.Write(stream, file);
        }

        Assert.Contains("do not match the stored model root", Assert.Throws<CheckpointFormatException>(() => TrainingCheckpoint.Load(directory)).Message);
    }

    // Proves AdamW's first step equals the closed form: with m̂ = g and v̂ = g², w moves by
    // lr·g/(|g|+ε) after decoupled decay.
    [Fact]
    public void AdamWFirstStepMatchesClosedForm()
    {
        var set = new Models.ParameterSet([("w", [3])]);
        float[] w0 = [1f, -2f, 0.5f];
        float[] g = [0.1f, -0.3f, 0f];
        w0.CopyTo(set.Values.Span);
        g.CopyTo(set.Gradients.Span);
        new AdamW(3, weightDecay: 0.1f).Step(set, 0.01f);
        for (int i = 0; i < 3; i++)
        {
            double expected = w0[i] * (1 - 0.01 * 0.1) - 0.01 * g[i] / (Math.Abs(g[i]) + 1e-8);
            Assert.Equal(expected, set.Values.Span[i], 6);
        }
    }

    // Proves clipping scales the gradient to the maximum norm and reports the norm before clipping.
    [Fact]
    public void ClippingScalesToMaxNorm()
    {
        var set = new Models.ParameterSet([("w", [37])]);
        var g = TestData.Normal(31, 37, std: 3f);
        g.CopyTo(set.Gradients.Span);
        double before = Math.Sqrt(g.Sum(v => (double)v * v));
        float reported = GradientClipping.Clip(set, 1f);
        Assert.Equal(before, reported, 4);
        Assert.Equal(1.0, Math.Sqrt(set.Gradients.Array.Sum(v => (double)v * v)), 4);
    }

    // Proves training lowers the loss: 150 steps of the default task drop the validation loss far
    // below its starting value (ln 12 ≈ 2.48 for a uniform guess).
    [Fact]
    public void TrainingLowersValidationLoss()
    {
        var trainer = Trainer.Create(TrainingConfig.Default("addition") with { Steps = 150 });
        var par = new Parallelism(2);
        double before = trainer.Trainable.Evaluate(par, maxBatches: 4).ValidationLoss;
        Run(trainer, 150);
        double after = trainer.Trainable.Evaluate(par, maxBatches: 4).ValidationLoss;
        Assert.InRange(before, 2.2, 2.8);
        Assert.True(after < 1.7, $"validation loss {after} after 150 steps");
    }

    // Proves the CLI turns user mistakes into one clear line and exit code 2, never a stack trace.
    [Theory]
    [InlineData(new[] { "train", "--task", "sudoku" }, "unknown task 'sudoku'")]
    [InlineData(new[] { "train", "--task", "addition", "--batch-size", "0" }, "batch size 0 must be in [1, 65536]")]
    [InlineData(new[] { "eval", "--checkpoint", "/nonexistent/dir" }, "model.safetensors is missing")]
    [InlineData(new[] { "train", "--task", "addition", "--optimizer", "lion" }, "unknown optimizer 'lion'")]
    public void CliReportsUserErrorsClearly(string[] args, string message)
    {
        var (code, _, stderr) = ChildProcess.RunPot(args);
        Assert.Equal(2, code);
        Assert.Contains(message, stderr);
        Assert.DoesNotContain("   at ", stderr);
    }

    // Proves train --out, eval and generate work end to end on a saved checkpoint.
    [Fact]
    public void TrainEvalGenerateEndToEnd()
    {
        var (code, stdout, stderr) = ChildProcess.RunPot(["train", "--task", "addition", "--steps", "30", "--batch-size", "16", "--json", "--out", directory]);
        Assert.True(code == 0, stderr);
        var trained = ChildProcess.LastJsonLine(stdout);
        (code, stdout, stderr) = ChildProcess.RunPot(["eval", "--checkpoint", directory, "--json"]);
        Assert.True(code == 0, stderr);
        var evaluated = ChildProcess.LastJsonLine(stdout);
        Assert.Equal(trained["modelRoot"]!.GetValue<string>(), evaluated["modelRoot"]!.GetValue<string>());
        Assert.Equal(trained["valLoss"]!.GetValue<double>(), evaluated["valLoss"]!.GetValue<double>());
        (code, stdout, stderr) = ChildProcess.RunPot(["generate", "--checkpoint", directory, "--prompt", "12+34=", "--json"]);
        Assert.True(code == 0, stderr);
        var generated = ChildProcess.LastJsonLine(stdout);
        Assert.Equal(3, generated["completion"]!.GetValue<string>().Length);
        (code, _, stderr) = ChildProcess.RunPot(["generate", "--checkpoint", directory, "--prompt", "12*34="]);
        Assert.Equal(2, code);
        Assert.StartsWith("error: ", stderr);
    }
}
