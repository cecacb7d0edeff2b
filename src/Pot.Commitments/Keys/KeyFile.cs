using System.Security.Cryptography;

using System.Text.Json;
using NSec.Cryptography;

namespace Pot.Commitments.Keys;

/// <summary>Argon2id cost parameters of a key file.</summary>
/// <param name="MemoryKiB">Memory in KiB (1 024 to 4 194 304).</param>
/// <param name="Passes">Number of passes (1 to 16).</param>
public sealed record KeyFileKdfParameters(int MemoryKiB, int Passes)
{
    /// <summary>Default for new files: 64 MiB and 3 passes (about 0.2 s on a desktop core).</summary>
    public static KeyFileKdfParameters Default { get; } = new(65536, 3);

    /// <summary>Smallest memory accepted, in KiB.</summary>
    public const int MinMemoryKiB = 1024;

    /// <summary>Largest memory accepted, in KiB (4 GiB): a file cannot make the reader allocate more.</summary>
    public const int MaxMemoryKiB = 4 * 1024 * 1024;

    /// <summary>Largest number of passes accepted.</summary>
    public const int MaxPasses = 16;
}

/// <summary>Public facts of a key file, readable without the passphrase.</summary>
/// <param name="PublicKey">32-byte Ed25519 public key.</param>
/// <param name="Address">Account address of that key.</param>
/// <param name="Kdf">Argon2id cost parameters.</param>
public sealed record KeyFileInfo(byte[] PublicKey, string Address, KeyFileKdfParameters Kdf);

/// <summary>
/// Passphrase-protected Ed25519 key files: versioned JSON whose private seed is encrypted with
/// ChaCha20-Poly1305 under a key derived from the passphrase by Argon2id.
/// </summary>
/// <remarks>
/// <para>Format (UTF-8 JSON object, exactly these members, no others):
/// <c>{"format":"pot-key","version":1,"algorithm":"ed25519","publicKey":HEX32,"address":ADDR,
/// "kdf":{"algorithm":"argon2id","memoryKiB":INT,"passes":INT,"parallelism":1,"salt":HEX16},
/// "cipher":{"algorithm":"chacha20-poly1305","nonce":HEX12,"ciphertext":HEX48}}</c>.</para>
/// <para>key = Argon2id(passphrase as UTF-8, salt, memoryKiB, passes, parallelism 1, 32 bytes);
/// ciphertext = ChaCha20-Poly1305(key, nonce, plaintext = 32-byte seed, associated data =
/// UTF-8 "pot-key/v1|ed25519|" + publicKey hex + "|argon2id|" + memoryKiB + "|" + passes + "|1|" +
/// salt hex). The associated data binds the public key and cost parameters, so editing them makes
/// decryption fail. After decryption the seed's public key must equal <c>publicKey</c>.</para>
/// </remarks>
public static class KeyFile
{
    /// <summary>Largest key file accepted, in bytes.</summary>
    public const int MaxFileBytes = 16 * 1024;

