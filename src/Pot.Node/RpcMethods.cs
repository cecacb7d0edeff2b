using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Pot.Chain.Blocks;
using Pot.Chain.State;
using Pot.Chain.Transactions;
using Pot.Commitments;
using Pot.Commitments.Keys;

namespace Pot.Node;

/// <summary>A JSON-RPC error: code (JSON-RPC 2.0 numbering) and message.</summary>
/// <param name="code">Error code.</param>
/// <param name="message">Message naming what was wrong.</param>
public sealed class RpcException(int code, string message) : Exception(message)
{
    /// <summary>Invalid JSON.</summary>
    public const int ParseError = -32700;
    /// <summary>Not a JSON-RPC 2.0 request object.</summary>
    public const int InvalidRequest = -32600;
    /// <summary>Unknown method.</summary>
    public const int MethodNotFound = -32601;
    /// <summary>Bad parameters.</summary>
    public const int InvalidParams = -32602;
    /// <summary>The object asked for does not exist.</summary>
    public const int NotFound = -32004;
    /// <summary>A transaction was refused.</summary>
    public const int TransactionRejected = -32010;

    /// <summary>The code.</summary>
    public int Code { get; } = code;
}

/// <summary>
/// The user API's methods, shared by JSON-RPC (POST /rpc) and the plain GET routes. Parameters are
/// positional (a JSON array); hashes and bytes are lower-case hex; addresses are "pot" + 40 hex.
/// </summary>
/// <param name="node">The node.</param>
/// <param name="history">The task history a validator role records (null when the node runs no task or is a follower).</param>
public sealed class RpcMethods(NodeCore node, Training.RoundHistory? history = null)
{
    /// <summary>Every method name with its parameters, for docs and the method-not-found error.</summary>
    public static readonly string[] Names =
    [
        "pot_status", "pot_head", "pot_getBlockByHeight", "pot_getBlockByHash", "pot_sendTransaction",
        "pot_getTransactionStatus", "pot_getAccount", "pot_getTask", "pot_getRound", "pot_getSubmission",
        "pot_getModelRoot", "pot_getRounds", "pot_getAttestations",
    ];

