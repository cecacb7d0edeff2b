using Pot.Commitments.Keys;

namespace Pot.Commitments.Canonical;

/// <summary>
/// A signed protocol object in canonical form: what it is (message type), who signed it, the payload
/// (itself a canonical encoding), and an Ed25519 signature over type and body.
/// </summary>
/// <remarks>
/// Encoding: version byte (1) ‖ message type (varint length 1–64, ASCII a-z 0-9 / - . _) ‖ signer
/// public key (32 bytes) ‖ payload (varint length ≤ <see cref="MaxPayloadBytes"/>, then bytes) ‖
/// signature (64 bytes). The signature is <see cref="Ed25519Keys.Sign"/> with the message type as the
/// domain and everything before the signature (the body) as the message, so a signature never
/// transfers to another type, signer or payload.
/// </remarks>
public sealed class SignedMessage
{
    /// <summary>Encoding version.</summary>
    public const byte FormatVersion = 1;

    /// <summary>Largest payload accepted by the decoder (1 MiB).</summary>
    public const int MaxPayloadBytes = 1 << 20;

    private readonly byte[] _signerPublicKey;
    private readonly byte[] _payload;
    private readonly byte[] _signature;

    private SignedMessage(string messageType, byte[] signerPublicKey, byte[] payload, byte[] signature)
    {
        MessageType = messageType;
        _signerPublicKey = signerPublicKey;
        _payload = payload;
        _signature = signature;
    }

    /// <summary>The message type, also the signature domain.</summary>
    public string MessageType { get; }

    /// <summary>The signer's 32-byte public key.</summary>
    public ReadOnlySpan<byte> SignerPublicKey => _signerPublicKey;

    /// <summary>The payload bytes.</summary>
    public ReadOnlySpan<byte> Payload => _payload;

    /// <summary>The 64-byte signature.</summary>
    public ReadOnlySpan<byte> Signature => _signature;

    /// <summary>Signer's account address.</summary>
    public string SignerAddress => AccountAddress.FromPublicKey(_signerPublicKey);

    /// <summary>Creates and signs a message.</summary>
    /// <param name="key">The signing key.</param>
    /// <param name="messageType">The message type.</param>
    /// <param name="payload">The payload.</param>
    /// <returns>The signed message.</returns>
    public static SignedMessage Sign(Ed25519Keys key, string messageType, ReadOnlySpan<byte> payload)
    {
        ArgumentNullException.ThrowIfNull(key);
        Ed25519Keys.ValidateMessageType(messageType);
        if (payload.Length > MaxPayloadBytes)
        {
            throw new ArgumentException($"payload is {payload.Length} bytes; at most {MaxPayloadBytes}", nameof(payload));
        }
        byte[] body = EncodeBody(messageType, key.PublicKey, payload);
        return new SignedMessage(messageType, key.PublicKey, payload.ToArray(), key.Sign(messageType, body));
    }

    /// <summary>True when the signature is valid for this type, signer and payload.</summary>
    /// <returns>Whether the signature verifies.</returns>
    public bool VerifySignature() => Ed25519Keys.Verify(_signerPublicKey, MessageType, EncodeBody(MessageType, _signerPublicKey, _payload), _signature);

    /// <summary>True when the signature verifies and the message has the expected type.</summary>
    /// <param name="expectedType">The type the caller is prepared to act on.</param>
    /// <returns>Whether both hold.</returns>
    public bool VerifySignature(string expectedType) => MessageType == expectedType && VerifySignature();

    /// <summary>The canonical encoding.</summary>
    /// <returns>The bytes.</returns>
    public byte[] Encode()
    {
        var w = new CanonicalWriter(_payload.Length + 128);
        w.WriteFixed(EncodeBody(MessageType, _signerPublicKey, _payload));
        w.WriteFixed(_signature);
        return w.ToArray();
    }

    /// <summary>Decodes a canonical encoding (the signature is not checked here; call <see cref="VerifySignature()"/>).</summary>
    /// <param name="data">The bytes.</param>
    /// <returns>The message.</returns>
    /// <exception cref="PotFormatException">The bytes are not a canonical signed message.</exception>
    public static SignedMessage Decode(ReadOnlySpan<byte> data)
    {
        var r = new CanonicalReader(data, "signed message");
        r.ExpectByte(FormatVersion, "version");
        int typeOffset = r.Offset;
        string type = r.ReadString(Ed25519Keys.MaxMessageTypeLength, "message type");
        try
        {
            Ed25519Keys.ValidateMessageType(type);
        }
        catch (ArgumentException ex)
        {
            throw new PotFormatException($"signed message at byte {typeOffset}: {ex.Message}");
        }
        byte[] signer = r.ReadFixed(Ed25519Keys.PublicKeySize, "signer public key").ToArray();
        byte[] payload = r.ReadBytes(MaxPayloadBytes, "payload").ToArray();
        byte[] signature = r.ReadFixed(Ed25519Keys.SignatureSize, "signature").ToArray();
        r.EnsureEnd();
        return new SignedMessage(type, signer, payload, signature);
    }

    private static byte[] EncodeBody(string messageType, ReadOnlySpan<byte> signer, ReadOnlySpan<byte> payload)
    {
        var w = new CanonicalWriter(payload.Length + 64);
        w.WriteByte(FormatVersion);
        w.WriteString(messageType);
        w.WriteFixed(signer);
        w.WriteBytes(payload);
        return w.ToArray();
    }
}
