using System.Security.Cryptography;
using Pot.Chain.State;
using Pot.Chain.Transactions;
using Pot.Commitments;
using Pot.Commitments.Canonical;
using Pot.Commitments.Keys;
using Pot.Commitments.Merkle;

namespace Pot.Chain.Blocks;

/// <summary>A task's model root as set by a block (create task or finalize round).</summary>
/// <param name="TaskId">Task id.</param>
/// <param name="ModelRoot">32-byte model root.</param>
public sealed record TaskModelRoot(ulong TaskId, byte[] ModelRoot);

/// <summary>
/// A block header. Encoding: version (1) ‖ chain id ‖ height ‖ previous hash (32) ‖ time ms ‖
/// proposer address (20) ‖ view ‖ state root (32) ‖ transactions root (32) ‖ count ‖ (task id ‖
/// model root)*. Integers are minimal varints. The header hash is SHA-256 of the encoding.
/// </summary>
/// <param name="ChainId">Chain id.</param>
/// <param name="Height">Height (genesis is 0).</param>
/// <param name="PreviousHash">Hash of the parent header (all zero for genesis).</param>
/// <param name="TimeMs">Proposer-supplied Unix time in milliseconds; strictly above the parent's.</param>
/// <param name="Proposer">20-byte address of the proposing validator (receives the non-burned fees).</param>
/// <param name="View">PBFT view in which the block was proposed.</param>
/// <param name="StateRoot">State root after executing the block.</param>
/// <param name="TransactionsRoot">RFC 6962 root over the transaction hashes in block order.</param>
/// <param name="ModelRoots">Model roots set by this block, strictly ascending by task id.</param>
public sealed record BlockHeader(string ChainId, ulong Height, byte[] PreviousHash, ulong TimeMs, byte[] Proposer, ulong View, byte[] StateRoot,
    byte[] TransactionsRoot, IReadOnlyList<TaskModelRoot> ModelRoots)
{
    /// <summary>Encoding version.</summary>
    public const byte FormatVersion = 1;

    /// <summary>Canonical encoding.</summary>
    /// <returns>The bytes.</returns>
    public byte[] Encode()
    {
        var w = new CanonicalWriter(200 + ModelRoots.Count * 40);
        Write(w);
        return w.ToArray();
    }

    /// <summary>Writes the canonical encoding.</summary>
    /// <param name="w">The writer.</param>
    public void Write(CanonicalWriter w)
    {
        ArgumentNullException.ThrowIfNull(w);
        w.WriteByte(FormatVersion);
        w.WriteString(ChainId);
        w.WriteVarUInt64(Height);
        w.WriteFixed(PreviousHash);
        w.WriteVarUInt64(TimeMs);
        w.WriteFixed(Proposer);
        w.WriteVarUInt64(View);
        w.WriteFixed(StateRoot);
        w.WriteFixed(TransactionsRoot);
        w.WriteVarUInt64((ulong)ModelRoots.Count);
        foreach (var m in ModelRoots)
        {
            w.WriteVarUInt64(m.TaskId);
            w.WriteFixed(m.ModelRoot);
        }
    }

    /// <summary>SHA-256 of the encoding.</summary>
    /// <returns>32 bytes.</returns>
    public byte[] Hash() => SHA256.HashData(Encode());

    /// <summary>Reads a header.</summary>
    /// <param name="r">The reader.</param>
    /// <returns>The header.</returns>
    public static BlockHeader Read(ref CanonicalReader r)
    {
        r.ExpectByte(FormatVersion, "header version");
        string chainId = r.ReadString(ChainLimits.MaxChainIdBytes, "chain id");
        if (ChainLimits.CheckChainId(chainId) is string error)
        {
            throw r.Error(error);
        }
        ulong height = r.ReadVarUInt64(ulong.MaxValue, "height");
        byte[] prev = r.ReadFixed(32, "previous hash").ToArray();
        ulong time = r.ReadVarUInt64(ulong.MaxValue, "time");
        byte[] proposer = r.ReadFixed(AccountAddress.Size, "proposer").ToArray();
        ulong view = r.ReadVarUInt64(ulong.MaxValue, "view");
        byte[] stateRoot = r.ReadFixed(32, "state root").ToArray();
        byte[] txRoot = r.ReadFixed(32, "transactions root").ToArray();
        int count = r.ReadVarInt32(ChainLimits.MaxHeaderModelRoots, "model root count");
        var roots = new TaskModelRoot[count];
        for (int i = 0; i < count; i++)
        {
            roots[i] = new TaskModelRoot(r.ReadVarUInt64(ulong.MaxValue, "task id"), r.ReadFixed(32, "model root").ToArray());
            if (i > 0 && roots[i].TaskId <= roots[i - 1].TaskId)
            {
                throw r.Error("model roots must be strictly ascending by task id");
            }
        }
        return new BlockHeader(chainId, height, prev, time, proposer, view, stateRoot, txRoot, roots);
    }

    /// <summary>Decodes a header encoding.</summary>
    /// <param name="data">The bytes.</param>
    /// <returns>The header.</returns>
    public static BlockHeader Decode(ReadOnlySpan<byte> data)
    {
        var r = new CanonicalReader(data, "block header");
        var h = Read(ref r);
        r.EnsureEnd();
        return h;
    }
}