    /// <summary>Invokes a method.</summary>
    /// <param name="method">Name.</param>
    /// <param name="args">Positional parameters (strings or numbers).</param>
    /// <returns>The result.</returns>
    public JsonNode? Invoke(string method, IReadOnlyList<JsonElement> args)
    {
        string Str(int i, string name)
        {
            if (i >= args.Count) throw new RpcException(RpcException.InvalidParams, $"{method}: parameter {i} ({name}) is missing");
            return args[i].ValueKind switch
            {
                JsonValueKind.String => args[i].GetString()!,
                JsonValueKind.Number => args[i].GetRawText(),
                _ => throw new RpcException(RpcException.InvalidParams, $"{method}: parameter {i} ({name}) must be a string or number"),
            };
        }
        ulong U64(int i, string name) => ulong.TryParse(Str(i, name), NumberStyles.None, CultureInfo.InvariantCulture, out ulong v)
            ? v : throw new RpcException(RpcException.InvalidParams, $"{method}: parameter {i} ({name}) = '{Str(i, name)}' is not a non-negative integer");
        byte[] Hash(int i, string name)
        {
            try
            {
                return Hex.Decode(Str(i, name), name, 32);
            }
            catch (PotFormatException ex)
            {
                throw new RpcException(RpcException.InvalidParams, $"{method}: {ex.Message}");
            }
        }
        void Arity(int max)
        {
            if (args.Count > max) throw new RpcException(RpcException.InvalidParams, $"{method}: expected at most {max} parameters, got {args.Count}");
        }

        switch (method)
        {
            case "pot_status": Arity(0); return Status();
            case "pot_head": Arity(0); return node.Read(v => HeaderJson(v.Store.Ledger.Head, v.Store.Ledger.HeadHash));
            case "pot_getBlockByHeight": Arity(1); return BlockAt(U64(0, "height"));
            case "pot_getBlockByHash":
            {
                Arity(1);
                byte[] h = Hash(0, "block hash");
                ulong? height = node.Read(v => v.Store.GetHeight(h));
                return height is { } x ? BlockAt(x) : throw new RpcException(RpcException.NotFound, $"no block with hash {Hex.Encode(h)}");
            }
            case "pot_sendTransaction":
            {
                Arity(1);
                byte[] bytes;
                try
                {
                    bytes = Hex.Decode(Str(0, "transaction hex"), "transaction");
                }
                catch (PotFormatException ex)
                {
                    throw new RpcException(RpcException.InvalidParams, $"{method}: {ex.Message}");
                }
                var a = node.SubmitTransaction(bytes, gossip: true);
                if (!a.Accepted) throw new RpcException(a.Reason == RejectReason.Malformed ? RpcException.InvalidParams : RpcException.TransactionRejected, a.Message);
                return new JsonObject { ["id"] = Hex.Encode(Transaction.Decode(bytes).Hash), ["status"] = "pending" };
            }
            case "pot_getTransactionStatus":
            {
                Arity(1);
                byte[] id = Hash(0, "transaction id");
                return node.Read(v =>
                {
                    ulong? height = v.TransactionHeight(Hex.Encode(id));
                    string status = height is not null ? "committed" : v.IsPending(id) ? "pending" : "unknown";
                    return new JsonObject { ["id"] = Hex.Encode(id), ["status"] = status, ["height"] = height };
                });
            }
            case "pot_getAccount":
            {
                Arity(1);
                byte[] address;
                try
                {
                    address = AccountAddress.Parse(Str(0, "address"));
                }
                catch (Exception ex) when (ex is PotFormatException or ArgumentException or FormatException)
                {
                    throw new RpcException(RpcException.InvalidParams, $"{method}: {ex.Message}");
                }
                return node.Read(v =>
                {
                    var acc = StateAccess.Account(v.Store.Ledger.State, address);
                    return new JsonObject
                    {
                        ["address"] = AccountAddress.Prefix + Hex.Encode(address), ["balance"] = acc.Balance, ["nonce"] = acc.Nonce,
                        ["stake"] = acc.Stake, ["roles"] = acc.Roles.ToString(), ["publicKey"] = acc.PublicKey is null ? null : Hex.Encode(acc.PublicKey),
                        ["height"] = v.Store.Height,
                    };
                });
            }
            case "pot_getTask":
            {
                Arity(1);
                ulong id = U64(0, "task id");
                return node.Read(v =>
                {
                    var info = StateAccess.TaskInfo(v.Store.Ledger.State, id) ?? throw new RpcException(RpcException.NotFound, $"no task {id}");
                    var round = StateAccess.TaskRound(v.Store.Ledger.State, id);
                    return new JsonObject
                    {
                        ["id"] = id, ["owner"] = AccountAddress.Prefix + Hex.Encode(info.Owner), ["modelSpec"] = Hex.Encode(info.ModelSpec),
                        ["datasetCommitment"] = Hex.Encode(info.DatasetCommitment), ["initialModelRoot"] = Hex.Encode(info.InitialModelRoot),
                        ["initSeed"] = info.InitSeed, ["hyperParameters"] = Hex.Encode(info.HyperParameters), ["rewardPerRound"] = info.RewardPerRound,
                        ["verification"] = new JsonObject
                        {
                            ["verifiersPerSubmission"] = info.Verification.VerifiersPerSubmission, ["replayedSteps"] = info.Verification.ReplayedSteps,
                            ["sampledLeaves"] = info.Verification.SampledLeaves, ["lossMargin"] = BitConverter.UInt32BitsToSingle(info.Verification.LossMarginBits),
                            ["windowBlocks"] = info.Verification.WindowBlocks,
                        },
                        ["round"] = round is null ? null : RoundJson(id, round),
                    };
                });
            }
            case "pot_getRound":
            {
                Arity(1);
                ulong id = U64(0, "task id");
                return node.Read(v => StateAccess.TaskRound(v.Store.Ledger.State, id) is { } r ? RoundJson(id, r) : throw new RpcException(RpcException.NotFound, $"no task {id}"));
            }
            case "pot_getSubmission":
            {
                Arity(1);
                byte[] id = Hash(0, "submission id");
                var pendingOrNull = node.Read(v => StateAccess.Submission(v.Store.Ledger.State, id));
                if (pendingOrNull is null && history?.SubmissionJson(Hex.Encode(id)) is { } past) return past;
                return node.Read(v =>
                {
                    var s = StateAccess.Submission(v.Store.Ledger.State, id)
                        ?? throw new RpcException(RpcException.NotFound, $"no submission {Hex.Encode(id)} (neither pending nor in this node's task history)");
                    var atts = new JsonArray();
                    foreach (var a in s.Attestations)
                        atts.Add(new JsonObject { ["verifier"] = AccountAddress.Prefix + Hex.Encode(a.Verifier), ["accept"] = a.Accept, ["evidenceHash"] = Hex.Encode(a.EvidenceHash) });
                    return new JsonObject
                    {
                        ["id"] = Hex.Encode(s.Id), ["miner"] = AccountAddress.Prefix + Hex.Encode(s.Miner), ["height"] = s.Height,
                        ["taskId"] = s.Payload.TaskId, ["round"] = s.Payload.Round, ["baseRoot"] = Hex.Encode(s.Payload.BaseRoot),
                        ["updateRoot"] = Hex.Encode(s.Payload.UpdateRoot), ["traceRoot"] = Hex.Encode(s.Payload.TraceRoot),
                        ["sampleCount"] = s.Payload.SampleCount,
                        ["claimedLosses"] = new JsonArray(s.Payload.ClaimedLossBits.Select(b => (JsonNode)JsonValue.Create(BitConverter.UInt32BitsToSingle(b))).ToArray()),
                        ["attestations"] = atts,
                        ["status"] = "pending",
                        ["attestationRecords"] = history?.AttestationsJson(Hex.Encode(id)),
                    };
                });
            }
            case "pot_getModelRoot":
            {
                Arity(2);
                ulong id = U64(0, "task id");
                ulong? at = args.Count > 1 ? U64(1, "height") : null;
                return node.Read(v => ModelRoot(v, id, at));
            }
            case "pot_getRounds":
            {
                Arity(1);
                ulong id = U64(0, "task id");
                if (history is null) throw new RpcException(RpcException.NotFound, "this node records no round history (it runs no protocol task, or it is a follower)");
                if (id != history.TaskId) throw new RpcException(RpcException.NotFound, $"this node records the history of task {history.TaskId}, not {id}");
                return history.RoundsJson();
            }
            case "pot_getAttestations":
            {
                Arity(1);
                byte[] id = Hash(0, "submission id");
                if (history is null) throw new RpcException(RpcException.NotFound, "this node records no attestation history (it runs no protocol task, or it is a follower)");
                return history.AttestationsJson(Hex.Encode(id));
            }
            default:
                throw new RpcException(RpcException.MethodNotFound, $"unknown method '{method}'; methods: {string.Join(", ", Names)}");
        }
    }

