using System.Text.Json;
using Pot.Chain.Blocks;
using Pot.Chain.Execution;
using Pot.Chain.State;
using Pot.Chain.Transactions;
using Pot.Commitments;
using Pot.Commitments.Keys;
using Pot.Commitments.Merkle;

namespace Pot.Chain.Genesis;

/// <summary>A genesis validator: it holds the validator role from height 0.</summary>
/// <param name="PublicKey">32-byte Ed25519 public key.</param>
/// <param name="Stake">Bonded stake (at least minStakeValidator).</param>
/// <param name="Balance">Spendable balance.</param>
public sealed record GenesisValidator(byte[] PublicKey, ulong Stake, ulong Balance);

/// <summary>A genesis account.</summary>
/// <param name="Address">20-byte address.</param>
/// <param name="PublicKey">Optional 32-byte public key (must match the address).</param>
/// <param name="Balance">Balance.</param>
/// <param name="Stake">Stake.</param>
/// <param name="Roles">Roles (validator is not allowed here: use the validators list).</param>
public sealed record GenesisAccount(byte[] Address, byte[]? PublicKey, ulong Balance, ulong Stake, Roles Roles);

/// <summary>A genesis task; its budget becomes its escrow (new supply, not taken from the owner).</summary>
/// <param name="Owner">20-byte owner address.</param>
/// <param name="Definition">The task definition, in the create-task payload's form.</param>
public sealed record GenesisTask(byte[] Owner, CreateTaskPayload Definition);

