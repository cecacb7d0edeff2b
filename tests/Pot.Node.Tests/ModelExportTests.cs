using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Pot.Chain.Transactions;
using Pot.Commitments;
using Pot.Commitments.Quantization;
using Pot.Learning.Training;
using Pot.Protocol;
using Pot.Storage;

namespace Pot.Node.Tests;

/// <summary>
/// A four-validator network whose chain has one task (model spec "tiny") created by a CreateTask transaction.
/// Node 0 holds the task's initial model blob under its root; node 1's chunk store binds that root to a different
/// model's bytes (an altered store); node 2 does not hold the model.
/// </summary>
public sealed class ModelNodeFixture : IAsyncLifetime
{
    public TestNetwork Net { get; } = new(4);
    public float[] Model { get; private set; } = [];
    public string Root { get; private set; } = "";
    public ulong CreatedAt { get; private set; }
    public TrainingConfig Config { get; } = Trainer.Resolve(ProtocolTask.Tiny().Training);
    public string Api => Net.Nodes[0].ApiUrl;
    public string AlteredApi => Net.Nodes[1].ApiUrl;
    public string LackingApi => Net.Nodes[2].ApiUrl;

    public static float[] TinyModel(ulong seed)
    {
        var trainer = Trainer.Create(ProtocolTask.Tiny().Training with { Seed = seed });
        var values = trainer.Trainable.Parameters.Values.Span[..(int)trainer.Trainable.Parameters.Count].ToArray();
        // Make biases and LayerNorm weights distinct too (they start at 0 and 1).
        for (int i = 0; i < values.Length; i++) values[i] += (float)Math.Sin(i * 0.37 + seed) * 0.01f;
        return values;
    }

    public async Task InitializeAsync()
    {
        Model = TinyModel(7);
        byte[] root = ModelCommitment.ComputeRoot([Model]);
        Root = Hex.Encode(root);
        void Store(int node, byte[] blob)
        {
            string dir = Path.Combine(Net.Nodes[node].DataDir, "chunks");
            Directory.CreateDirectory(dir);
            using var store = ChunkStore.Open(dir);
            store.PutNamed(root, blob);
        }
        Store(0, ModelBlobs.Encode(Model));
        Store(1, ModelBlobs.Encode(TinyModel(10)));
        await Net.StartAllAsync();
        using var owner = Net.Key(0);
        var payload = new CreateTaskPayload(Encoding.UTF8.GetBytes("tiny"), SHA256.HashData(Encoding.UTF8.GetBytes("dataset")), root, 1,
            [], new VerificationParameters(1, 1, 1, BitConverter.SingleToUInt32Bits(0f), 2), 1000, 1000);
        var tx = Transaction.Create("pot-devnet", owner, 0, 100_000, payload);
        await Net.RpcAsync(0, "pot_sendTransaction", Hex.Encode(tx.Encode()));
        var ids = new List<string> { Hex.Encode(tx.Hash) };
        for (var deadline = DateTime.UtcNow.AddSeconds(60); ; await Task.Delay(100))
        {
            bool all = true;
            for (int i = 0; i < 3; i++)
            {
                using var response = await Net.Http.GetAsync(Net.Nodes[i].ApiUrl + "/api/task/0");
                all &= response.IsSuccessStatusCode;
            }
            if (all) break;
            if (DateTime.UtcNow > deadline)
            {
                var states = new List<string> { (await Net.GetAsync(0, "/api/status")).ToJsonString() };
                foreach (var id in ids) states.Add((await Net.GetAsync(0, "/api/tx/" + id)).ToJsonString());
                throw new TimeoutException("the CreateTask transaction was not committed in 60 s: " + string.Join("; ", states));
            }
        }
        var at = (JsonObject)(await Net.RpcAsync(0, "pot_getModelRoot", "0"))!;
        Assert.Equal(Root, (string)at["modelRoot"]!);
        CreatedAt = (ulong)at["setAtHeight"]!;
    }

    public async Task DisposeAsync() => await Net.DisposeAsync();
}

/// <summary>The model-out path: node route, pot model download/export, eval/generate from the chain (docs/model-export.md).</summary>
public sealed class ModelExportTests(ModelNodeFixture node) : IClassFixture<ModelNodeFixture>
{
    // ---- a plain safetensors reader (8-byte LE header length, JSON header, raw little-endian data) ----

