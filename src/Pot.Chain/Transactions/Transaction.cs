using System.Security.Cryptography;
using Pot.Commitments;
using Pot.Commitments.Canonical;
using Pot.Commitments.Keys;

namespace Pot.Chain.Transactions;

/// <summary>
/// A signed transaction. Encoding: version (1) ‖ chain id (string) ‖ type (byte) ‖ sender public key
/// (32) ‖ nonce (varint) ‖ fee (varint) ‖ payload ‖ Ed25519 signature (64). The signature is
/// <see cref="Ed25519Keys.Sign"/> with message type <see cref="SignatureType"/> over every byte before
/// it; the transaction hash is SHA-256 of the whole encoding.
/// </summary>
public sealed class Transaction
{
    /// <summary>Encoding version.</summary>
    public const byte FormatVersion = 1;

    /// <summary>Message type of transaction signatures (domain separation).</summary>
    public const string SignatureType = "pot/tx";

    private readonly byte[] _encoded;

    private Transaction(string chainId, byte[] senderPublicKey, ulong nonce, ulong fee, TransactionPayload payload, byte[] signature, byte[] encoded)
    {
        ChainId = chainId;
        SenderPublicKey = senderPublicKey;
        Nonce = nonce;
        Fee = fee;
        Payload = payload;
        Signature = signature;
        _encoded = encoded;
        Hash = SHA256.HashData(encoded);
        Sender = AccountAddress.BytesFromPublicKey(senderPublicKey);
    }

    /// <summary>The chain this transaction is valid on.</summary>
    public string ChainId { get; }

    /// <summary>32-byte Ed25519 public key of the sender.</summary>
    public byte[] SenderPublicKey { get; }

    /// <summary>20-byte address of the sender.</summary>
    public byte[] Sender { get; }

    /// <summary>Must equal the sender account's nonce; incremented when the transaction executes.</summary>
    public ulong Nonce { get; }

    /// <summary>Fee paid by the sender, at least size × minFeePerByte.</summary>
    public ulong Fee { get; }

    /// <summary>The type-specific part.</summary>
    public TransactionPayload Payload { get; }

    /// <summary>The transaction's type.</summary>
    public TransactionType Type => Payload.Type;

    /// <summary>64-byte signature.</summary>
    public byte[] Signature { get; }

    /// <summary>SHA-256 of the encoding: the transaction id (and the submission id of a submit).</summary>
    public byte[] Hash { get; }

    /// <summary>Size of the encoding in bytes.</summary>
    public int Size => _encoded.Length;

    /// <summary>The canonical encoding (a copy).</summary>
    /// <returns>The bytes.</returns>
    public byte[] Encode() => (byte[])_encoded.Clone();

    /// <summary>The canonical encoding without copying (callers must not modify it).</summary>
    public ReadOnlySpan<byte> EncodedSpan => _encoded;

    /// <summary>Builds and signs a transaction.</summary>
    /// <param name="chainId">Chain id.</param>
    /// <param name="sender">The sender's key.</param>
    /// <param name="nonce">The sender account's current nonce.</param>
    /// <param name="fee">Fee.</param>
    /// <param name="payload">Payload.</param>
    /// <returns>The signed transaction.</returns>
    public static Transaction Create(string chainId, Ed25519Keys sender, ulong nonce, ulong fee, TransactionPayload payload)
    {
        ArgumentNullException.ThrowIfNull(sender);
        ArgumentNullException.ThrowIfNull(payload);
        if (ChainLimits.CheckChainId(chainId) is string error)
        {
            throw new ArgumentException(error, nameof(chainId));
        }
        byte[] body = EncodeUnsigned(chainId, sender.PublicKey, nonce, fee, payload);
        byte[] signature = sender.Sign(SignatureType, body);
        byte[] encoded = new byte[body.Length + Ed25519Keys.SignatureSize];
        body.CopyTo(encoded, 0);
        signature.CopyTo(encoded, body.Length);
        return new Transaction(chainId, (byte[])sender.PublicKey.Clone(), nonce, fee, payload, signature, encoded);
    }

    /// <summary>The bytes the signature covers.</summary>
    /// <param name="chainId">Chain id.</param>
    /// <param name="senderPublicKey">Sender public key.</param>
    /// <param name="nonce">Nonce.</param>
    /// <param name="fee">Fee.</param>
    /// <param name="payload">Payload.</param>
    /// <returns>The unsigned encoding.</returns>
    public static byte[] EncodeUnsigned(string chainId, ReadOnlySpan<byte> senderPublicKey, ulong nonce, ulong fee, TransactionPayload payload)
    {
        ArgumentNullException.ThrowIfNull(payload);
        var w = new CanonicalWriter(160);
        w.WriteByte(FormatVersion);
        w.WriteString(chainId);
        w.WriteByte((byte)payload.Type);
        w.WriteFixed(senderPublicKey);
        w.WriteVarUInt64(nonce);
        w.WriteVarUInt64(fee);
        payload.Write(w);
        return w.ToArray();
    }

    /// <summary>Decodes a transaction with hard size limits. The signature is not checked here (see <see cref="VerifySignature"/>).</summary>
    /// <param name="data">The encoding.</param>
    /// <returns>The transaction.</returns>
    /// <exception cref="PotFormatException">Oversized, truncated, non-canonical or otherwise malformed bytes.</exception>
    public static Transaction Decode(ReadOnlySpan<byte> data)
    {
        if (data.Length > ChainLimits.MaxTransactionBytes)
        {
            throw new PotFormatException($"transaction: {data.Length} bytes; the limit is {ChainLimits.MaxTransactionBytes}");
        }
        var r = new CanonicalReader(data, "transaction");
        r.ExpectByte(FormatVersion, "version");
        string chainId = r.ReadString(ChainLimits.MaxChainIdBytes, "chain id");
        if (ChainLimits.CheckChainId(chainId) is string error)
        {
            throw r.Error(error);
        }
        byte type = r.ReadByte("type");
        byte[] sender = r.ReadFixed(Ed25519Keys.PublicKeySize, "sender public key").ToArray();
        ulong nonce = r.ReadVarUInt64(ulong.MaxValue, "nonce");
        ulong fee = r.ReadVarUInt64(ulong.MaxValue, "fee");
        var payload = TransactionPayload.Read(type, ref r);
        byte[] signature = r.ReadFixed(Ed25519Keys.SignatureSize, "signature").ToArray();
        r.EnsureEnd();
        return new Transaction(chainId, sender, nonce, fee, payload, signature, data.ToArray());
    }

    /// <summary>True when the signature is the sender's over the unsigned encoding with type <see cref="SignatureType"/>.</summary>
    /// <returns>Whether it verifies.</returns>
    public bool VerifySignature() =>
        Ed25519Keys.Verify(SenderPublicKey, SignatureType, _encoded.AsSpan(0, _encoded.Length - Ed25519Keys.SignatureSize), Signature);

    /// <summary>Short description for logs and errors: type, sender, nonce and hash prefix.</summary>
    /// <returns>The description.</returns>
    public override string ToString() => $"{Type} tx {Hex.Encode(Hash.AsSpan(0, 8))} from {AccountAddress.Prefix}{Hex.Encode(Sender)} nonce {Nonce}";
}
