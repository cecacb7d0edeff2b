using System.Security.Cryptography;
using System.Text;
using Pot.Commitments.Keys;

namespace Pot.Commitments.Tests;

public class KeysTests
{
    // RFC 8032 §7.1 TEST 1.
    private const string Rfc8032Seed = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    private const string Rfc8032Public = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

    // Cheap Argon2id costs so the suite stays fast; the format and code path are the same as the defaults.
    private static readonly KeyFileKdfParameters FastKdf = new(1024, 1);

    [Fact]
    public void SeedGivesTheRfc8032PublicKeyAndTheDocumentedAddress()
    {
        // Proves key import follows RFC 8032 and the address is SHA-256("pot/address/v1\0" || pk)[..20] with prefix "pot".
        using var key = Ed25519Keys.FromSeed(Hex.Decode(Rfc8032Seed, "seed"));
        Assert.Equal(Rfc8032Public, Hex.Encode(key.PublicKey));
        byte[] expected = SHA256.HashData([.. Encoding.ASCII.GetBytes("pot/address/v1"), 0, .. key.PublicKey])[..20];
        Assert.Equal("pot" + Convert.ToHexStringLower(expected), key.Address);
        Assert.Equal(43, key.Address.Length);
        Assert.Equal(expected, AccountAddress.Parse(key.Address));
    }

    [Fact]
    public void SignatureIsEd25519OverTheDocumentedDomainSeparatedDigest()
    {
        // Proves the signed bytes are SHA-256("pot/sig/v1\0" || len || type || message) by verifying with plain
        // Ed25519 over a digest built independently here.
        using var key = Ed25519Keys.FromSeed(Hex.Decode(Rfc8032Seed, "seed"));
        byte[] message = Encoding.UTF8.GetBytes("block 17");
        byte[] signature = key.Sign("pbft/commit", message);
        byte[] digest = SHA256.HashData([.. Encoding.ASCII.GetBytes("pot/sig/v1"), 0, 11, .. Encoding.ASCII.GetBytes("pbft/commit"), .. message]);
        var pk = NSec.Cryptography.PublicKey.Import(NSec.Cryptography.SignatureAlgorithm.Ed25519, key.PublicKey, NSec.Cryptography.KeyBlobFormat.RawPublicKey);
        Assert.True(NSec.Cryptography.SignatureAlgorithm.Ed25519.Verify(pk, digest, signature));
        Assert.True(Ed25519Keys.Verify(key.PublicKey, "pbft/commit", message, signature));
    }

    [Fact]
    public void SignatureForOneMessageTypeNeverVerifiesAsAnother()
    {
        // Proves domain separation: the same bytes signed as one type fail as every other type, and
        // shifting bytes between type and message does not help.
        using var key = Ed25519Keys.Generate();
        byte[] message = [1, 2, 3, 4];
        byte[] signature = key.Sign("pbft/prepare", message);
        Assert.True(Ed25519Keys.Verify(key.PublicKey, "pbft/prepare", message, signature));
        foreach (string other in new[] { "pbft/commit", "pbft/prepar", "pbft/prepare1", "attestation", "pbft/prepare/" })
        {
            Assert.False(Ed25519Keys.Verify(key.PublicKey, other, message, signature), other);
        }
        byte[] signature2 = key.Sign("a", [(byte)'b', 9]);
        Assert.False(Ed25519Keys.Verify(key.PublicKey, "ab", [9], signature2));
    }

    [Fact]
    public void VerifyRejectsWrongKeyTamperedSignatureAndMalformedInputs()
    {
        // Proves verification fails (without throwing) for another signer, a flipped bit, or wrong sizes.
        using var key = Ed25519Keys.Generate();
        using var other = Ed25519Keys.Generate();
        byte[] signature = key.Sign("tx/transfer", [42]);
        Assert.False(Ed25519Keys.Verify(other.PublicKey, "tx/transfer", [42], signature));
        Assert.False(Ed25519Keys.Verify(key.PublicKey, "tx/transfer", [43], signature));
        for (int i = 0; i < 64; i += 9)
        {
            byte[] bad = (byte[])signature.Clone();
            bad[i] ^= 4;
            Assert.False(Ed25519Keys.Verify(key.PublicKey, "tx/transfer", [42], bad));
        }
        Assert.False(Ed25519Keys.Verify(key.PublicKey.AsSpan(0, 31), "tx/transfer", [42], signature));
        Assert.False(Ed25519Keys.Verify(key.PublicKey, "tx/transfer", [42], signature.AsSpan(0, 63)));
        Assert.Throws<ArgumentException>(() => key.Sign("Bad Type", [1]));
        Assert.Throws<ArgumentException>(() => key.Sign("", [1]));
    }

