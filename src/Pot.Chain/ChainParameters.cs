using Pot.Commitments;
using Pot.Commitments.Canonical;

namespace Pot.Chain;

/// <summary>
/// Hard size limits of the chain's formats. They are constants, not genesis parameters, because a
/// decoder must bound its work before it knows which chain a message belongs to.
/// </summary>
public static class ChainLimits
{
    /// <summary>Largest encoded transaction in bytes.</summary>
    public const int MaxTransactionBytes = 128 * 1024;

    /// <summary>Largest encoded block (header and body) in bytes.</summary>
    public const int MaxBlockBytes = 8 * 1024 * 1024;

    /// <summary>Most transactions in one block.</summary>
    public const int MaxBlockTransactions = 10_000;

    /// <summary>Longest chain id in bytes (ASCII a-z, 0-9, '-').</summary>
    public const int MaxChainIdBytes = 64;

    /// <summary>Largest model specification of a task in bytes.</summary>
    public const int MaxModelSpecBytes = 64 * 1024;

    /// <summary>Largest opaque hyper-parameter blob of a task in bytes.</summary>
    public const int MaxHyperParameterBytes = 4 * 1024;

    /// <summary>Most claimed losses in one submission.</summary>
    public const int MaxClaimedLosses = 1024;

    /// <summary>Most check indices (replayed steps plus sampled leaves) in one attestation.</summary>
    public const int MaxAttestationChecks = 1024;

    /// <summary>Largest fraud-proof evidence in bytes.</summary>
    public const int MaxEvidenceBytes = 64 * 1024;

    /// <summary>Most submissions one task accepts per round.</summary>
    public const int MaxSubmissionsPerRound = 4096;

    /// <summary>Most attestations recorded per submission.</summary>
    public const int MaxAttestationsPerSubmission = 256;

    /// <summary>Most validators in the validator set.</summary>
    public const int MaxValidators = 256;

    /// <summary>Most per-task model roots in one block header.</summary>
    public const int MaxHeaderModelRoots = 1024;

    /// <summary>Parts per million: the denominator of every fraction parameter.</summary>
    public const uint Ppm = 1_000_000;

    /// <summary>Checks a chain id: 1 to 64 characters of a-z, 0-9 and '-'.</summary>
    /// <param name="chainId">The chain id.</param>
    /// <returns>Null when valid, else what is wrong.</returns>
    public static string? CheckChainId(string? chainId)
    {
        if (string.IsNullOrEmpty(chainId) || chainId.Length > MaxChainIdBytes)
        {
            return $"chain id '{chainId}' must be 1 to {MaxChainIdBytes} characters";
        }
        foreach (char c in chainId)
        {
            if (!(c is >= 'a' and <= 'z' or >= '0' and <= '9' or '-'))
            {
                return $"chain id '{chainId}' contains '{c}'; allowed are a-z, 0-9 and '-'";
            }
        }
        return null;
    }
}

/// <summary>
/// Economic and protocol parameters fixed at genesis and committed in the state (so the state root
/// covers them). Fractions are in parts per million (<see cref="ChainLimits.Ppm"/>).
/// </summary>
public sealed record ChainParameters
{
    /// <summary>Blocks between an unbond transaction and the release of its stake to the balance.</summary>
    public ulong UnbondingDelayBlocks { get; init; } = 20;

    /// <summary>Minimum fee per encoded transaction byte.</summary>
    public ulong MinFeePerByte { get; init; } = 1;

    /// <summary>Fraction of every fee that is burned; the rest is paid to the block's proposer.</summary>
    public uint FeeBurnPpm { get; init; } = 500_000;

    /// <summary>Fraction of every slash that is burned; the rest is paid to the fraud prover (all burned when there is none).</summary>
    public uint SlashBurnPpm { get; init; } = 500_000;

    /// <summary>Fraction of a miner's stake slashed for a submission rejected by an upheld fraud proof.</summary>
    public uint MinerSlashPpm { get; init; } = 100_000;

    /// <summary>Fraction of a verifier's stake slashed for an accept attestation contradicted by an upheld fraud proof.</summary>
    public uint FalseAttestationSlashPpm { get; init; } = 50_000;

    /// <summary>Fraction of a round's reward paid to verifiers whose attestations agree with the outcome.</summary>
    public uint VerifierRewardPpm { get; init; } = 100_000;

    /// <summary>Stake needed to register the validator role.</summary>
    public ulong MinStakeValidator { get; init; } = 1_000;

    /// <summary>Stake needed to register the miner role.</summary>
    public ulong MinStakeMiner { get; init; } = 100;

    /// <summary>Stake needed to register the verifier role.</summary>
    public ulong MinStakeVerifier { get; init; } = 100;

    /// <summary>Most transactions a block may carry (at most <see cref="ChainLimits.MaxBlockTransactions"/>).</summary>
    public uint MaxBlockTransactions { get; init; } = 5_000;

    /// <summary>Largest encoded block in bytes (at most <see cref="ChainLimits.MaxBlockBytes"/>).</summary>
    public uint MaxBlockBytes { get; init; } = 4 * 1024 * 1024;