/// <summary>
/// A block: header, then a varint count and the length-prefixed transaction encodings.
/// </summary>
public sealed class Block
{
    /// <summary>Creates a block.</summary>
    /// <param name="header">The header.</param>
    /// <param name="transactions">The transactions in execution order.</param>
    public Block(BlockHeader header, IReadOnlyList<Transaction> transactions)
    {
        Header = header ?? throw new ArgumentNullException(nameof(header));
        Transactions = transactions ?? throw new ArgumentNullException(nameof(transactions));
        Hash = header.Hash();
    }

    /// <summary>The header.</summary>
    public BlockHeader Header { get; }

    /// <summary>The transactions.</summary>
    public IReadOnlyList<Transaction> Transactions { get; }

    /// <summary>The header hash (the block id).</summary>
    public byte[] Hash { get; }

    /// <summary>RFC 6962 root over the transaction hashes, as each leaf's data.</summary>
    /// <param name="transactions">Transactions in block order.</param>
    /// <returns>32 bytes (SHA-256 of nothing for an empty block).</returns>
    public static byte[] ComputeTransactionsRoot(IReadOnlyList<Transaction> transactions)
    {
        ArgumentNullException.ThrowIfNull(transactions);
        var hashes = new byte[transactions.Count * MerkleHash.Size];
        for (int i = 0; i < transactions.Count; i++)
        {
            MerkleHash.HashLeaf(transactions[i].Hash, hashes.AsSpan(i * MerkleHash.Size, MerkleHash.Size));
        }
        return MerkleTree.ComputeRootFromLeafHashes(hashes);
    }

    /// <summary>Canonical encoding.</summary>
    /// <returns>The bytes.</returns>
    public byte[] Encode()
    {
        int size = 256;
        foreach (var t in Transactions)
        {
            size += t.Size + 4;
        }
        var w = new CanonicalWriter(size);
        Header.Write(w);
        w.WriteVarUInt64((ulong)Transactions.Count);
        foreach (var t in Transactions)
        {
            w.WriteBytes(t.EncodedSpan);
        }
        return w.ToArray();
    }

    /// <summary>Decodes a block with hard limits (signatures are checked by execution, not here).</summary>
    /// <param name="data">The bytes.</param>
    /// <returns>The block.</returns>
    /// <exception cref="PotFormatException">Oversized or malformed bytes.</exception>
    public static Block Decode(ReadOnlySpan<byte> data)
    {
        if (data.Length > ChainLimits.MaxBlockBytes)
        {
            throw new PotFormatException($"block: {data.Length} bytes; the limit is {ChainLimits.MaxBlockBytes}");
        }
        var r = new CanonicalReader(data, "block");
        var header = BlockHeader.Read(ref r);
        int count = r.ReadVarInt32(ChainLimits.MaxBlockTransactions, "transaction count");
        var txs = new Transaction[count];
        for (int i = 0; i < count; i++)
        {
            int offset = r.Offset;
            var bytes = r.ReadBytes(ChainLimits.MaxTransactionBytes, $"transaction {i}");
            try
            {
                txs[i] = Transaction.Decode(bytes);
            }
            catch (PotFormatException ex)
            {
                throw new PotFormatException($"block at byte {offset}: transaction {i}: {ex.Message}", ex);
            }
        }
        r.EnsureEnd();
        return new Block(header, txs);
    }
}

/// <summary>A validator's commit signature.</summary>
/// <param name="Validator">20-byte validator address.</param>
/// <param name="Signature">64-byte Ed25519 signature of type <see cref="CommitCertificate.SignatureType"/> over the header hash.</param>
public sealed record CommitSignature(byte[] Validator, byte[] Signature);

