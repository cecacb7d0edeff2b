using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Pot.Learning.Checkpoints;
using Pot.Learning.Training;

namespace Pot.Protocol.Tests;

public sealed class ModelSpecTests
{
    // Proves the model-spec rule of docs/model-export.md: engine task names, the "tiny" preset (white space ignored)
    // and a JSON training configuration resolve to their architectures; anything else is refused with a clear error.
    [Fact]
    public void ModelSpecsResolveToArchitecturesAndUnknownOnesAreRefused()
    {
        Assert.Equal(128, TaskModelSpec.Resolve(Encoding.UTF8.GetBytes("addition")).Gpt!.Embed);
        Assert.Equal(16, TaskModelSpec.Resolve(Encoding.UTF8.GetBytes(" tiny\n")).Gpt!.Embed);
        var json = JsonSerializer.Serialize(TrainingConfig.Default("addition3"));
        Assert.Equal(11, TaskModelSpec.Resolve(Encoding.UTF8.GetBytes(json)).Gpt!.BlockSize);
        Assert.Equal(256, TaskModelSpec.Resolve(Encoding.UTF8.GetBytes("fashion-mnist")).Mlp!.Hidden);
        Assert.Contains("names no known model", Assert.Throws<ArgumentException>(() => TaskModelSpec.Resolve(Encoding.UTF8.GetBytes("gpt-5"))).Message);
        Assert.Contains("not UTF-8", Assert.Throws<ArgumentException>(() => TaskModelSpec.Resolve([0xff, 0xfe, 0x00])).Message);
        Assert.Throws<ArgumentException>(() => TaskModelSpec.Resolve(Encoding.UTF8.GetBytes("{\"Task\":5}")));
        Assert.Throws<ArgumentException>(() => TaskModelSpec.Resolve(Encoding.UTF8.GetBytes("{\"Task\":\"no-such-task\"}")));
    }

    // Proves the MLP exports: safetensors round-trips to the same values and root (no lm_head), GGUF is written with
    // the pot-mlp architecture and 32-byte alignment, and the Q4 rule takes fc2.weight (rows of 256) but not fc1.weight (rows of 784).
    [Fact]
    public void MlpModelRoundTripsThroughSafetensorsAndGguf()
    {
        var config = TaskModelSpec.Resolve(Encoding.UTF8.GetBytes("fashion-mnist"));
        var layout = ModelExport.Layout(config);
        var model = new float[ModelExport.ParameterCount(layout)];
        for (int i = 0; i < model.Length; i++) model[i] = (float)Math.Cos(i * 0.001) * 0.1f;
        var stream = new MemoryStream();
        ModelExport.WriteSafetensors(stream, config, model);
        stream.Position = 0;
        var file = Safetensors.Read(stream);
        Assert.Equal(["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"], file.Tensors.Select(t => t.Name));
        Assert.Equal(model, ModelExport.ReadModel(file, config));
        Assert.Equal(ModelExport.Root(model), file.Metadata["pot.modelRoot"]);

        var gguf = new MemoryStream();
        GgufExport.Write(gguf, config, model, q4: true);
        byte[] bytes = gguf.ToArray();
        Assert.Equal(GgufExport.Magic, BinaryPrimitives.ReadUInt32LittleEndian(bytes));
        Assert.Equal(3u, BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(4)));
        Assert.Equal(4UL, BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(8)));
        Assert.Contains("pot-mlp", Encoding.UTF8.GetString(bytes));
        Assert.False(GgufExport.Quantizable([256, 784]));
        Assert.True(GgufExport.Quantizable([10, 256]));
        Assert.Equal(0, bytes.Length % GgufExport.Alignment);
    }

    // Proves ReadModel refuses files that do not have the spec's layout: a missing tensor, a wrong shape, an extra
    // tensor; and that a value count that does not fit the layout is refused when writing.
    [Fact]
    public void FilesWithoutTheSpecsLayoutAreRefused()
    {
        var config = TaskModelSpec.Resolve(Encoding.UTF8.GetBytes("tiny"));
        var layout = ModelExport.Layout(config);
        var model = new float[ModelExport.ParameterCount(layout)];
        var tensors = ModelExport.Tensors(config, model).Select(t => new SafetensorsTensor(t.Name, t.Shape, t.Data.ToArray())).ToList();
        var missing = new SafetensorsFile(tensors.Skip(1).ToList(), new Dictionary<string, string>());
        Assert.Contains("no tensor 'transformer.wte.weight'", Assert.Throws<CheckpointFormatException>(() => ModelExport.ReadModel(missing, config)).Message);
        var reshaped = tensors.Select(t => t.Name == "transformer.wpe.weight" ? new SafetensorsTensor(t.Name, [16, 8], t.Data) : t).ToList();
        Assert.Contains("has shape [16, 8]", Assert.Throws<CheckpointFormatException>(() => ModelExport.ReadModel(new SafetensorsFile(reshaped, new Dictionary<string, string>()), config)).Message);
        var extra = tensors.Append(new SafetensorsTensor("bonus", [1], [1f])).ToList();
        Assert.Contains("unexpected tensor 'bonus'", Assert.Throws<CheckpointFormatException>(() => ModelExport.ReadModel(new SafetensorsFile(extra, new Dictionary<string, string>()), config)).Message);
        Assert.Throws<ArgumentException>(() => ModelExport.Tensors(config, new float[model.Length - 1]));
    }
}
