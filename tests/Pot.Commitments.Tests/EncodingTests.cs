using Pot.Commitments.Canonical;
using Pot.Commitments.Keys;

namespace Pot.Commitments.Tests;

public class EncodingTests
{
    [Theory]
    [InlineData(0UL, "00")]
    [InlineData(1UL, "01")]
    [InlineData(127UL, "7f")]
    [InlineData(128UL, "8001")]
    [InlineData(300UL, "ac02")]
    [InlineData(16384UL, "808001")]
    [InlineData(ulong.MaxValue, "ffffffffffffffffff01")]
    public void VarintsHaveTheDocumentedLeb128BytesAndRoundTrip(ulong value, string hex)
    {
        // Proves the exact varint bytes (unsigned LEB128) for boundary values and that they decode back.
        var w = new CanonicalWriter();
        w.WriteVarUInt64(value);
        Assert.Equal(hex, Hex.Encode(w.WrittenSpan));
        var r = new CanonicalReader(w.ToArray(), "test");
        Assert.Equal(value, r.ReadVarUInt64(ulong.MaxValue, "v"));
        r.EnsureEnd();
    }

    [Theory]
    [InlineData("8000", "non-minimal")]
    [InlineData("ff00", "non-minimal")]
    [InlineData("80808000", "non-minimal")]
    [InlineData("ffffffffffffffffff02", "overflows 64 bits")]
    [InlineData("ffffffffffffffffff8101", "longer than 10 bytes")]
    [InlineData("80", "truncated")]
    [InlineData("", "truncated")]
    public void NonCanonicalOverlongAndTruncatedVarintsAreRejected(string hex, string expected)
    {
        // Proves every alternative or broken varint form is refused with a message naming the problem.
        byte[] data = Convert.FromHexString(hex);
        var ex = Assert.Throws<PotFormatException>(() => new CanonicalReader(data, "test").ReadVarUInt64(ulong.MaxValue, "v"));
        Assert.Contains(expected, ex.Message);
    }

    [Fact]
    public void LimitsBooleansTrailingBytesAndUtf8AreEnforced()
    {
        // Proves explicit limits, strict booleans, trailing-byte rejection and strict UTF-8.
        Assert.Contains("the limit is 10", Assert.Throws<PotFormatException>(() => new CanonicalReader([11], "t").ReadVarUInt64(10, "count")).Message);
        Assert.Contains("boolean", Assert.Throws<PotFormatException>(() => new CanonicalReader([2], "t").ReadBool("flag")).Message);
        Assert.Contains("1 trailing bytes", Assert.Throws<PotFormatException>(() =>
        {
            var r = new CanonicalReader([1, 0], "t");
            r.ReadBool("flag");
            r.EnsureEnd();
        }).Message);
        Assert.Contains("length", Assert.Throws<PotFormatException>(() => new CanonicalReader([5, 1, 2, 3, 4, 5], "t").ReadBytes(4, "blob")).Message);
        Assert.Contains("UTF-8", Assert.Throws<PotFormatException>(() => new CanonicalReader([2, 0xc3, 0x28], "t").ReadString(10, "name")).Message);
        Assert.Contains("truncated", Assert.Throws<PotFormatException>(() => new CanonicalReader([1, 2, 3], "t").ReadUInt32LittleEndian("u32")).Message);
    }

    private static SignedMessage Sample(Ed25519Keys key)
    {
        var payload = new CanonicalWriter();
        payload.WriteVarUInt64(1234);          // height
        payload.WriteFixed(new byte[32]);     // a root
        payload.WriteBool(true);              // verdict
        payload.WriteString("leaf 12");       // note
        return SignedMessage.Sign(key, "attestation", payload.WrittenSpan);
    }

    [Fact]
    public void SignedMessageRoundTripsAndVerifies()
    {
        // Proves encode/decode is the identity on signed messages and the signature checks out only for the right type.
        using var key = Ed25519Keys.Generate();
        SignedMessage message = Sample(key);
        byte[] encoded = message.Encode();
        SignedMessage back = SignedMessage.Decode(encoded);
        Assert.Equal(encoded, back.Encode());
        Assert.Equal("attestation", back.MessageType);
        Assert.Equal(key.Address, back.SignerAddress);
        Assert.True(back.VerifySignature());
        Assert.True(back.VerifySignature("attestation"));
        Assert.False(back.VerifySignature("submission"));
    }

    [Fact]
    public void EverySingleByteCorruptionAndEveryTruncationIsRejectedOrFailsTheSignature()
    {
        // Proves the property "no corrupted encoding is accepted as a validly signed object": each truncation
        // is a format error; each byte changed to each of several values is a format error or a bad signature.
        using var key = Ed25519Keys.Generate();
        byte[] encoded = Sample(key).Encode();
        for (int cut = 0; cut < encoded.Length; cut++)
        {
            Assert.Throws<PotFormatException>(() => SignedMessage.Decode(encoded.AsSpan(0, cut)));
        }
        Assert.Throws<PotFormatException>(() => SignedMessage.Decode([.. encoded, 0]));
        int rejected = 0, badSignature = 0;
        for (int i = 0; i < encoded.Length; i++)
        {
            foreach (byte delta in new byte[] { 0x01, 0x02, 0x10, 0x80, 0xff })
            {
                byte[] bad = (byte[])encoded.Clone();
                bad[i] ^= delta;
                SignedMessage decoded;
                try
                {
                    decoded = SignedMessage.Decode(bad);
                }
                catch (PotFormatException)
                {
                    rejected++;
                    continue;
                }
                Assert.False(decoded.VerifySignature(), $"byte {i} ^ 0x{delta:x2} decoded to a validly signed message");
                badSignature++;
            }
        }
        Assert.True(rejected > 0 && badSignature > 0);
    }

    [Fact]
    public void SignedMessageDecoderThrowsOnlyPotFormatExceptionOnRandomBytes()
    {
        // Proves random and mutated inputs never escape as any exception other than PotFormatException.
        using var key = Ed25519Keys.Generate();
        byte[] valid = Sample(key).Encode();
        var rng = new Random(5150);
        for (int trial = 0; trial < 5000; trial++)
        {
            byte[] input = Fuzz.Mutate(rng, trial % 3 == 0 ? null : valid);
            Fuzz.OnlyFormatErrors(() => SignedMessage.Decode(input).VerifySignature());
        }
    }
}