/// <summary>
/// The commit certificate of a block: signatures by at least 2f + 1 distinct members of the validator
/// set (as of the parent state) over the 32-byte header hash, with message type "pot/block-commit",
/// strictly ascending by validator address. Encoding: varint count ‖ (address (20) ‖ signature (64))*.
/// </summary>
/// <param name="Signatures">The signatures.</param>
public sealed record CommitCertificate(IReadOnlyList<CommitSignature> Signatures)
{
    /// <summary>Message type of commit signatures.</summary>
    public const string SignatureType = "pot/block-commit";

    /// <summary>An empty certificate (genesis has none).</summary>
    public static CommitCertificate Empty { get; } = new([]);

    /// <summary>Signs a header hash with each key and sorts the signatures by address.</summary>
    /// <param name="headerHash">The 32-byte header hash.</param>
    /// <param name="validators">Signing keys.</param>
    /// <returns>The certificate.</returns>
    public static CommitCertificate Sign(ReadOnlySpan<byte> headerHash, IEnumerable<Ed25519Keys> validators)
    {
        ArgumentNullException.ThrowIfNull(validators);
        var list = new List<CommitSignature>();
        foreach (var k in validators)
        {
            list.Add(new CommitSignature(AccountAddress.BytesFromPublicKey(k.PublicKey), k.Sign(SignatureType, headerHash)));
        }
        list.Sort((a, b) => ByteOrder.Compare(a.Validator, b.Validator));
        return new CommitCertificate(list);
    }

    /// <summary>Canonical encoding.</summary>
    /// <returns>The bytes.</returns>
    public byte[] Encode()
    {
        var w = new CanonicalWriter(4 + Signatures.Count * 84);
        w.WriteVarUInt64((ulong)Signatures.Count);
        foreach (var s in Signatures)
        {
            w.WriteFixed(s.Validator);
            w.WriteFixed(s.Signature);
        }
        return w.ToArray();
    }

    /// <summary>Decodes <see cref="Encode"/>'s output.</summary>
    /// <param name="data">The bytes.</param>
    /// <returns>The certificate (signatures not yet verified).</returns>
    /// <exception cref="PotFormatException">Malformed bytes, duplicates or wrong order.</exception>
    public static CommitCertificate Decode(ReadOnlySpan<byte> data)
    {
        var r = new CanonicalReader(data, "commit certificate");
        int count = r.ReadVarInt32(ChainLimits.MaxValidators, "signature count");
        var list = new CommitSignature[count];
        for (int i = 0; i < count; i++)
        {
            list[i] = new CommitSignature(r.ReadFixed(AccountAddress.Size, "validator").ToArray(), r.ReadFixed(Ed25519Keys.SignatureSize, "signature").ToArray());
            if (i > 0 && ByteOrder.Compare(list[i].Validator, list[i - 1].Validator) <= 0)
            {
                throw r.Error("signatures must be strictly ascending by validator address (no duplicates)");
            }
        }
        r.EnsureEnd();
        return new CommitCertificate(list);
    }

    /// <summary>Checks the certificate against a validator set and the accounts holding their public keys.</summary>
    /// <param name="headerHash">The header hash that was signed.</param>
    /// <param name="validators">The validator set of the parent state.</param>
    /// <param name="publicKeyOf">Returns a validator's public key (null if unknown).</param>
    /// <returns>Null when valid, else what is wrong.</returns>
    public string? Check(ReadOnlySpan<byte> headerHash, ValidatorSet validators, Func<byte[], byte[]?> publicKeyOf)
    {
        ArgumentNullException.ThrowIfNull(validators);
        ArgumentNullException.ThrowIfNull(publicKeyOf);
        int valid = 0;
        for (int i = 0; i < Signatures.Count; i++)
        {
            var s = Signatures[i];
            if (i > 0 && ByteOrder.Compare(s.Validator, Signatures[i - 1].Validator) <= 0)
            {
                return "certificate signatures are not strictly ascending by validator (duplicate signer?)";
            }
            if (!validators.Contains(s.Validator))
            {
                return $"certificate signer {AddressText.Of(s.Validator)} is not in the validator set";
            }
            byte[]? key = publicKeyOf(s.Validator);
            if (key is null || !Ed25519Keys.Verify(key, SignatureType, headerHash, s.Signature))
            {
                return $"certificate signature of {AddressText.Of(s.Validator)} does not verify over header {Hex.Encode(headerHash)}";
            }
            valid++;
        }
        if (valid < validators.Quorum)
        {
            return $"certificate has {valid} valid signatures; a quorum of 2f+1 = {validators.Quorum} of {validators.Addresses.Count} validators is needed";
        }
        return null;
    }
}
