namespace Pot.Learning.Models;

/// <summary>Sizes of a GPT decoder (nanoGPT's <c>GPTConfig</c> with bias = true and dropout = 0).</summary>
/// <param name="VocabSize">Number of token ids.</param>
/// <param name="BlockSize">Maximum context length T.</param>
/// <param name="Layers">Number of transformer blocks.</param>
/// <param name="Heads">Attention heads per block (divides <paramref name="Embed"/>).</param>
/// <param name="Embed">Model width C.</param>
public sealed record GptConfig(int VocabSize, int BlockSize, int Layers, int Heads, int Embed)
{
    /// <summary>Throws with a clear message when the sizes are inconsistent or out of range.</summary>
    public void Validate()
    {
        Check(VocabSize is >= 2 and <= 1_000_000, $"vocabulary size {VocabSize} must be in [2, 1000000]");
        Check(BlockSize is >= 1 and <= 8192, $"block size {BlockSize} must be in [1, 8192]");
        Check(Layers is >= 1 and <= 256, $"layer count {Layers} must be in [1, 256]");
        Check(Heads >= 1 && Embed % Heads == 0, $"embedding width {Embed} must be a positive multiple of the head count {Heads}");
        Check(Embed is >= 1 and <= 16384, $"embedding width {Embed} must be in [1, 16384]");
    }

    private static void Check(bool ok, string message)
    {
        if (!ok)
        {
            throw new ArgumentException($"invalid GPT configuration: {message}");
        }
    }
}
