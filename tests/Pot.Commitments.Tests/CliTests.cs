using System.CommandLine;
using System.Text.Json;
using Pot.Cli;
using Pot.Commitments.Keys;
using Pot.Commitments.Merkle;
using Pot.Commitments.Quantization;

namespace Pot.Commitments.Tests;

public sealed class CliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pot-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string PathOf(string name) => Path.Combine(_dir, name);

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = Program.Run(args, new InvocationConfiguration { Output = output, Error = error });
        return (code, output.ToString(), error.ToString());
    }

    [Fact]
    public void MerkleCommandPrintsTheLibraryRootAndAVerifiableProof()
    {
        // Proves `pot inspect merkle` reports the same root as the library and its JSON proof verifies.
        byte[] data = new byte[10_000];
        new Random(1).NextBytes(data);
        File.WriteAllBytes(PathOf("data.bin"), data);
        byte[] root = MerkleTree.ComputeRootOfFixedLeaves(data, 1000);
        (int code, string text, _) = Run("inspect", "merkle", "--file", PathOf("data.bin"), "--leaf-size", "1000");
        Assert.Equal(0, code);
        Assert.Contains(Hex.Encode(root), text);
        (code, text, _) = Run("inspect", "merkle", "--file", PathOf("data.bin"), "--leaf-size", "1000", "--proof", "7");
        Assert.Equal(0, code);
        using JsonDocument doc = JsonDocument.Parse(text);
        Assert.Equal(Hex.Encode(root), doc.RootElement.GetProperty("root").GetString());
        Assert.Equal(10, doc.RootElement.GetProperty("leafCount").GetInt32());
        MerkleProof proof = MerkleProof.Decode(Hex.Decode(doc.RootElement.GetProperty("proof").GetProperty("encoded").GetString(), "encoded"));
        Assert.True(proof.Verify(MerkleHash.HashLeaf(data.AsSpan(7000, 1000)), root));
    }

    [Fact]
    public void UserMistakesPrintOneLineErrorsAndExitNonZero()
    {
        // Proves missing files, bad sizes and out-of-range indices give exit code 2 and a message, not a stack trace.
        File.WriteAllBytes(PathOf("small.bin"), [1, 2, 3]);
        (int code, string output, string error) = Run("inspect", "merkle", "--file", PathOf("missing.bin"), "--leaf-size", "16");
        Assert.Equal(2, code);
        Assert.Contains("does not exist", error);
        Assert.DoesNotContain("   at ", error + output);
        (code, _, error) = Run("inspect", "merkle", "--file", PathOf("small.bin"), "--leaf-size", "-4");
        Assert.Equal(2, code);
        Assert.Contains("--leaf-size must be a positive", error);
        (code, _, error) = Run("inspect", "merkle", "--file", PathOf("small.bin"), "--leaf-size", "1", "--proof", "3");
        Assert.Equal(2, code);
        Assert.Contains("out of range", error);
        (code, _, error) = Run("inspect", "q4", "encode", "--in", PathOf("small.bin"), "--out", PathOf("x.q4"));
        Assert.Equal(2, code);
        Assert.Contains("multiple of 4", error);
        (code, _, error) = Run("inspect", "q4", "decode", "--in", PathOf("small.bin"), "--out", PathOf("x.f32"));
        Assert.Equal(2, code);
        Assert.Contains("Q4 blob", error);
        (code, _, _) = Run("inspect", "merkle", "--leaf-size", "16");
        Assert.NotEqual(0, code);
    }

    [Fact]
    public void Q4EncodeDecodeThroughFilesMatchesTheLibrary()
    {
        // Proves the CLI writes the library's blob and decodes it back to the library's dequantized floats.
        float[] values = Enumerable.Range(0, 100).Select(i => MathF.Sin(i * 0.3f)).ToArray();
        byte[] raw = new byte[400];
        ModelCommitment.WriteLittleEndian(values, raw);
        File.WriteAllBytes(PathOf("x.f32"), raw);
        (int code, string output, _) = Run("inspect", "q4", "encode", "--in", PathOf("x.f32"), "--out", PathOf("x.q4"), "--json");
        Assert.Equal(0, code);
        Assert.Equal(88, JsonDocument.Parse(output).RootElement.GetProperty("q4Bytes").GetInt32());
        Assert.Equal(Q4Blob.Encode(values), File.ReadAllBytes(PathOf("x.q4")));
        (code, _, _) = Run("inspect", "q4", "decode", "--in", PathOf("x.q4"), "--out", PathOf("y.f32"));
        Assert.Equal(0, code);
        byte[] expected = new byte[400];
        ModelCommitment.WriteLittleEndian(Q4Blob.Decode(Q4Blob.Encode(values)), expected);
        Assert.Equal(expected, File.ReadAllBytes(PathOf("y.f32")));
        (code, _, string error) = Run("inspect", "q4", "decode", "--in", PathOf("x.q4"), "--out", PathOf("y.f32"));
        Assert.Equal(2, code);
        Assert.Contains("--force", error);
    }

    [Fact]
    public void KeysNewWritesAKeyFileThatShowAndTheLibraryAgreeOn()
    {
        // Proves `pot keys new` creates a file that opens with the passphrase and `pot keys show` reports its address.
        File.WriteAllText(PathOf("pass.txt"), "s3cret\n");
        (int code, string output, string error) = Run("keys", "new", "--out", PathOf("k.json"), "--passphrase-file", PathOf("pass.txt"), "--kdf-memory-kib", "1024", "--kdf-passes", "1", "--json");
        Assert.True(code == 0, error);
        string address = JsonDocument.Parse(output).RootElement.GetProperty("address").GetString()!;
        using (Ed25519Keys key = KeyFile.Open(File.ReadAllBytes(PathOf("k.json")), "s3cret"))
        {
            Assert.Equal(key.Address, address);
        }
        (code, output, _) = Run("keys", "show", "--key", PathOf("k.json"));
        Assert.Equal(0, code);
        Assert.Contains(address, output);
        (code, _, error) = Run("keys", "new", "--out", PathOf("k.json"), "--passphrase-file", PathOf("pass.txt"));
        Assert.Equal(2, code);
        Assert.Contains("already exists", error);
        File.WriteAllText(PathOf("bad.json"), "{\"format\":\"other\"}");
        (code, _, error) = Run("keys", "show", "--key", PathOf("bad.json"));
        Assert.Equal(2, code);
        Assert.Contains("key file", error);
        (code, _, error) = Run("keys", "new", "--out", PathOf("k2.json"), "--passphrase-file", PathOf("pass.txt"), "--kdf-passes", "99");
        Assert.Equal(2, code);
        Assert.Contains("passes 99", error);
    }
}