    [Fact]
    public void KeyFileRoundTripsAndExposesOnlyPublicFactsWithoutPassphrase()
    {
        // Proves a key file decrypts to the same key with the right passphrase, holds no plaintext seed,
        // and its public part is readable without the passphrase.
        using var key = Ed25519Keys.FromSeed(Hex.Decode(Rfc8032Seed, "seed"));
        byte[] file = KeyFile.Create(key, "correct horse", FastKdf);
        string text = Encoding.UTF8.GetString(file);
        Assert.DoesNotContain(Rfc8032Seed, text);
        Assert.Contains("\"argon2id\"", text);
        Assert.Contains("\"chacha20-poly1305\"", text);
        KeyFileInfo info = KeyFile.ReadInfo(file);
        Assert.Equal(Rfc8032Public, Hex.Encode(info.PublicKey));
        Assert.Equal(key.Address, info.Address);
        Assert.Equal(FastKdf, info.Kdf);
        using Ed25519Keys opened = KeyFile.Open(file, "correct horse");
        Assert.Equal(Rfc8032Seed, Hex.Encode(opened.ExportSeed()));
        // Two files of the same key differ (fresh salt and nonce).
        Assert.NotEqual(file, KeyFile.Create(key, "correct horse", FastKdf));
    }

    [Fact]
    public void WrongPassphraseAndEditedFieldsAreRejectedWithClearErrors()
    {
        // Proves a wrong passphrase, an edited cost parameter, a swapped public key, and unknown members are
        // all refused, with messages naming the problem.
        using var key = Ed25519Keys.Generate();
        using var other = Ed25519Keys.Generate();
        byte[] file = KeyFile.Create(key, "pass", FastKdf);
        string text = Encoding.UTF8.GetString(file);
        Assert.Contains("passphrase is wrong", Assert.Throws<PotFormatException>(() => KeyFile.Open(file, "Pass")).Message);
        byte[] morePasses = Encoding.UTF8.GetBytes(text.Replace("\"passes\": 1", "\"passes\": 2"));
        Assert.Contains("passphrase is wrong or the file was modified", Assert.Throws<PotFormatException>(() => KeyFile.Open(morePasses, "pass")).Message);
        byte[] swapped = Encoding.UTF8.GetBytes(text.Replace(Hex.Encode(key.PublicKey), Hex.Encode(other.PublicKey)));
        Assert.Contains("does not belong to the public key", Assert.Throws<PotFormatException>(() => KeyFile.Open(swapped, "pass")).Message);
        byte[] swappedBoth = Encoding.UTF8.GetBytes(text.Replace(Hex.Encode(key.PublicKey), Hex.Encode(other.PublicKey)).Replace(key.Address, other.Address));
        Assert.Throws<PotFormatException>(() => KeyFile.Open(swappedBoth, "pass"));
        byte[] extra = Encoding.UTF8.GetBytes(text.Replace("\"version\": 1", "\"version\": 1, \"comment\": \"x\""));
        Assert.Contains("unknown member \"comment\"", Assert.Throws<PotFormatException>(() => KeyFile.ReadInfo(extra)).Message);
        byte[] hugeMemory = Encoding.UTF8.GetBytes(text.Replace("\"memoryKiB\": 1024", "\"memoryKiB\": 999999999"));
        Assert.Contains("memoryKiB 999999999 is outside", Assert.Throws<PotFormatException>(() => KeyFile.ReadInfo(hugeMemory)).Message);
        byte[] v2 = Encoding.UTF8.GetBytes(text.Replace("\"version\": 1", "\"version\": 2"));
        Assert.Contains("version 2", Assert.Throws<PotFormatException>(() => KeyFile.ReadInfo(v2)).Message);
        Assert.Contains("not valid JSON", Assert.Throws<PotFormatException>(() => KeyFile.ReadInfo("{"u8)).Message);
    }

    [Fact]
    public void KeyFileDecoderThrowsOnlyPotFormatExceptionOnRandomAndMutatedInput()
    {
        // Proves random bytes and mutated key files never escape as another exception type.
        using var key = Ed25519Keys.Generate();
        byte[] valid = KeyFile.Create(key, "pw", FastKdf);
        var rng = new Random(21);
        for (int trial = 0; trial < 400; trial++)
        {
            byte[] input = Fuzz.Mutate(rng, trial % 4 == 3 ? null : valid);
            Fuzz.OnlyFormatErrors(() => KeyFile.ReadInfo(input));
            if (trial % 10 == 0)
            {
                Fuzz.OnlyFormatErrors(() => KeyFile.Open(input, "pw").Dispose());
            }
        }
        Assert.Throws<PotFormatException>(() => AccountAddress.Parse("pox" + new string('0', 40)));
        Assert.Throws<PotFormatException>(() => AccountAddress.Parse("pot" + new string('A', 40)));
        Assert.Throws<PotFormatException>(() => AccountAddress.Parse("pot" + new string('0', 38)));
    }
}
