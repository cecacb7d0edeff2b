using System.Globalization;
using System.Text;
using Pot.Commitments.Quantization;
using Pot.Learning.Training;

namespace Pot.Protocol;

/// <summary>
/// Writes a model as a GGUF version 3 file (the ggml project's public format, docs/model-export.md): header
/// ("GGUF", version 3, tensor count, key-value count), metadata key-values, tensor infos (name, dimensions
/// innermost first, ggml type, offset), zero padding to the alignment (32), then each tensor's data at an offset
/// that is a multiple of 32 from the start of the data section. Everything is little-endian. GPT models use the
/// <c>gpt2</c> architecture's key and tensor names; the MLP uses <c>pot-mlp</c>. Tensors are F32; with Q4 the 2-D
/// tensors whose rows are a multiple of 32 values are GGML Q4_0 (<see cref="Q4Codec"/>, bit-compatible with ggml).
/// </summary>
public static class GgufExport
{
    /// <summary>"GGUF" read as a little-endian uint32.</summary>
    public const uint Magic = 0x46554747;

    /// <summary>Format version written.</summary>
    public const uint Version = 3;

    /// <summary>Alignment of the data section and of every tensor's data (general.alignment).</summary>
    public const int Alignment = 32;

    /// <summary>ggml type id of fp32.</summary>
    public const uint TypeF32 = 0;

    /// <summary>ggml type id of Q4_0.</summary>
    public const uint TypeQ4_0 = 2;

    // gguf_metadata_value_type ids.
    private const uint KvUInt32 = 4;
    private const uint KvFloat32 = 6;
    private const uint KvString = 8;