/// <summary>
/// The genesis file: chain id, time, parameters, validators, accounts and tasks. Parsing is strict:
/// unknown keys, wrong types, duplicates and inconsistent values are rejected with a message naming
/// the field. See docs/chain.md for the format.
/// </summary>
/// <param name="ChainId">Chain id.</param>
/// <param name="GenesisTimeMs">Time of the genesis header in Unix milliseconds.</param>
/// <param name="Parameters">Chain parameters.</param>
/// <param name="Validators">Validators (at least one).</param>
/// <param name="Accounts">Other accounts.</param>
/// <param name="Tasks">Tasks; ids are assigned 0, 1, ... in file order.</param>
public sealed record GenesisDocument(string ChainId, ulong GenesisTimeMs, ChainParameters Parameters, IReadOnlyList<GenesisValidator> Validators,
    IReadOnlyList<GenesisAccount> Accounts, IReadOnlyList<GenesisTask> Tasks)
{
    /// <summary>Largest genesis file in bytes.</summary>
    public const int MaxFileBytes = 64 * 1024 * 1024;

    private const string Ctx = "genesis";

    /// <summary>Parses a genesis file.</summary>
    /// <param name="json">UTF-8 JSON bytes.</param>
    /// <returns>The document (already checked with <see cref="Check"/>).</returns>
    /// <exception cref="PotFormatException">Any malformation, naming the field.</exception>
    public static GenesisDocument Parse(ReadOnlySpan<byte> json)
    {
        if (json.Length > MaxFileBytes)
        {
            throw new PotFormatException($"genesis: {json.Length} bytes; the limit is {MaxFileBytes}");
        }
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json.ToArray(), new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (JsonException ex)
        {
            throw new PotFormatException($"genesis: not valid JSON ({ex.Message})", ex);
        }
        using (doc)
        {
            var root = doc.RootElement;
            Json.ExpectMembers(root, Ctx, ["chainId", "genesisTimeMs", "parameters", "validators", "accounts", "tasks"], ["parameters", "accounts", "tasks"]);
            string chainId = Json.String(root, "chainId", Ctx);
            ulong time = Json.UInt64(root, "genesisTimeMs", Ctx);
            var parameters = root.TryGetProperty("parameters", out var pe) ? ParseParameters(pe) : new ChainParameters();
            var validators = Json.Array(root, "validators", Ctx).Select((v, i) => ParseValidator(v, $"genesis validators[{i}]")).ToArray();
            var accounts = root.TryGetProperty("accounts", out _) ? Json.Array(root, "accounts", Ctx).Select((a, i) => ParseAccount(a, $"genesis accounts[{i}]")).ToArray() : [];
            var tasks = root.TryGetProperty("tasks", out _) ? Json.Array(root, "tasks", Ctx).Select((t, i) => ParseTask(t, $"genesis tasks[{i}]")).ToArray() : [];
            var g = new GenesisDocument(chainId, time, parameters, validators, accounts, tasks);
            if (g.Check() is string error)
            {
                throw new PotFormatException($"genesis: {error}");
            }
            return g;
        }
    }

    private static readonly string[] ParameterNames =
    [
        "unbondingDelayBlocks", "minFeePerByte", "feeBurnPpm", "slashBurnPpm", "minerSlashPpm", "falseAttestationSlashPpm", "verifierRewardPpm",
        "minStakeValidator", "minStakeMiner", "minStakeVerifier", "maxBlockTransactions", "maxBlockBytes", "maxWindowBlocks",
    ];

    private static ChainParameters ParseParameters(JsonElement e)
    {
        const string c = "genesis parameters";
        Json.ExpectMembers(e, c, ParameterNames, ParameterNames);
        var d = new ChainParameters();
        ulong U(string name, ulong dflt) => e.TryGetProperty(name, out _) ? Json.UInt64(e, name, c) : dflt;
        uint U32(string name, uint dflt) => checked((uint)Math.Min(U(name, dflt), uint.MaxValue));
        return new ChainParameters
        {
            UnbondingDelayBlocks = U("unbondingDelayBlocks", d.UnbondingDelayBlocks),
            MinFeePerByte = U("minFeePerByte", d.MinFeePerByte),
            FeeBurnPpm = U32("feeBurnPpm", d.FeeBurnPpm),
            SlashBurnPpm = U32("slashBurnPpm", d.SlashBurnPpm),
            MinerSlashPpm = U32("minerSlashPpm", d.MinerSlashPpm),
            FalseAttestationSlashPpm = U32("falseAttestationSlashPpm", d.FalseAttestationSlashPpm),
            VerifierRewardPpm = U32("verifierRewardPpm", d.VerifierRewardPpm),
            MinStakeValidator = U("minStakeValidator", d.MinStakeValidator),
            MinStakeMiner = U("minStakeMiner", d.MinStakeMiner),
            MinStakeVerifier = U("minStakeVerifier", d.MinStakeVerifier),
            MaxBlockTransactions = U32("maxBlockTransactions", d.MaxBlockTransactions),
            MaxBlockBytes = U32("maxBlockBytes", d.MaxBlockBytes),
            MaxWindowBlocks = U("maxWindowBlocks", d.MaxWindowBlocks),
        };
    }

    private static GenesisValidator ParseValidator(JsonElement e, string c)
    {
        Json.ExpectMembers(e, c, ["publicKey", "stake", "balance"], ["balance"]);
        return new GenesisValidator(Hex.Decode(Json.String(e, "publicKey", c), c + " publicKey", Ed25519Keys.PublicKeySize), Json.UInt64(e, "stake", c),
            e.TryGetProperty("balance", out _) ? Json.UInt64(e, "balance", c) : 0);
    }

    private static GenesisAccount ParseAccount(JsonElement e, string c)
    {
        Json.ExpectMembers(e, c, ["address", "publicKey", "balance", "stake", "roles"], ["publicKey", "stake", "roles"]);
        byte[] address = AccountAddress.Parse(Json.String(e, "address", c));
        byte[]? key = e.TryGetProperty("publicKey", out _) ? Hex.Decode(Json.String(e, "publicKey", c), c + " publicKey", Ed25519Keys.PublicKeySize) : null;
        var roles = Roles.None;
        if (e.TryGetProperty("roles", out var re))
        {
            foreach (var r in Json.Array(e, "roles", c))
            {
                roles |= (r.ValueKind == JsonValueKind.String ? r.GetString() : null) switch
                {
                    "miner" => Roles.Miner,
                    "verifier" => Roles.Verifier,
                    var other => throw new PotFormatException($"{c} roles: '{other}' is not a role; expected \"miner\" or \"verifier\" (validators go in the validators list)"),
                };
            }
        }
        return new GenesisAccount(address, key, Json.UInt64(e, "balance", c), e.TryGetProperty("stake", out _) ? Json.UInt64(e, "stake", c) : 0, roles);
    }

    private static GenesisTask ParseTask(JsonElement e, string c)
    {
        Json.ExpectMembers(e, c, ["owner", "modelSpec", "datasetCommitment", "initialModelRoot", "initSeed", "hyperParameters", "verification", "rewardPerRound", "budget"], ["initSeed", "hyperParameters"]);
        var v = e.GetProperty("verification");
        string vc = c + " verification";
        Json.ExpectMembers(v, vc, ["verifiersPerSubmission", "replayedSteps", "sampledLeaves", "lossMargin", "windowBlocks"], []);
        if (v.GetProperty("lossMargin").ValueKind != JsonValueKind.Number || !v.GetProperty("lossMargin").TryGetSingle(out float margin) || !float.IsFinite(margin))
        {
            throw new PotFormatException($"{vc} lossMargin: expected a finite number");
        }
        uint U32(JsonElement x, string name, string cc) => Json.UInt64(x, name, cc) is var u && u <= uint.MaxValue ? (uint)u : throw new PotFormatException($"{cc} {name}: {u} exceeds {uint.MaxValue}");
        var verification = new VerificationParameters(U32(v, "verifiersPerSubmission", vc), U32(v, "replayedSteps", vc), U32(v, "sampledLeaves", vc),
            BitConverter.SingleToUInt32Bits(margin), Json.UInt64(v, "windowBlocks", vc));
        byte[] spec = Hex.Decode(Json.String(e, "modelSpec", c), c + " modelSpec");
        byte[] hyper = e.TryGetProperty("hyperParameters", out _) ? Hex.Decode(Json.String(e, "hyperParameters", c), c + " hyperParameters") : [];
        if (spec.Length > ChainLimits.MaxModelSpecBytes || hyper.Length > ChainLimits.MaxHyperParameterBytes)
        {
            throw new PotFormatException($"{c}: model spec ({spec.Length} bytes) or hyper-parameters ({hyper.Length} bytes) exceed the limits {ChainLimits.MaxModelSpecBytes} / {ChainLimits.MaxHyperParameterBytes}");
        }
        ulong? seed = e.TryGetProperty("initSeed", out var se) && se.ValueKind != JsonValueKind.Null ? Json.UInt64(e, "initSeed", c) : null;
        var def = new CreateTaskPayload(spec, Hex.Decode(Json.String(e, "datasetCommitment", c), c + " datasetCommitment", 32),
            Hex.Decode(Json.String(e, "initialModelRoot", c), c + " initialModelRoot", 32), seed, hyper, verification,
            Json.UInt64(e, "rewardPerRound", c), Json.UInt64(e, "budget", c));
        return new GenesisTask(AccountAddress.Parse(Json.String(e, "owner", c)), def);
    }

    /// <summary>Checks the document's consistency.</summary>
    /// <returns>Null when valid, else what is wrong.</returns>
    public string? Check()
    {
        if (ChainLimits.CheckChainId(ChainId) is string e)
        {
            return e;
        }
        if (Parameters.Check() is string pe)
        {
            return "parameters: " + pe;
        }
        if (Validators.Count == 0 || Validators.Count > ChainLimits.MaxValidators)
        {
            return $"{Validators.Count} validators; expected 1 to {ChainLimits.MaxValidators}";
        }
        var seen = new HashSet<string>(StringComparer.Ordinal);
        UInt128 supply = 0;
        foreach (var v in Validators)
        {
            string a = AccountAddress.FromPublicKey(v.PublicKey);
            if (!seen.Add(a))
            {
                return $"validator {a} is listed twice";
            }
            if (v.Stake < Parameters.MinStakeValidator)
            {
                return $"validator {a} has stake {v.Stake}; expected at least minStakeValidator {Parameters.MinStakeValidator}";
            }
            supply += (UInt128)v.Stake + v.Balance;
        }
        foreach (var acct in Accounts)
        {
            string a = AddressText.Of(acct.Address);
            if (!seen.Add(a))
            {
                return $"account {a} is listed twice (or is also a validator)";
            }
            if (acct.PublicKey is not null && !AccountAddress.BytesFromPublicKey(acct.PublicKey).AsSpan().SequenceEqual(acct.Address))
            {
                return $"account {a}: the public key belongs to {AccountAddress.FromPublicKey(acct.PublicKey)}";
            }
            if (acct.Roles.HasFlag(Roles.Validator))
            {
                return $"account {a}: validators must be listed under validators";
            }
            if ((acct.Roles.HasFlag(Roles.Miner) && acct.Stake < Parameters.MinStakeMiner) || (acct.Roles.HasFlag(Roles.Verifier) && acct.Stake < Parameters.MinStakeVerifier))
            {
                return $"account {a}: stake {acct.Stake} is below the minimum of its roles ({acct.Roles})";
            }
            supply += (UInt128)acct.Balance + acct.Stake;
        }
        for (int i = 0; i < Tasks.Count; i++)
        {
            if (ChainExecutor.CheckTaskParameters(Tasks[i].Definition, Parameters) is string te)
            {
                return $"tasks[{i}]: {te}";
            }
            supply += Tasks[i].Definition.Budget;
        }
        if (supply > ulong.MaxValue)
        {
            return $"total supply {supply} exceeds 2^64 - 1";
        }
        return null;
    }

    /// <summary>Builds the genesis state and header.</summary>
    /// <returns>The state and the height-0 header (its hash identifies the chain).</returns>
    public (ChainState State, BlockHeader Header) Build()
    {
        if (Check() is string error)
        {
            throw new PotFormatException($"genesis: {error}");
        }
        var state = new ChainState();
        var o = new StateOverlay(state);
        UInt128 supply = 0;
        var validatorAddresses = new List<byte[]>();
        foreach (var v in Validators)
        {
            byte[] address = AccountAddress.BytesFromPublicKey(v.PublicKey);
            validatorAddresses.Add(address);
            StateAccess.SetAccount(o, address, new Account(v.Balance, 0, v.Stake, Roles.Validator, v.PublicKey));
            supply += (UInt128)v.Stake + v.Balance;
        }
        validatorAddresses.Sort(ByteOrder.Comparer);
        foreach (var a in Accounts)
        {
            StateAccess.SetAccount(o, a.Address, new Account(a.Balance, 0, a.Stake, a.Roles, a.PublicKey));
            supply += (UInt128)a.Balance + a.Stake;
        }
        var roots = new List<TaskModelRoot>();
        for (int i = 0; i < Tasks.Count; i++)
        {
            ChainExecutor.WriteTask(o, (ulong)i, Tasks[i].Owner, Tasks[i].Definition, 0);
            supply += Tasks[i].Definition.Budget;
            roots.Add(new TaskModelRoot((ulong)i, Tasks[i].Definition.InitialModelRoot));
        }
        o.Set(StateKeys.Parameters, Parameters.Encode());
        o.Set(StateKeys.ValidatorSet, new ValidatorSet(validatorAddresses).Encode());
        o.Set(StateKeys.Meta, new ChainMeta(0, GenesisTimeMs, (ulong)Tasks.Count, (ulong)supply, 0).Encode());
        var changes = o.SortedChanges();
        byte[] root = state.ComputeRootWith(changes);
        state.Apply(changes, root);
        var header = new BlockHeader(ChainId, 0, new byte[32], GenesisTimeMs, new byte[AccountAddress.Size], 0, root, MerkleHash.EmptyRoot.ToArray(), roots);
        return (state, header);
    }

    /// <summary>Writes the document as indented JSON in the format <see cref="Parse"/> reads.</summary>
    /// <returns>UTF-8 JSON bytes ending with a newline.</returns>
    public byte[] ToJson()
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("chainId", ChainId);
            w.WriteNumber("genesisTimeMs", GenesisTimeMs);
            w.WriteStartObject("parameters");
            var p = Parameters;
            w.WriteNumber("unbondingDelayBlocks", p.UnbondingDelayBlocks);
            w.WriteNumber("minFeePerByte", p.MinFeePerByte);
            w.WriteNumber("feeBurnPpm", p.FeeBurnPpm);
            w.WriteNumber("slashBurnPpm", p.SlashBurnPpm);
            w.WriteNumber("minerSlashPpm", p.MinerSlashPpm);
            w.WriteNumber("falseAttestationSlashPpm", p.FalseAttestationSlashPpm);
            w.WriteNumber("verifierRewardPpm", p.VerifierRewardPpm);
            w.WriteNumber("minStakeValidator", p.MinStakeValidator);
            w.WriteNumber("minStakeMiner", p.MinStakeMiner);
            w.WriteNumber("minStakeVerifier", p.MinStakeVerifier);
            w.WriteNumber("maxBlockTransactions", p.MaxBlockTransactions);
            w.WriteNumber("maxBlockBytes", p.MaxBlockBytes);
            w.WriteNumber("maxWindowBlocks", p.MaxWindowBlocks);
            w.WriteEndObject();
            w.WriteStartArray("validators");
            foreach (var v in Validators)
            {
                w.WriteStartObject();
                w.WriteString("publicKey", Hex.Encode(v.PublicKey));
                w.WriteNumber("stake", v.Stake);
                w.WriteNumber("balance", v.Balance);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("accounts");
            foreach (var a in Accounts)
            {
                w.WriteStartObject();
                w.WriteString("address", AddressText.Of(a.Address));
                if (a.PublicKey is not null)
                {
                    w.WriteString("publicKey", Hex.Encode(a.PublicKey));
                }
                w.WriteNumber("balance", a.Balance);
                w.WriteNumber("stake", a.Stake);
                w.WriteStartArray("roles");
                if (a.Roles.HasFlag(Roles.Miner))
                {
                    w.WriteStringValue("miner");
                }
                if (a.Roles.HasFlag(Roles.Verifier))
                {
                    w.WriteStringValue("verifier");
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("tasks");
            foreach (var t in Tasks)
            {
                var d = t.Definition;
                w.WriteStartObject();
                w.WriteString("owner", AddressText.Of(t.Owner));
                w.WriteString("modelSpec", Hex.Encode(d.ModelSpec));
                w.WriteString("datasetCommitment", Hex.Encode(d.DatasetCommitment));
                w.WriteString("initialModelRoot", Hex.Encode(d.InitialModelRoot));
                if (d.InitSeed is ulong seed)
                {
                    w.WriteNumber("initSeed", seed);
                }
                else
                {
                    w.WriteNull("initSeed");
                }
                w.WriteString("hyperParameters", Hex.Encode(d.HyperParameters));
                w.WriteStartObject("verification");
                w.WriteNumber("verifiersPerSubmission", d.Verification.VerifiersPerSubmission);
                w.WriteNumber("replayedSteps", d.Verification.ReplayedSteps);
                w.WriteNumber("sampledLeaves", d.Verification.SampledLeaves);
                w.WriteNumber("lossMargin", BitConverter.UInt32BitsToSingle(d.Verification.LossMarginBits));
                w.WriteNumber("windowBlocks", d.Verification.WindowBlocks);
                w.WriteEndObject();
                w.WriteNumber("rewardPerRound", d.RewardPerRound);
                w.WriteNumber("budget", d.Budget);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        stream.WriteByte((byte)'\n');
        return stream.ToArray();
    }
}

/// <summary>Strict JSON helpers: exact member sets, typed values, messages naming the field.</summary>
internal static class Json
{
    public static void ExpectMembers(JsonElement e, string context, string[] allowed, string[] optional)
    {
        if (e.ValueKind != JsonValueKind.Object)
        {
            throw new PotFormatException($"{context}: expected a JSON object, got {e.ValueKind}");
        }
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var p in e.EnumerateObject())
        {
            if (!allowed.Contains(p.Name, StringComparer.Ordinal))
            {
                throw new PotFormatException($"{context}: unknown key \"{p.Name}\"; expected only {string.Join(", ", allowed)}");
            }
            if (!seen.Add(p.Name))
            {
                throw new PotFormatException($"{context}: key \"{p.Name}\" appears twice");
            }
        }
        foreach (string name in allowed)
        {
            if (!seen.Contains(name) && !optional.Contains(name, StringComparer.Ordinal))
            {
                throw new PotFormatException($"{context}: missing required key \"{name}\"");
            }
        }
    }

    public static string String(JsonElement e, string name, string context)
    {
        var v = e.GetProperty(name);
        return v.ValueKind == JsonValueKind.String ? v.GetString()! : throw new PotFormatException($"{context} {name}: expected a string, got {v.ValueKind}");
    }

    public static ulong UInt64(JsonElement e, string name, string context)
    {
        var v = e.GetProperty(name);
        return v.ValueKind == JsonValueKind.Number && v.TryGetUInt64(out ulong u)
            ? u
            : throw new PotFormatException($"{context} {name}: expected a non-negative integer below 2^64, got {v.GetRawText()}");
    }

    public static JsonElement[] Array(JsonElement e, string name, string context)
    {
        var v = e.GetProperty(name);
        return v.ValueKind == JsonValueKind.Array ? [.. v.EnumerateArray()] : throw new PotFormatException($"{context} {name}: expected an array, got {v.ValueKind}");
    }
}