    /// <summary>Largest verification window W of a task, in blocks; must be below the unbonding delay so a miner cannot unbond before its round is judged.</summary>
    public ulong MaxWindowBlocks { get; init; } = 10;

    /// <summary>
    /// Checks the parameters for consistency.
    /// </summary>
    /// <returns>Null when valid, else what is wrong and what was expected.</returns>
    public string? Check()
    {
        foreach (var (name, value) in new[] { ("feeBurnPpm", FeeBurnPpm), ("slashBurnPpm", SlashBurnPpm), ("minerSlashPpm", MinerSlashPpm), ("falseAttestationSlashPpm", FalseAttestationSlashPpm), ("verifierRewardPpm", VerifierRewardPpm) })
        {
            if (value > ChainLimits.Ppm)
            {
                return $"{name} is {value}; expected at most {ChainLimits.Ppm} (parts per million)";
            }
        }
        if (MaxBlockTransactions < 1 || MaxBlockTransactions > ChainLimits.MaxBlockTransactions)
        {
            return $"maxBlockTransactions is {MaxBlockTransactions}; expected 1 to {ChainLimits.MaxBlockTransactions}";
        }
        if (MaxBlockBytes < 1024 || MaxBlockBytes > ChainLimits.MaxBlockBytes)
        {
            return $"maxBlockBytes is {MaxBlockBytes}; expected 1024 to {ChainLimits.MaxBlockBytes}";
        }
        if (MaxWindowBlocks < 1 || UnbondingDelayBlocks <= MaxWindowBlocks)
        {
            return $"unbondingDelayBlocks ({UnbondingDelayBlocks}) must exceed maxWindowBlocks ({MaxWindowBlocks}) and maxWindowBlocks must be at least 1, so stake cannot leave before its round is judged";
        }
        if (MinStakeValidator == 0 || MinStakeMiner == 0 || MinStakeVerifier == 0)
        {
            return "every minimum role stake must be at least 1";
        }
        return null;
    }

    /// <summary>Canonical encoding (the state stores it under the parameters key).</summary>
    /// <returns>The bytes.</returns>
    public byte[] Encode()
    {
        var w = new CanonicalWriter(96);
        w.WriteByte(1);
        w.WriteVarUInt64(UnbondingDelayBlocks);
        w.WriteVarUInt64(MinFeePerByte);
        w.WriteVarUInt64(FeeBurnPpm);
        w.WriteVarUInt64(SlashBurnPpm);
        w.WriteVarUInt64(MinerSlashPpm);
        w.WriteVarUInt64(FalseAttestationSlashPpm);
        w.WriteVarUInt64(VerifierRewardPpm);
        w.WriteVarUInt64(MinStakeValidator);
        w.WriteVarUInt64(MinStakeMiner);
        w.WriteVarUInt64(MinStakeVerifier);
        w.WriteVarUInt64(MaxBlockTransactions);
        w.WriteVarUInt64(MaxBlockBytes);
        w.WriteVarUInt64(MaxWindowBlocks);
        return w.ToArray();
    }

    /// <summary>Decodes <see cref="Encode"/>'s output.</summary>
    /// <param name="data">The bytes.</param>
    /// <returns>The parameters.</returns>
    /// <exception cref="PotFormatException">Malformed bytes.</exception>
    public static ChainParameters Decode(ReadOnlySpan<byte> data)
    {
        var r = new CanonicalReader(data, "chain parameters");
        r.ExpectByte(1, "version");
        var p = new ChainParameters
        {
            UnbondingDelayBlocks = r.ReadVarUInt64(ulong.MaxValue, "unbondingDelayBlocks"),
            MinFeePerByte = r.ReadVarUInt64(ulong.MaxValue, "minFeePerByte"),
            FeeBurnPpm = (uint)r.ReadVarUInt64(ChainLimits.Ppm, "feeBurnPpm"),
            SlashBurnPpm = (uint)r.ReadVarUInt64(ChainLimits.Ppm, "slashBurnPpm"),
            MinerSlashPpm = (uint)r.ReadVarUInt64(ChainLimits.Ppm, "minerSlashPpm"),
            FalseAttestationSlashPpm = (uint)r.ReadVarUInt64(ChainLimits.Ppm, "falseAttestationSlashPpm"),
            VerifierRewardPpm = (uint)r.ReadVarUInt64(ChainLimits.Ppm, "verifierRewardPpm"),
            MinStakeValidator = r.ReadVarUInt64(ulong.MaxValue, "minStakeValidator"),
            MinStakeMiner = r.ReadVarUInt64(ulong.MaxValue, "minStakeMiner"),
            MinStakeVerifier = r.ReadVarUInt64(ulong.MaxValue, "minStakeVerifier"),
            MaxBlockTransactions = (uint)r.ReadVarUInt64(ChainLimits.MaxBlockTransactions, "maxBlockTransactions"),
            MaxBlockBytes = (uint)r.ReadVarUInt64(ChainLimits.MaxBlockBytes, "maxBlockBytes"),
            MaxWindowBlocks = r.ReadVarUInt64(ulong.MaxValue, "maxWindowBlocks"),
        };
        r.EnsureEnd();
        return p;
    }
}