    /// <summary>The GGUF tensor name of a nanoGPT parameter (the gpt2 architecture's names); MLP names are kept.</summary>
    /// <param name="name">nanoGPT / engine name.</param>
    /// <returns>The GGUF name.</returns>
    public static string TensorName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        const string block = "transformer.h.";
        if (name.StartsWith(block, StringComparison.Ordinal))
        {
            int dot = name.IndexOf('.', block.Length);
            string layer = name[block.Length..dot];
            string rest = name[(dot + 1)..];
            string mapped = rest switch
            {
                _ when rest.StartsWith("ln_1.", StringComparison.Ordinal) => "attn_norm" + rest[4..],
                _ when rest.StartsWith("attn.c_attn.", StringComparison.Ordinal) => "attn_qkv" + rest[11..],
                _ when rest.StartsWith("attn.c_proj.", StringComparison.Ordinal) => "attn_output" + rest[11..],
                _ when rest.StartsWith("ln_2.", StringComparison.Ordinal) => "ffn_norm" + rest[4..],
                _ when rest.StartsWith("mlp.c_fc.", StringComparison.Ordinal) => "ffn_up" + rest[8..],
                _ when rest.StartsWith("mlp.c_proj.", StringComparison.Ordinal) => "ffn_down" + rest[10..],
                _ => throw new ArgumentException($"no GGUF name for '{name}'"),
            };
            return $"blk.{layer}.{mapped}";
        }
        return name switch
        {
            "transformer.wte.weight" => "token_embd.weight",
            "transformer.wpe.weight" => "position_embd.weight",
            "transformer.ln_f.weight" => "output_norm.weight",
            "transformer.ln_f.bias" => "output_norm.bias",
            _ => name,
        };
    }

    /// <summary>True when a tensor of this shape is stored as Q4_0 under <c>--q4</c>: 2-D with rows a multiple of 32 values.</summary>
    /// <param name="shape">PyTorch-order shape.</param>
    /// <returns>Whether it is quantized.</returns>
    public static bool Quantizable(int[] shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        return shape.Length == 2 && shape[1] % Q4Codec.BlockFloats == 0 && shape[0] > 0;
    }

    /// <summary>Writes the model as GGUF.</summary>
    /// <param name="stream">Destination (written from its current position).</param>
    /// <param name="config">Resolved configuration.</param>
    /// <param name="model">Values in canonical order.</param>
    /// <param name="q4">Store quantizable 2-D tensors as Q4_0.</param>
    /// <param name="extra">Extra string metadata (keys under <c>pot.</c>), or null.</param>
    /// <exception cref="ArgumentException">A value count mismatch, or a NaN/∞ value in a tensor to quantize.</exception>
    public static void Write(Stream stream, TrainingConfig config, float[] model, bool q4, IReadOnlyDictionary<string, string>? extra = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(config);
        var tensors = ModelExport.Tensors(config, model).Where(t => t.Name != ModelExport.TiedHead).ToList();

        // Encode every tensor's data first (so the infos know their sizes).
        var infos = new List<(string Name, ulong[] Dims, uint Type, byte[] Data)>(tensors.Count);
        foreach (var (name, shape, data) in tensors)
        {
            var dims = shape.Reverse().Select(d => (ulong)d).ToArray();
            byte[] bytes;
            uint type;
            if (q4 && Quantizable(shape))
            {
                bytes = new byte[data.Length / Q4Codec.BlockFloats * Q4Codec.BlockBytes];
                Q4Codec.QuantizeBlocks(data.Span, bytes);
                type = TypeQ4_0;
            }
            else
            {
                bytes = new byte[data.Length * 4];
                Pot.Commitments.ModelCommitment.WriteLittleEndian(data.Span, bytes);
                type = TypeF32;
            }
            infos.Add((TensorName(name), dims, type, bytes));
        }

        var kv = new List<(string Key, uint Type, object Value)>
        {
            ("general.architecture", KvString, config.Gpt is not null ? "gpt2" : "pot-mlp"),
            ("general.name", KvString, "pot-" + config.Task),
            ("general.alignment", KvUInt32, (uint)Alignment),
            ("general.file_type", KvUInt32, infos.Any(i => i.Type == TypeQ4_0) ? 2u : 0u),
        };
        if (infos.Any(i => i.Type == TypeQ4_0))
        {
            kv.Add(("general.quantization_version", KvUInt32, 2u));
        }
        if (config.Gpt is { } g)
        {
            kv.Add(("gpt2.context_length", KvUInt32, (uint)g.BlockSize));
            kv.Add(("gpt2.embedding_length", KvUInt32, (uint)g.Embed));
            kv.Add(("gpt2.feed_forward_length", KvUInt32, (uint)(4 * g.Embed)));
            kv.Add(("gpt2.block_count", KvUInt32, (uint)g.Layers));
            kv.Add(("gpt2.attention.head_count", KvUInt32, (uint)g.Heads));
            kv.Add(("gpt2.attention.layer_norm_epsilon", KvFloat32, 1e-5f));
            kv.Add(("pot.vocab_size", KvUInt32, (uint)g.VocabSize));
        }
        else if (config.Mlp is { } m)
        {
            kv.Add(("pot-mlp.input_length", KvUInt32, (uint)m.Inputs));
            kv.Add(("pot-mlp.hidden_length", KvUInt32, (uint)m.Hidden));
            kv.Add(("pot-mlp.class_count", KvUInt32, (uint)m.Classes));
        }
        foreach (var (k, v) in ModelExport.Metadata(config, model, extra))
        {
            kv.Add((k, KvString, v));
        }

        using var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
        long written = 0;
        void U32(uint v) { w.Write(v); written += 4; }
        void U64(ulong v) { w.Write(v); written += 8; }
        void Str(string s)
        {
            byte[] b = Encoding.UTF8.GetBytes(s);
            U64((ulong)b.Length);
            w.Write(b);
            written += b.Length;
        }
        void Pad()
        {
            int pad = (int)((Alignment - written % Alignment) % Alignment);
            w.Write(new byte[pad]);
            written += pad;
        }

        U32(Magic);
        U32(Version);
        U64((ulong)infos.Count);
        U64((ulong)kv.Count);
        foreach (var (key, type, value) in kv)
        {
            Str(key);
            U32(type);
            switch (value)
            {
                case string s: Str(s); break;
                case uint u: U32(u); break;
                case float f: w.Write(f); written += 4; break;
                default: throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture, $"unsupported metadata value {value}"));
            }
        }
        ulong offset = 0;
        foreach (var info in infos)
        {
            Str(info.Name);
            U32((uint)info.Dims.Length);
            foreach (ulong d in info.Dims)
            {
                U64(d);
            }
            U32(info.Type);
            U64(offset);
            offset += (ulong)info.Data.Length;
            offset = (offset + Alignment - 1) / Alignment * Alignment;
        }
        Pad();
        foreach (var info in infos)
        {
            w.Write(info.Data);
            written += info.Data.Length;
            Pad();
        }
        w.Flush();
    }
}
