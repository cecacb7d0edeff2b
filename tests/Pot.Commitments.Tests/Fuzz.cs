namespace Pot.Commitments.Tests;

/// <summary>Small helpers for fuzz-style tests: random and mutated inputs, and the "only format errors" rule.</summary>
internal static class Fuzz
{
    /// <summary>Random bytes, or a valid encoding with a few random edits, truncation or extension.</summary>
    public static byte[] Mutate(Random rng, byte[]? valid)
    {
        if (valid is null || rng.Next(4) == 0)
        {
            var random = new byte[rng.Next(0, 200)];
            rng.NextBytes(random);
            if (random.Length > 0 && rng.Next(2) == 0)
            {
                random[0] = 1; // often hit the right version byte to get past the first check
            }
            return random;
        }
        byte[] copy = (byte[])valid.Clone();
        switch (rng.Next(3))
        {
            case 0:
                for (int k = rng.Next(1, 4); k > 0 && copy.Length > 0; k--)
                {
                    copy[rng.Next(copy.Length)] = (byte)rng.Next(256);
                }
                return copy;
            case 1:
                return copy[..rng.Next(copy.Length + 1)];
            default:
                var extra = new byte[rng.Next(1, 16)];
                rng.NextBytes(extra);
                return [.. copy, .. extra];
        }
    }

    /// <summary>Runs a decoder; success or <see cref="PotFormatException"/> are fine, anything else fails the test.</summary>
    public static void OnlyFormatErrors(Action decode)
    {
        try
        {
            decode();
        }
        catch (PotFormatException)
        {
        }
    }
}