    private JsonObject Status() => node.Read(v => new JsonObject
    {
        ["chainId"] = node.ChainId, ["nodeId"] = node.NodeId, ["address"] = node.Address,
        ["height"] = v.Store.Height, ["headHash"] = Hex.Encode(v.Store.Ledger.HeadHash),
        ["view"] = v.Replica?.View, ["changingView"] = v.Replica?.IsChangingView, ["consensusHeight"] = v.Replica?.ExecutedHeight,
        ["stableCheckpoint"] = v.Replica?.StableHeight, ["mode"] = node.IsValidator ? "validator" : "follower", ["mempool"] = v.MempoolCount, ["uncertifiedPayloads"] = v.PendingPayloads,
        ["validators"] = v.Store.Ledger.Validators.Addresses.Count, ["minFeePerByte"] = v.Store.Ledger.Parameters.MinFeePerByte,
        ["roles"] = new JsonArray(node.Roles.Select(r => (JsonNode)JsonValue.Create(r.Name)).ToArray()),
    });

    private static JsonObject RoundJson(ulong id, TaskRound r) => new()
    {
        ["taskId"] = id, ["round"] = r.Round, ["modelRoot"] = Hex.Encode(r.ModelRoot), ["roundStartHeight"] = r.RoundStartHeight,
        ["escrow"] = r.Escrow, ["finished"] = r.Finished, ["pendingSubmissions"] = r.PendingCount,
    };