    private sealed record StTensor(string Dtype, long[] Shape, float[] Values);

    private static (Dictionary<string, StTensor> Tensors, Dictionary<string, string> Meta) ReadSafetensors(byte[] file)
    {
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(file);
        Assert.True(n <= (ulong)file.Length - 8);
        using var doc = JsonDocument.Parse(file.AsMemory(8, (int)n));
        int dataStart = 8 + (int)n;
        var tensors = new Dictionary<string, StTensor>();
        var meta = new Dictionary<string, string>();
        long covered = 0;
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            if (p.Name == "__metadata__")
            {
                foreach (var m in p.Value.EnumerateObject()) meta[m.Name] = m.Value.GetString()!;
                continue;
            }
            var offsets = p.Value.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            var shape = p.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            var values = new float[(offsets[1] - offsets[0]) / 4];
            for (int i = 0; i < values.Length; i++) values[i] = BinaryPrimitives.ReadSingleLittleEndian(file.AsSpan(dataStart + (int)offsets[0] + 4 * i));
            Assert.Equal(shape.Aggregate(1L, (a, b) => a * b), values.Length);
            covered += offsets[1] - offsets[0];
            tensors[p.Name] = new StTensor(p.Value.GetProperty("dtype").GetString()!, shape, values);
        }
        Assert.Equal(file.Length - dataStart, covered);
        return (tensors, meta);
    }

    // The tiny model's nanoGPT layout, written out independently of the engine.
    private static readonly (string Name, long[] Shape)[] TinyLayout =
    [
        ("transformer.wte.weight", [12, 16]), ("transformer.wpe.weight", [8, 16]),
        ("transformer.h.0.ln_1.weight", [16]), ("transformer.h.0.ln_1.bias", [16]),
        ("transformer.h.0.attn.c_attn.weight", [48, 16]), ("transformer.h.0.attn.c_attn.bias", [48]),
        ("transformer.h.0.attn.c_proj.weight", [16, 16]), ("transformer.h.0.attn.c_proj.bias", [16]),
        ("transformer.h.0.ln_2.weight", [16]), ("transformer.h.0.ln_2.bias", [16]),
        ("transformer.h.0.mlp.c_fc.weight", [64, 16]), ("transformer.h.0.mlp.c_fc.bias", [64]),
        ("transformer.h.0.mlp.c_proj.weight", [16, 64]), ("transformer.h.0.mlp.c_proj.bias", [16]),
        ("transformer.ln_f.weight", [16]), ("transformer.ln_f.bias", [16]),
    ];

    private static readonly string[] TinyGgufNames =
    [
        "token_embd.weight", "position_embd.weight", "blk.0.attn_norm.weight", "blk.0.attn_norm.bias", "blk.0.attn_qkv.weight",
        "blk.0.attn_qkv.bias", "blk.0.attn_output.weight", "blk.0.attn_output.bias", "blk.0.ffn_norm.weight", "blk.0.ffn_norm.bias",
        "blk.0.ffn_up.weight", "blk.0.ffn_up.bias", "blk.0.ffn_down.weight", "blk.0.ffn_down.bias", "output_norm.weight", "output_norm.bias",
    ];

    private static Dictionary<string, float[]> Split(float[] model, (string Name, long[] Shape)[] layout)
    {
        var result = new Dictionary<string, float[]>();
        int offset = 0;
        foreach (var (name, shape) in layout)
        {
            int count = (int)shape.Aggregate(1L, (a, b) => a * b);
            result[name] = model.AsSpan(offset, count).ToArray();
            offset += count;
        }
        Assert.Equal(model.Length, offset);
        return result;
    }

    private static void AssertSafetensorsHoldModel(byte[] file, float[] model, string root)
    {
        var (tensors, meta) = ReadSafetensors(file);
        Assert.Equal(TinyLayout.Length + 1, tensors.Count);
        var expected = Split(model, TinyLayout);
        foreach (var (name, shape) in TinyLayout)
        {
            Assert.Equal("F32", tensors[name].Dtype);
            Assert.Equal(shape, tensors[name].Shape);
            Assert.Equal(expected[name], tensors[name].Values);
        }
        Assert.Equal(expected["transformer.wte.weight"], tensors["lm_head.weight"].Values);
        // The root recomputed from the file's tensors in canonical order is the chain's root.
        var flat = TinyLayout.SelectMany(l => tensors[l.Name].Values).ToArray();
        Assert.Equal(root, Hex.Encode(ModelCommitment.ComputeRoot([flat])));
        Assert.Equal(root, meta["pot.modelRoot"]);
        Assert.Equal("pot-model/1", meta["pot.format"]);
    }

    // ---- a GGUF reader written from the public GGUF v3 description ----

    private sealed record GgufTensor(string Name, ulong[] Dims, uint Type, ulong Offset, byte[] Data);

    private sealed class Gguf
    {
        public uint Version;
        public Dictionary<string, object> Kv = new();
        public List<GgufTensor> Tensors = new();
        public long DataStart;
    }

    private static Gguf ReadGguf(byte[] file)
    {
        int pos = 0;
        uint U32() { uint v = BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(pos)); pos += 4; return v; }
        ulong U64() { ulong v = BinaryPrimitives.ReadUInt64LittleEndian(file.AsSpan(pos)); pos += 8; return v; }
        string Str() { int n = checked((int)U64()); string s = Encoding.UTF8.GetString(file, pos, n); pos += n; return s; }
        object Value(uint type)
        {
            switch (type)
            {
                case 0: return file[pos++];
                case 1: return (sbyte)file[pos++];
                case 2: { var v = BinaryPrimitives.ReadUInt16LittleEndian(file.AsSpan(pos)); pos += 2; return v; }
                case 3: { var v = BinaryPrimitives.ReadInt16LittleEndian(file.AsSpan(pos)); pos += 2; return v; }
                case 4: return U32();
                case 5: return (int)U32();
                case 6: { var v = BinaryPrimitives.ReadSingleLittleEndian(file.AsSpan(pos)); pos += 4; return v; }
                case 7: return file[pos++] != 0;
                case 8: return Str();
                case 9: { uint t = U32(); ulong n = U64(); var list = new List<object>(); for (ulong i = 0; i < n; i++) list.Add(Value(t)); return list; }
                case 10: return U64();
                case 11: return (long)U64();
                case 12: { var v = BinaryPrimitives.ReadDoubleLittleEndian(file.AsSpan(pos)); pos += 8; return v; }
                default: throw new InvalidDataException($"unknown GGUF value type {type}");
            }
        }
        var g = new Gguf();
        Assert.Equal("GGUF", Encoding.ASCII.GetString(file, 0, 4));
        pos = 4;
        g.Version = U32();
        ulong tensorCount = U64();
        ulong kvCount = U64();
        for (ulong i = 0; i < kvCount; i++)
        {
            string key = Str();
            Assert.False(g.Kv.ContainsKey(key), $"duplicate key {key}");
            g.Kv[key] = Value(U32());
        }
        var infos = new List<(string, ulong[], uint, ulong)>();
        for (ulong i = 0; i < tensorCount; i++)
        {
            string name = Str();
            uint nd = U32();
            var dims = new ulong[nd];
            for (int d = 0; d < nd; d++) dims[d] = U64();
            infos.Add((name, dims, U32(), U64()));
        }
        long alignment = g.Kv.TryGetValue("general.alignment", out var a) ? (uint)a : 32;
        g.DataStart = (pos + alignment - 1) / alignment * alignment;
        Assert.All(file.AsSpan(pos, (int)(g.DataStart - pos)).ToArray(), b => Assert.Equal(0, b));
        long previousEnd = 0;
        foreach (var (name, dims, type, offset) in infos)
        {
            Assert.Equal(0UL, offset % (ulong)alignment);
            ulong elements = dims.Aggregate(1UL, (x, y) => x * y);
            long size = type switch
            {
                0 => (long)elements * 4,
                2 => (long)elements / 32 * 18,
                _ => throw new InvalidDataException($"tensor {name}: unexpected type {type}"),
            };
            if (type == 2) Assert.Equal(0UL, dims[0] % 32);
            Assert.True((long)offset >= previousEnd, $"tensor {name} overlaps the previous one");
            Assert.True(g.DataStart + (long)offset + size <= file.Length, $"tensor {name} runs past the end");
            previousEnd = (long)offset + size;
            g.Tensors.Add(new GgufTensor(name, dims, type, offset, file.AsSpan((int)(g.DataStart + (long)offset), (int)size).ToArray()));
        }
        return g;
    }

    // GGML Q4_0 dequantization from its description: per 18-byte block an fp16 scale d, then 16 bytes whose low
    // nibbles are elements 0..15 and high nibbles elements 16..31; x = (q − 8)·d.
    private static float[] DequantizeQ4(byte[] data)
    {
        var result = new float[data.Length / 18 * 32];
        for (int b = 0; b < data.Length / 18; b++)
        {
            float d = (float)BitConverter.UInt16BitsToHalf(BinaryPrimitives.ReadUInt16LittleEndian(data.AsSpan(b * 18)));
            for (int j = 0; j < 16; j++)
            {
                byte q = data[b * 18 + 2 + j];
                result[b * 32 + j] = ((q & 0x0F) - 8) * d;
                result[b * 32 + j + 16] = ((q >> 4) - 8) * d;
            }
        }
        return result;
    }

    private static float[] F32(byte[] data)
    {
        var v = new float[data.Length / 4];
        for (int i = 0; i < v.Length; i++) v[i] = BinaryPrimitives.ReadSingleLittleEndian(data.AsSpan(4 * i));
        return v;
    }

    private static void AssertGgufHoldsModel(Gguf g, Dictionary<string, float[]> expected, string[] ggufNames, (string Name, long[] Shape)[] layout, bool q4)
    {
        Assert.Equal(3u, g.Version);
        Assert.Equal("gpt2", g.Kv["general.architecture"]);
        Assert.Equal(32u, g.Kv["general.alignment"]);
        Assert.Equal(layout.Length, g.Tensors.Count);
        int quantized = 0;
        for (int i = 0; i < layout.Length; i++)
        {
            var t = g.Tensors.Single(x => x.Name == ggufNames[i]);
            Assert.Equal(layout[i].Shape.Reverse().Select(d => (ulong)d), t.Dims);
            float[] values = expected[layout[i].Name];
            bool shouldQuantize = q4 && layout[i].Shape.Length == 2 && layout[i].Shape[1] % 32 == 0;
            if (shouldQuantize)
            {
                quantized++;
                Assert.Equal(2u, t.Type);
                var codec = new byte[values.Length / 32 * 18];
                Q4Codec.QuantizeBlocks(values, codec);
                Assert.Equal(codec, t.Data);
                var codecValues = new float[values.Length];
                Q4Codec.DequantizeBlocks(codec, codecValues);
                Assert.Equal(codecValues, DequantizeQ4(t.Data));
                Assert.True(DequantizeQ4(t.Data).Zip(values).All(p => Math.Abs(p.First - p.Second) <= 0.05f + Math.Abs(p.Second) * 0.2f));
            }
            else
            {
                Assert.Equal(0u, t.Type);
                Assert.Equal(values, F32(t.Data));
            }
        }
        Assert.Equal(q4 ? 2u : 0u, g.Kv["general.file_type"]);
        if (q4) Assert.True(quantized > 0);
    }

    // ---- helpers ----

    private static (int Exit, string Out, string Err) Pot(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "pot.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(120_000))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException("pot " + string.Join(' ', args) + " did not finish in 120 s");
        }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    private static JsonObject LastJson(string stdout) => (JsonObject)JsonNode.Parse(stdout.Trim().Split('\n')[^1])!;

    private string TempDir()
    {
        string dir = Path.Combine(node.Net.Directory, "out-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        return dir;
    }

    // ---- tests ----

    // Proves GET /api/task/{id}/model serves the chain's model as safetensors with nanoGPT names and shapes, the
    // values of the stored blob, the tied lm_head, and a root equal to the chain's (headers too), at the head and
    // at an explicit height; below the task's creation height there is no model (404).
    [Fact]
    public async Task NodeServesTheTaskModelAsSafetensorsMatchingTheChainRoot()
    {
        using var head = await node.Net.Http.GetAsync(node.Api + "/api/task/0/model");
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.Equal("application/octet-stream", head.Content.Headers.ContentType!.MediaType);
        Assert.Equal(node.Root, head.Headers.GetValues("X-Pot-Model-Root").Single());
        byte[] file = await head.Content.ReadAsByteArrayAsync();
        AssertSafetensorsHoldModel(file, node.Model, node.Root);
        Assert.Equal("0", ReadSafetensors(file).Meta["pot.taskId"]);

        using var at = await node.Net.Http.GetAsync(node.Api + $"/api/task/0/model?height={node.CreatedAt}");
        Assert.Equal(HttpStatusCode.OK, at.StatusCode);
        AssertSafetensorsHoldModel(await at.Content.ReadAsByteArrayAsync(), node.Model, node.Root);

        using var before = await node.Net.Http.GetAsync(node.Api + $"/api/task/0/model?height={node.CreatedAt - 1}");
        Assert.Equal(HttpStatusCode.NotFound, before.StatusCode);
        Assert.Contains("did not exist", await before.Content.ReadAsStringAsync());
    }

    // Proves a node refuses, with a JSON error naming the problem, a model whose blob under the root does not hash
    // to it (node 1), a model it does not hold (node 2), an unknown task, a malformed id or height, and a height above the head.
    [Fact]
    public async Task NodeRefusesModelsItDoesNotHoldOrWhoseBlobDoesNotMatch()
    {
        async Task<(HttpStatusCode, string)> Get(string path, string? api = null)
        {
            using var r = await node.Net.Http.GetAsync((api ?? node.Api) + path);
            string body = await r.Content.ReadAsStringAsync();
            return (r.StatusCode, (string)JsonNode.Parse(body)!["error"]!);
        }
        var (s1, e1) = await Get("/api/task/0/model", node.AlteredApi);
        Assert.Equal(HttpStatusCode.NotFound, s1);
        Assert.Contains("does not hash to that root", e1);
        var (s2, e2) = await Get("/api/task/0/model", node.LackingApi);
        Assert.Equal(HttpStatusCode.NotFound, s2);
        Assert.Contains("does not hold", e2);
        var (s3, e3) = await Get("/api/task/99/model");
        Assert.Equal(HttpStatusCode.NotFound, s3);
        Assert.Contains("no task 99", e3);
        var (s4, e4) = await Get("/api/task/abc/model");
        Assert.Equal(HttpStatusCode.BadRequest, s4);
        Assert.Contains("not a non-negative integer", e4);
        var (s5, _) = await Get("/api/task/0/model?height=-1");
        Assert.Equal(HttpStatusCode.BadRequest, s5);
        var (s6, e6) = await Get("/api/task/0/model?height=999999");
        Assert.Equal(HttpStatusCode.NotFound, s6);
        Assert.Contains("above the head", e6);
    }

    // Proves `pot model download` writes the verified model (same tensors, root = chain root), and `pot eval` and
    // `pot generate` run on a chain task's model given by --rpc/--task/--height.
    [Fact]
    public void DownloadWritesTheVerifiedModelAndEvalGenerateUseTheChainModel()
    {
        string dir = TempDir();
        string file = Path.Combine(dir, "model.safetensors");
        var (exit, stdout, stderr) = Pot("model", "download", "--rpc", node.Api, "--task", "0", "--out", file, "--json");
        Assert.True(exit == 0, $"exit {exit}: {stderr}");
        var report = LastJson(stdout);
        Assert.Equal(node.Root, (string)report["modelRoot"]!);
        Assert.True((bool)report["verified"]!);
        AssertSafetensorsHoldModel(File.ReadAllBytes(file), node.Model, node.Root);
        Assert.Single(Directory.GetFiles(dir));

        (exit, stdout, stderr) = Pot("eval", "--rpc", node.Api, "--task", "0", "--height", node.CreatedAt.ToString(), "--threads", "1", "--json");
        Assert.True(exit == 0, $"exit {exit}: {stderr}");
        Assert.Equal(node.Root, (string)LastJson(stdout)["modelRoot"]!);
        Assert.True(double.IsFinite((double)LastJson(stdout)["valLoss"]!));

        (exit, stdout, stderr) = Pot("generate", "--rpc", node.Api, "--task", "0", "--prompt", "12+34=", "--json");
        Assert.True(exit == 0, $"exit {exit}: {stderr}");
        Assert.Equal("12+34=", (string)LastJson(stdout)["prompt"]!);

        // The node's refusal reaches the user as exit 2 with its message, and no file.
        string missing = Path.Combine(dir, "missing.safetensors");
        (exit, _, stderr) = Pot("model", "download", "--rpc", node.LackingApi, "--task", "0", "--out", missing);
        Assert.Equal(2, exit);
        Assert.Contains("does not hold", stderr);
        Assert.False(File.Exists(missing));
    }

    // Proves the client does not trust the node's bytes: a server that answers the chain's model root honestly but
    // serves a model with one value changed (or with an extra tensor) is refused with exit 2, and nothing is written.
    [Fact]
    public async Task DownloadRefusesATamperedModelAndLeavesNoFile()
    {
        byte[] honest = await node.Net.Http.GetByteArrayAsync(node.Api + "/api/task/0/model");
        int dataStart = 8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(honest);
        byte[] tampered = (byte[])honest.Clone();
        tampered[dataStart + 4 * 400] ^= 0x01; // one low mantissa bit of one attention weight (floats 320.. are c_attn)
        await using var liar = await LyingNode.StartAsync(node.Api, tampered);
        string dir = TempDir();
        string file = Path.Combine(dir, "model.safetensors");
        var (exit, _, stderr) = Pot("model", "download", "--rpc", liar.Url, "--task", "0", "--out", file);
        Assert.Equal(2, exit);
        Assert.Contains("refusing the download", stderr);
        Assert.Contains(node.Root, stderr);
        Assert.Empty(Directory.GetFiles(dir));

        (exit, _, stderr) = Pot("model", "export", "--rpc", liar.Url, "--task", "0", "--format", "gguf", "--out", file);
        Assert.Equal(2, exit);
        Assert.Empty(Directory.GetFiles(dir));
        (exit, _, stderr) = Pot("generate", "--rpc", liar.Url, "--task", "0", "--prompt", "1+2=");
        Assert.Equal(2, exit);
        Assert.Contains("refusing", stderr);

        // A token embedding that no longer equals the tied lm_head is refused too.
        byte[] untied = (byte[])honest.Clone();
        untied[dataStart + 4 * 5] ^= 0x01;
        liar.Body = untied;
        (exit, _, stderr) = Pot("model", "download", "--rpc", liar.Url, "--task", "0", "--out", file);
        Assert.Equal(2, exit);
        Assert.Contains("tied", stderr);
        Assert.Empty(Directory.GetFiles(dir));

        // A file with the right values plus an unexpected tensor does not have the spec's layout.
        liar.Body = AddTensor(honest);
        (exit, _, stderr) = Pot("model", "download", "--rpc", liar.Url, "--task", "0", "--out", file);
        Assert.Equal(2, exit);
        Assert.Contains("unexpected tensor", stderr);
        Assert.Empty(Directory.GetFiles(dir));
    }

    private static byte[] AddTensor(byte[] file)
    {
        int n = (int)BinaryPrimitives.ReadUInt64LittleEndian(file);
        var header = JsonNode.Parse(Encoding.UTF8.GetString(file, 8, n))!.AsObject();
        long end = header.Where(p => p.Key != "__metadata__").Max(p => (long)p.Value!["data_offsets"]![1]!);
        header["extra.weight"] = new JsonObject { ["dtype"] = "F32", ["shape"] = new JsonArray(1), ["data_offsets"] = new JsonArray(end, end + 4) };
        byte[] h = Encoding.UTF8.GetBytes(header.ToJsonString());
        var result = new byte[8 + h.Length + (file.Length - 8 - n) + 4];
        BinaryPrimitives.WriteUInt64LittleEndian(result, (ulong)h.Length);
        h.CopyTo(result, 8);
        file.AsSpan(8 + n).CopyTo(result.AsSpan(8 + h.Length));
        return result;
    }

    // Proves `pot model export --format gguf` from a node writes a GGUF v3 file that a reader written from the spec
    // parses (header, key-values, tensor infos, 32-byte aligned offsets), with F32 data equal to the model, and with
    // --q4 GGML Q4_0 blocks identical to the project's codec for every 2-D matrix whose rows are a multiple of 32.
    [Fact]
    public void ExportGgufFromANodeInF32AndQ4()
    {
        string dir = TempDir();
        var expected = Split(node.Model, TinyLayout);
        string f32 = Path.Combine(dir, "m.gguf");
        var (exit, stdout, stderr) = Pot("model", "export", "--rpc", node.Api, "--task", "0", "--format", "gguf", "--out", f32, "--json");
        Assert.True(exit == 0, $"exit {exit}: {stderr}");
        var g = ReadGguf(File.ReadAllBytes(f32));
        AssertGgufHoldsModel(g, expected, TinyGgufNames, TinyLayout, q4: false);
        Assert.Equal(8u, g.Kv["gpt2.context_length"]);
        Assert.Equal(16u, g.Kv["gpt2.embedding_length"]);
        Assert.Equal(1u, g.Kv["gpt2.block_count"]);
        Assert.Equal(2u, g.Kv["gpt2.attention.head_count"]);
        Assert.Equal(64u, g.Kv["gpt2.feed_forward_length"]);
        Assert.Equal(node.Root, g.Kv["pot.modelRoot"]);
        Assert.Equal((long)LastJson(stdout)["bytes"]!, new FileInfo(f32).Length);

        string q4 = Path.Combine(dir, "m-q4.gguf");
        (exit, _, stderr) = Pot("model", "export", "--rpc", node.Api, "--task", "0", "--format", "gguf", "--q4", "--out", q4);
        Assert.True(exit == 0, $"exit {exit}: {stderr}");
        var gq = ReadGguf(File.ReadAllBytes(q4));
        AssertGgufHoldsModel(gq, expected, TinyGgufNames, TinyLayout, q4: true);
        Assert.Equal(2u, gq.Kv["general.quantization_version"]);
        // Only ffn_down (rows of 64) qualifies in the tiny model; rows of 16 stay F32.
        Assert.Equal(new[] { "blk.0.ffn_down.weight" }, gq.Tensors.Where(t => t.Type == 2).Select(t => t.Name));
    }

    // Proves export from a local checkpoint (pot train --out): safetensors equal to the checkpoint's parameters and
    // root, and a Q4 GGUF in which every 2-D matrix of the 128-wide addition model is Q4_0 and equals the codec's blocks.
    [Fact]
    public void ExportFromALocalCheckpoint()
    {
        string dir = TempDir();
        string ckpt = Path.Combine(dir, "ckpt");
        var (exit, stdout, stderr) = Pot("train", "--task", "addition", "--steps", "1", "--threads", "1", "--skip-eval", "--json", "--out", ckpt);
        Assert.True(exit == 0, $"exit {exit}: {stderr}");
        string root = (string)LastJson(stdout)["modelRoot"]!;
        var trainer = TrainingCheckpoint.Load(ckpt);
        float[] model = trainer.Trainable.Parameters.Values.Span[..(int)trainer.Trainable.Parameters.Count].ToArray();
        var layout = trainer.Trainable.Parameters.Tensors.Select(t => (t.Name, t.Shape.Select(d => (long)d).ToArray())).ToArray();

        string st = Path.Combine(dir, "m.safetensors");
        (exit, stdout, stderr) = Pot("model", "export", "--checkpoint", ckpt, "--out", st, "--json");
        Assert.True(exit == 0, $"exit {exit}: {stderr}");
        Assert.Equal(root, (string)LastJson(stdout)["modelRoot"]!);
        var (tensors, meta) = ReadSafetensors(File.ReadAllBytes(st));
        Assert.Equal(root, meta["pot.modelRoot"]);
        Assert.Equal("1", meta["pot.step"]);
        Assert.Equal(model, layout.SelectMany(l => tensors[l.Item1].Values).ToArray());

        string q4 = Path.Combine(dir, "m.gguf");
        (exit, _, stderr) = Pot("model", "export", "--checkpoint", ckpt, "--format", "gguf", "--q4", "--out", q4);
        Assert.True(exit == 0, $"exit {exit}: {stderr}");
        var g = ReadGguf(File.ReadAllBytes(q4));
        var names = layout.Select(l => GgufExport.TensorName(l.Item1)).ToArray();
        Assert.Contains("blk.1.ffn_down.weight", names);
        AssertGgufHoldsModel(g, Split(model, layout), names, layout, q4: true);
        Assert.All(g.Tensors.Where(t => t.Dims.Length == 2), t => Assert.Equal(2u, t.Type));
    }

    // Proves hostile or inconsistent arguments exit with code 2 and a clear message, and write nothing.
    [Fact]
    public void HostileArgumentsExitTwoAndWriteNothing()
    {
        string dir = TempDir();
        string file = Path.Combine(dir, "m.out");
        string[][] cases =
        [
            ["model", "download", "--rpc", node.Api, "--task", "abc", "--out", file],
            ["model", "download", "--rpc", node.Api, "--task", "-1", "--out", file],
            ["model", "download", "--rpc", node.Api, "--task", "0"],
            ["model", "download", "--rpc", "ftp://x", "--task", "0", "--out", file],
            ["model", "download", "--rpc", "http://127.0.0.1:1", "--task", "0", "--out", file],
            ["model", "download", "--rpc", node.Api, "--task", "0", "--height", "99999999", "--out", file],
            ["model", "download", "--rpc", node.Api, "--task", "0", "--out", Path.Combine(dir, "no-such-dir", "m")],
            ["model", "download", "--rpc", node.Api, "--task", "0", "--out", dir],
            ["model", "export", "--rpc", node.Api, "--task", "0", "--format", "onnx", "--out", file],
            ["model", "export", "--rpc", node.Api, "--task", "0", "--q4", "--out", file],
            ["model", "export", "--rpc", node.Api, "--checkpoint", dir, "--task", "0", "--out", file],
            ["model", "export", "--out", file],
            ["model", "export", "--rpc", node.Api, "--out", file],
            ["model", "export", "--checkpoint", dir, "--height", "3", "--out", file],
            ["model", "export", "--checkpoint", Path.Combine(dir, "nothing"), "--out", file],
            ["eval", "--rpc", node.Api],
            ["generate", "--prompt", "1+1="],
        ];
        foreach (var args in cases)
        {
            var (exit, _, stderr) = Pot(args);
            Assert.True(exit == 2, $"pot {string.Join(' ', args)}: exit {exit}, stderr: {stderr}");
            Assert.False(string.IsNullOrWhiteSpace(stderr), $"pot {string.Join(' ', args)} gave no message");
            Assert.DoesNotContain("internal error", stderr);
            Assert.Empty(Directory.GetFileSystemEntries(dir));
        }

        // An existing file is kept unless --force.
        File.WriteAllText(file, "keep");
        var (code, _, err) = Pot("model", "download", "--rpc", node.Api, "--task", "0", "--out", file);
        Assert.Equal(2, code);
        Assert.Contains("--force", err);
        Assert.Equal("keep", File.ReadAllText(file));
    }

    /// <summary>
    /// A node that lies about the model: JSON-RPC is forwarded to the real node (so the chain's root is the true one),
    /// while GET /api/task/{id}/model answers <see cref="Body"/>.
    /// </summary>
    private sealed class LyingNode : IAsyncDisposable
    {
        private readonly WebApplication _app;

        private LyingNode(WebApplication app, string url, byte[] body)
        {
            _app = app;
            Url = url;
            Body = body;
        }

        public string Url { get; }
        public byte[] Body { get; set; }

        public static async Task<LyingNode> StartAsync(string honest, byte[] body)
        {
            int port;
            using (var l = new TcpListener(IPAddress.Loopback, 0))
            {
                l.Start();
                port = ((IPEndPoint)l.LocalEndpoint).Port;
            }
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, port));
            var app = builder.Build();
            var liar = new LyingNode(app, $"http://127.0.0.1:{port}", body);
            var http = new HttpClient();
            app.MapPost("/rpc", async ctx =>
            {
                using var reader = new StreamReader(ctx.Request.Body);
                string request = await reader.ReadToEndAsync();
                using var answer = await http.PostAsync(honest + "/rpc", new StringContent(request, Encoding.UTF8, "application/json"));
                ctx.Response.ContentType = "application/json";
                await ctx.Response.WriteAsync(await answer.Content.ReadAsStringAsync());
            });
            app.MapGet("/api/task/{id}/model", async ctx =>
            {
                ctx.Response.ContentType = "application/octet-stream";
                await ctx.Response.Body.WriteAsync(liar.Body);
            });
            await app.StartAsync();
            return liar;
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
