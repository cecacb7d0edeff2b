using System.Buffers.Binary;
using System.CommandLine;
using System.Runtime.InteropServices;
using Pot.Commitments;
using Pot.Commitments.Merkle;
using Pot.Commitments.Quantization;
using Spectre.Console;

namespace Pot.Cli;

/// <summary>The <c>pot inspect</c> commands: Merkle roots and proofs of files, and the Q4_0 codec on raw float files.</summary>
public static class InspectCommands
{
    /// <summary>Creates the <c>inspect</c> command with its subcommands.</summary>
    /// <returns>The command.</returns>
    public static Command Create()
    {
        var inspect = new Command("inspect", "Inspect commitments and codecs: Merkle roots and proofs, Q4_0 encoding.");
        inspect.Subcommands.Add(CreateMerkle());
        var q4 = new Command("q4", "Encode or decode raw little-endian float32 files with the GGML-compatible Q4_0 codec (18 bytes per 32 floats).");
        q4.Subcommands.Add(CreateQ4(encode: true));
        q4.Subcommands.Add(CreateQ4(encode: false));
        inspect.Subcommands.Add(q4);
        return inspect;
    }

    private static Command CreateMerkle()
    {
        var file = new Option<FileInfo>("--file") { Description = "File whose bytes are cut into leaves.", Required = true };
        var leafSize = new Option<int>("--leaf-size")
        {
            Description = "Leaf size in bytes; the last leaf may be shorter. 4096 matches model commitments (1024 float32 values).",
            DefaultValueFactory = _ => ModelCommitment.LeafBytes,
        };
        var proof = new Option<long?>("--proof") { Description = "Also print the RFC 6962 inclusion proof of the leaf with this index, as JSON." };
        var json = CliSupport.JsonOption();
        var command = new Command("merkle", "Print the RFC 6962 SHA-256 Merkle root of a file cut into fixed-size leaves, and optionally an inclusion proof.")
        {
            file, leafSize, proof, json,
        };
        command.SetAction(parse => CliSupport.Run(parse, () =>
        {
            int size = parse.GetValue(leafSize);
            if (size <= 0)
            {
                throw new CliUserException($"--leaf-size must be a positive number of bytes, got {size}");
            }
            byte[] data = CliSupport.ReadInput(parse.GetValue(file)!, "file");
            MerkleTree tree = MerkleTree.FromFixedLeaves(data, size);
            long? index = parse.GetValue(proof);
            MerkleProof? inclusion = null;
            if (index is long i)
            {
                if (i < 0 || i >= tree.LeafCount)
                {
                    throw new CliUserException($"--proof {i} is out of range: the file has {tree.LeafCount} leaves of {size} bytes (indices 0 to {tree.LeafCount - 1})");
                }
                inclusion = tree.ProveInclusion((int)i);
            }
            if (parse.GetValue(json) || inclusion is not null)
            {
                CliSupport.WriteJson(parse, w =>
                {
                    w.WriteStartObject();
                    w.WriteNumber("bytes", data.Length);
                    w.WriteNumber("leafSize", size);
                    w.WriteNumber("leafCount", tree.LeafCount);
                    w.WriteString("root", Hex.Encode(tree.Root));
                    if (inclusion is not null)
                    {
                        w.WriteStartObject("proof");
                        w.WriteNumber("leafIndex", inclusion.LeafIndex);
                        w.WriteNumber("treeSize", inclusion.TreeSize);
                        w.WriteString("leafHash", Hex.Encode(tree.LeafHash((int)inclusion.LeafIndex)));
                        w.WriteStartArray("path");
                        foreach (byte[] h in inclusion.Path)
                        {
                            w.WriteStringValue(Hex.Encode(h));
                        }
                        w.WriteEndArray();
                        w.WriteString("encoded", Hex.Encode(inclusion.Encode()));
                        w.WriteEndObject();
                    }
                    w.WriteEndObject();
                });
                return 0;
            }
            var table = new Table().AddColumn("field").AddColumn("value");
            table.AddRow("bytes", data.Length.ToString(System.Globalization.CultureInfo.InvariantCulture));
            table.AddRow("leaf size", size.ToString(System.Globalization.CultureInfo.InvariantCulture));
            table.AddRow("leaves", tree.LeafCount.ToString(System.Globalization.CultureInfo.InvariantCulture));
            table.AddRow("root", Hex.Encode(tree.Root));
            CliSupport.Console(parse).Write(table);
            return 0;
        }));
        return command;
    }

    private static Command CreateQ4(bool encode)
    {
        var input = new Option<FileInfo>("--in")
        {
            Description = encode ? "Raw little-endian float32 file to quantize." : "Q4 blob (POTQ header + Q4_0 blocks) to dequantize.",
            Required = true,
        };
        var output = new Option<FileInfo>("--out")
        {
            Description = encode ? "Q4 blob to write." : "Raw little-endian float32 file to write.",
            Required = true,
        };
        var force = new Option<bool>("--force") { Description = "Overwrite the output file if it exists." };
        var json = CliSupport.JsonOption();
        var command = new Command(encode ? "encode" : "decode", encode
            ? "Quantize a raw float32 file to a Q4 blob (GGML Q4_0 blocks; NaN, infinities and values of magnitude ≥ 524160 are rejected)."
            : "Dequantize a Q4 blob to a raw float32 file.")
        {
            input, output, force, json,
        };
        command.SetAction(parse => CliSupport.Run(parse, () =>
        {
            FileInfo inFile = parse.GetValue(input)!;
            FileInfo outFile = parse.GetValue(output)!;
            byte[] source = CliSupport.ReadInput(inFile, "input file");
            byte[] result;
            long floats;
            if (encode)
            {
                if (source.Length % 4 != 0)
                {
                    throw new CliUserException($"input file '{inFile.FullName}' is {source.Length} bytes, not a whole number of float32 values (a multiple of 4)");
                }
                float[] values = new float[source.Length / 4];
                for (int i = 0; i < values.Length; i++)
                {
                    values[i] = BinaryPrimitives.ReadSingleLittleEndian(source.AsSpan(i * 4));
                }
                result = Q4Blob.Encode(values);
                floats = values.Length;
            }
            else
            {
                float[] values = Q4Blob.Decode(source, maxFloats: int.MaxValue / 4);
                result = new byte[values.Length * 4];
                ModelCommitment.WriteLittleEndian(values, result);
                floats = values.Length;
            }
            CliSupport.WriteOutput(outFile, result, parse.GetValue(force));
            long fp32Bytes = floats * 4;
            long q4Bytes = encode ? result.Length : source.Length;
            if (parse.GetValue(json))
            {
                CliSupport.WriteJson(parse, w =>
                {
                    w.WriteStartObject();
                    w.WriteString("operation", encode ? "encode" : "decode");
                    w.WriteNumber("floats", floats);
                    w.WriteNumber("fp32Bytes", fp32Bytes);
                    w.WriteNumber("q4Bytes", q4Bytes);
                    w.WriteString("output", outFile.FullName);
                    w.WriteEndObject();
                });
            }
            else
            {
                CliSupport.Console(parse).MarkupLine(Markup.Escape(
                    $"{(encode ? "encoded" : "decoded")} {floats} floats: fp32 {fp32Bytes} bytes, Q4 {q4Bytes} bytes -> {outFile.FullName}"));
            }
            return 0;
        }));
        return command;
    }
}