    private static JsonObject ModelRoot(NodeCore.NodeView v, ulong taskId, ulong? height)
    {
        ulong head = v.Store.Height;
        ulong at = height ?? head;
        if (at > head) throw new RpcException(RpcException.NotFound, $"height {at} is above the head {head}");
        var info = StateAccess.TaskInfo(v.Store.Ledger.State, taskId) ?? throw new RpcException(RpcException.NotFound, $"no task {taskId}");
        // The root at a height is the last one a block at or below it set; genesis tasks start at their initial root.
        byte[]? root = null;
        ulong setAt = 0;
        for (ulong h = at; h >= 1 && root is null; h--)
        {
            var header = v.Store.GetBlock(h)!.Value.Block.Header;
            if (header.ModelRoots.FirstOrDefault(m => m.TaskId == taskId) is { } m)
            {
                root = m.ModelRoot;
                setAt = h;
            }
        }
        if (root is null)
        {
            // Not set by any block up to `at`: a genesis task has its initial root; a later task did not exist yet.
            bool genesisTask = Enumerable.Range(1, (int)head).All(h => v.Store.GetBlock((ulong)h)!.Value.Block.Header.ModelRoots.All(m => m.TaskId != taskId));
            if (!genesisTask) throw new RpcException(RpcException.NotFound, $"task {taskId} did not exist at height {at}");
            root = info.InitialModelRoot;
        }
        return new JsonObject { ["taskId"] = taskId, ["height"] = at, ["modelRoot"] = Hex.Encode(root), ["setAtHeight"] = setAt };
    }

    private JsonObject BlockAt(ulong height) => node.Read(v =>
    {
        if (height == 0) throw new RpcException(RpcException.NotFound, "height 0 is the genesis state, which has no block; blocks start at height 1");
        var entry = v.Store.GetBlock(height) ?? throw new RpcException(RpcException.NotFound, $"no block at height {height} (head is {v.Store.Height})");
        var (block, cert) = entry;
        return new JsonObject
        {
            ["header"] = HeaderJson(block.Header, block.Hash),
            ["transactions"] = new JsonArray(block.Transactions.Select(t => (JsonNode)new JsonObject
            {
                ["id"] = Hex.Encode(t.Hash), ["type"] = t.Type.ToString(), ["sender"] = AccountAddress.Prefix + Hex.Encode(t.Sender),
                ["nonce"] = t.Nonce, ["fee"] = t.Fee, ["bytes"] = t.Size,
            }).ToArray()),
            ["certificate"] = new JsonArray(cert.Signatures.Select(s => (JsonNode)JsonValue.Create(AccountAddress.Prefix + Hex.Encode(s.Validator))).ToArray()),
        };
    });

    private static JsonObject HeaderJson(BlockHeader h, byte[]? hash) => new()
    {
        ["height"] = h.Height, ["hash"] = Hex.Encode(hash ?? h.Hash()), ["previousHash"] = Hex.Encode(h.PreviousHash), ["timeMs"] = h.TimeMs,
        ["proposer"] = AccountAddress.Prefix + Hex.Encode(h.Proposer), ["view"] = h.View, ["stateRoot"] = Hex.Encode(h.StateRoot),
        ["transactionsRoot"] = Hex.Encode(h.TransactionsRoot),
        ["modelRoots"] = new JsonArray(h.ModelRoots.Select(m => (JsonNode)new JsonObject { ["taskId"] = m.TaskId, ["modelRoot"] = Hex.Encode(m.ModelRoot) }).ToArray()),
    };
}