    private const string FormatName = "pot-key";
    private const int Version = 1;
    private const int SaltSize = 16;
    private static readonly AeadAlgorithm Cipher = AeadAlgorithm.ChaCha20Poly1305;
    private static readonly System.Text.UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Encrypts a key into key-file bytes.</summary>
    /// <param name="key">The key to store.</param>
    /// <param name="passphrase">The passphrase (must not be empty).</param>
    /// <param name="kdf">Argon2id costs; <see cref="KeyFileKdfParameters.Default"/> when null.</param>
    /// <returns>UTF-8 JSON bytes.</returns>
    public static byte[] Create(Ed25519Keys key, string passphrase, KeyFileKdfParameters? kdf = null)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (string.IsNullOrEmpty(passphrase))
        {
            throw new ArgumentException("the passphrase must not be empty", nameof(passphrase));
        }
        kdf ??= KeyFileKdfParameters.Default;
        CheckKdf(kdf.MemoryKiB, kdf.Passes, 1, e => new ArgumentException(e, nameof(kdf)));
        byte[] salt = RandomNumberGenerator.GetBytes(SaltSize);
        byte[] nonce = RandomNumberGenerator.GetBytes(Cipher.NonceSize);
        byte[] seed = key.ExportSeed();
        try
        {
            using Key aeadKey = DeriveKey(passphrase, salt, kdf);
            byte[] ciphertext = Cipher.Encrypt(aeadKey, nonce, AssociatedData(key.PublicKey, kdf, salt), seed);
            using var stream = new MemoryStream();
            using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
            {
                w.WriteStartObject();
                w.WriteString("format", FormatName);
                w.WriteNumber("version", Version);
                w.WriteString("algorithm", "ed25519");
                w.WriteString("publicKey", Hex.Encode(key.PublicKey));
                w.WriteString("address", key.Address);
                w.WriteStartObject("kdf");
                w.WriteString("algorithm", "argon2id");
                w.WriteNumber("memoryKiB", kdf.MemoryKiB);
                w.WriteNumber("passes", kdf.Passes);
                w.WriteNumber("parallelism", 1);
                w.WriteString("salt", Hex.Encode(salt));
                w.WriteEndObject();
                w.WriteStartObject("cipher");
                w.WriteString("algorithm", "chacha20-poly1305");
                w.WriteString("nonce", Hex.Encode(nonce));
                w.WriteString("ciphertext", Hex.Encode(ciphertext));
                w.WriteEndObject();
                w.WriteEndObject();
            }
            stream.WriteByte((byte)'\n');
            return stream.ToArray();
        }
        finally
        {
            CryptographicOperations.ZeroMemory(seed);
        }
    }

    /// <summary>Reads the public part of a key file without the passphrase.</summary>
    /// <param name="file">Key-file bytes.</param>
    /// <returns>Public key, address and KDF costs.</returns>
    /// <exception cref="PotFormatException">The file is malformed.</exception>
    public static KeyFileInfo ReadInfo(ReadOnlySpan<byte> file)
    {
        Parsed p = Parse(file);
        return new KeyFileInfo(p.PublicKey, AccountAddress.FromPublicKey(p.PublicKey), p.Kdf);
    }

    /// <summary>Decrypts a key file.</summary>
    /// <param name="file">Key-file bytes.</param>
    /// <param name="passphrase">The passphrase.</param>
    /// <returns>The key.</returns>
    /// <exception cref="PotFormatException">The file is malformed, the passphrase is wrong, or the file was modified.</exception>
    public static Ed25519Keys Open(ReadOnlySpan<byte> file, string passphrase)
    {
        ArgumentNullException.ThrowIfNull(passphrase);
        Parsed p = Parse(file);
        using Key aeadKey = DeriveKey(passphrase, p.Salt, p.Kdf);
        byte[] seed = new byte[Ed25519Keys.SeedSize];
        try
        {
            if (!Cipher.Decrypt(aeadKey, p.Nonce, AssociatedData(p.PublicKey, p.Kdf, p.Salt), p.Ciphertext, seed))
            {
                throw new PotFormatException("key file: the passphrase is wrong or the file was modified (authenticated decryption failed)");
            }
            Ed25519Keys key = Ed25519Keys.FromSeed(seed);
            if (!key.PublicKey.AsSpan().SequenceEqual(p.PublicKey))
            {
                key.Dispose();
                throw new PotFormatException($"key file: the decrypted private key belongs to {Hex.Encode(key.PublicKey)}, not to the listed public key {Hex.Encode(p.PublicKey)}");
            }
            return key;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(seed);
        }
    }

    private sealed record Parsed(byte[] PublicKey, KeyFileKdfParameters Kdf, byte[] Salt, byte[] Nonce, byte[] Ciphertext);

    private static Parsed Parse(ReadOnlySpan<byte> file)
    {
        if (file.Length > MaxFileBytes)
        {
            throw new PotFormatException($"key file: {file.Length} bytes; a key file is at most {MaxFileBytes}");
        }
        try
        {
            // JSON text must be UTF-8; checking it up front keeps invalid bytes inside strings from
            // surfacing later as transcoding errors of another exception type.
            _ = StrictUtf8.GetCharCount(file);
        }
        catch (System.Text.DecoderFallbackException)
        {
            throw new PotFormatException("key file: not valid UTF-8 text");
        }
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(file.ToArray(), new JsonDocumentOptions { MaxDepth = 4 });
        }
        catch (JsonException ex)
        {
            throw new PotFormatException($"key file: not valid JSON ({ex.Message})", ex);
        }
        using (doc)
        {
            JsonElement root = doc.RootElement;
            ExpectMembers(root, "key file", "format", "version", "algorithm", "publicKey", "address", "kdf", "cipher");
            ExpectString(root, "format", FormatName, "key file");
            if (GetInt(root, "version", "key file") != Version)
            {
                throw new PotFormatException($"key file: version {root.GetProperty("version")}; this build reads version {Version}");
            }
            ExpectString(root, "algorithm", "ed25519", "key file");
            byte[] publicKey = Hex.Decode(GetString(root, "publicKey", "key file"), "key file publicKey", Ed25519Keys.PublicKeySize);
            string address = GetString(root, "address", "key file");
            string expectedAddress = AccountAddress.FromPublicKey(publicKey);
            if (address != expectedAddress)
            {
                throw new PotFormatException($"key file: address {address} does not belong to the public key; expected {expectedAddress}");
            }

            JsonElement kdf = root.GetProperty("kdf");
            ExpectMembers(kdf, "key file kdf", "algorithm", "memoryKiB", "passes", "parallelism", "salt");
            ExpectString(kdf, "algorithm", "argon2id", "key file kdf");
            int memory = GetInt(kdf, "memoryKiB", "key file kdf");
            int passes = GetInt(kdf, "passes", "key file kdf");
            int parallelism = GetInt(kdf, "parallelism", "key file kdf");
            CheckKdf(memory, passes, parallelism, e => new PotFormatException("key file kdf: " + e));
            byte[] salt = Hex.Decode(GetString(kdf, "salt", "key file kdf"), "key file kdf salt", SaltSize);

            JsonElement cipher = root.GetProperty("cipher");
            ExpectMembers(cipher, "key file cipher", "algorithm", "nonce", "ciphertext");
            ExpectString(cipher, "algorithm", "chacha20-poly1305", "key file cipher");
            byte[] nonce = Hex.Decode(GetString(cipher, "nonce", "key file cipher"), "key file cipher nonce", Cipher.NonceSize);
            byte[] ciphertext = Hex.Decode(GetString(cipher, "ciphertext", "key file cipher"), "key file cipher ciphertext", Ed25519Keys.SeedSize + Cipher.TagSize);
            return new Parsed(publicKey, new KeyFileKdfParameters(memory, passes), salt, nonce, ciphertext);
        }
    }

    private static void CheckKdf(int memoryKiB, int passes, int parallelism, Func<string, Exception> error)
    {
        if (memoryKiB < KeyFileKdfParameters.MinMemoryKiB || memoryKiB > KeyFileKdfParameters.MaxMemoryKiB)
        {
            throw error($"memoryKiB {memoryKiB} is outside [{KeyFileKdfParameters.MinMemoryKiB}, {KeyFileKdfParameters.MaxMemoryKiB}]");
        }
        if (passes < 1 || passes > KeyFileKdfParameters.MaxPasses)
        {
            throw error($"passes {passes} is outside [1, {KeyFileKdfParameters.MaxPasses}]");
        }
        if (parallelism != 1)
        {
            throw error($"parallelism {parallelism}; only 1 is supported (libsodium's Argon2id)");
        }
    }

    private static Key DeriveKey(string passphrase, byte[] salt, KeyFileKdfParameters kdf)
    {
        var argon = PasswordBasedKeyDerivationAlgorithm.Argon2id(new Argon2Parameters
        {
            DegreeOfParallelism = 1,
            MemorySize = kdf.MemoryKiB,
            NumberOfPasses = kdf.Passes,
        });
        return argon.DeriveKey(System.Text.Encoding.UTF8.GetBytes(passphrase), salt, Cipher);
    }

    private static byte[] AssociatedData(byte[] publicKey, KeyFileKdfParameters kdf, byte[] salt) =>
        System.Text.Encoding.UTF8.GetBytes($"pot-key/v1|ed25519|{Hex.Encode(publicKey)}|argon2id|{kdf.MemoryKiB}|{kdf.Passes}|1|{Hex.Encode(salt)}");

    private static void ExpectMembers(JsonElement element, string what, params string[] names)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw new PotFormatException($"{what}: expected a JSON object, found {element.ValueKind}");
        }
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (JsonProperty property in element.EnumerateObject())
        {
            if (Array.IndexOf(names, property.Name) < 0)
            {
                throw new PotFormatException($"{what}: unknown member \"{property.Name}\"; expected only {string.Join(", ", names)}");
            }
            if (!seen.Add(property.Name))
            {
                throw new PotFormatException($"{what}: member \"{property.Name}\" appears twice");
            }
        }
        foreach (string name in names)
        {
            if (!seen.Contains(name))
            {
                throw new PotFormatException($"{what}: missing member \"{name}\"");
            }
        }
    }

    private static string GetString(JsonElement element, string name, string what)
    {
        JsonElement value = element.GetProperty(name);
        if (value.ValueKind != JsonValueKind.String)
        {
            throw new PotFormatException($"{what}: \"{name}\" must be a string, found {value.ValueKind}");
        }
        try
        {
            return value.GetString()!;
        }
        catch (InvalidOperationException ex)
        {
            throw new PotFormatException($"{what}: \"{name}\" is not a valid string ({ex.Message})", ex);
        }
    }

    private static void ExpectString(JsonElement element, string name, string expected, string what)
    {
        string actual = GetString(element, name, what);
        if (actual != expected)
        {
            throw new PotFormatException($"{what}: \"{name}\" is \"{actual}\"; expected \"{expected}\"");
        }
    }

    private static int GetInt(JsonElement element, string name, string what)
    {
        JsonElement value = element.GetProperty(name);
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out int result))
        {
            throw new PotFormatException($"{what}: \"{name}\" must be a 32-bit integer, found {value.GetRawText()}");
        }
        return result;
    }
}
