using System.Text.Json.Nodes;
using Pot.Chain.Transactions;
using Pot.Commitments;
using Pot.Commitments.Keys;

namespace Pot.Node.Training;

/// <summary>One finalized round as a validator recorded it.</summary>
public sealed class RoundRecord
{
    /// <summary>Round r that was finalized.</summary>
    public required ulong Round { get; init; }
    /// <summary>Height of the block carrying the finalize transaction.</summary>
    public required ulong Height { get; init; }
    /// <summary>R_{r+1}, the root of θ_{r+1} (hex).</summary>
    public required string ModelRoot { get; init; }
    /// <summary>Held-out loss of θ_{r+1} (null until evaluated, or when θ_{r+1} could not be fetched).</summary>
    public double? ValidationLoss { get; set; }
    /// <summary>Held-out accuracy of θ_{r+1} (null when the task has none or before evaluation).</summary>
    public double? ValidationAccuracy { get; set; }
    /// <summary>Accepted submission ids (hex).</summary>
    public required IReadOnlyList<string> Accepted { get; init; }
    /// <summary>Rejected submission ids (hex).</summary>
    public required IReadOnlyList<string> Rejected { get; init; }
    /// <summary>Slashed addresses.</summary>
    public required IReadOnlyList<string> Slashed { get; init; }
    /// <summary>Reward paid per address.</summary>
    public required IReadOnlyDictionary<string, ulong> Rewards { get; init; }
    /// <summary>Miner address of each submission id known from the chain.</summary>
    public required IReadOnlyDictionary<string, string> Miners { get; init; }
    /// <summary>Why the evaluation is missing, when it is.</summary>
    public string? EvaluationError { get; set; }

    /// <summary>The JSON of GET /api/task/{id}/rounds entries.</summary>
    /// <returns>The object.</returns>
    public JsonObject ToJson()
    {
        JsonArray Miners(IEnumerable<string> ids) => new(ids.Select(id => (JsonNode?)JsonValue.Create(this.Miners.TryGetValue(id, out var m) ? m : null)).ToArray());
        return new JsonObject
        {
            ["round"] = Round,
            ["height"] = Height,
            ["modelRoot"] = ModelRoot,
            ["validationLoss"] = ValidationLoss,
            ["validationAccuracy"] = ValidationAccuracy,
            ["accepted"] = Accepted.Count,
            ["rejected"] = Rejected.Count,
            ["slashed"] = Slashed.Count,
            ["rewards"] = Rewards.Values.Aggregate(0UL, (a, b) => a + b),
            ["acceptedSubmissions"] = new JsonArray(Accepted.Select(x => (JsonNode?)JsonValue.Create(x)).ToArray()),
            ["rejectedSubmissions"] = new JsonArray(Rejected.Select(x => (JsonNode?)JsonValue.Create(x)).ToArray()),
            ["acceptedMiners"] = Miners(Accepted),
            ["rejectedMiners"] = Miners(Rejected),
            ["slashedAddresses"] = new JsonArray(Slashed.Select(x => (JsonNode?)JsonValue.Create(x)).ToArray()),
            ["rewardsByAddress"] = new JsonObject(Rewards.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)JsonValue.Create(kv.Value)))),
            ["evaluationError"] = EvaluationError,
        };
    }
}

/// <summary>An attestation as committed on the chain.</summary>
/// <param name="Verifier">Verifier address.</param>
/// <param name="Accept">Accept or reject.</param>
/// <param name="FailedCheck">The failed check's number (0 for an accept).</param>
/// <param name="Height">Height of its block.</param>
/// <param name="TransactionId">Its transaction id (hex).</param>
/// <param name="LossBefore">Measured loss before the update on the γ batch (NaN when not measured).</param>
/// <param name="LossAfter">Measured loss after (NaN when not measured).</param>
public sealed record AttestationRecord(string Verifier, bool Accept, byte FailedCheck, ulong Height, string TransactionId, float LossBefore, float LossAfter);

/// <summary>
/// What a validator remembers of the task's history beyond the chain state (finalized submissions leave the state):
/// every finalized round with its held-out evaluation, every submission's miner and every committed attestation.
/// Built only from committed blocks, so every honest validator holds the same records (the evaluation is a
/// deterministic engine run on θ_{r+1}). In memory: a restarted node rebuilds it from the blocks it replays.
/// </summary>
public sealed class RoundHistory
{
    private readonly object _gate = new();
    private readonly List<RoundRecord> _rounds = [];
    private readonly Dictionary<string, List<AttestationRecord>> _attestations = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (string Miner, ulong Round, ulong Height)> _submissions = new(StringComparer.Ordinal);

    /// <summary>Creates the history of one task.</summary>
    /// <param name="taskId">Chain task id.</param>
    public RoundHistory(ulong taskId) => TaskId = taskId;

    /// <summary>The chain task id.</summary>
    public ulong TaskId { get; }

    /// <summary>Records the protocol transactions of a committed block.</summary>
    /// <param name="block">The block.</param>
    /// <returns>The rounds this block finalized.</returns>
    public IReadOnlyList<RoundRecord> Record(Pot.Chain.Blocks.Block block)
    {
        ArgumentNullException.ThrowIfNull(block);
        var finalized = new List<RoundRecord>();
        lock (_gate)
        {
            foreach (var tx in block.Transactions)
            {
                string sender = AccountAddress.Prefix + Hex.Encode(tx.Sender);
                switch (tx.Payload)
                {
                    case SubmitPayload s when s.TaskId == TaskId:
                        _submissions[Hex.Encode(tx.Hash)] = (sender, s.Round, block.Header.Height);
                        break;
                    case AttestPayload a:
                        string id = Hex.Encode(a.SubmissionId);
                        if (!_submissions.ContainsKey(id)) break;
                        if (!_attestations.TryGetValue(id, out var list)) _attestations[id] = list = [];
                        list.Add(new AttestationRecord(sender, a.Accept, a.FailedCheck, block.Header.Height, Hex.Encode(tx.Hash),
                            a.LossBeforeBits == 0 ? float.NaN : BitConverter.UInt32BitsToSingle(a.LossBeforeBits),
                            a.LossAfterBits == 0 ? float.NaN : BitConverter.UInt32BitsToSingle(a.LossAfterBits)));
                        break;
                    case FinalizeRoundPayload f when f.TaskId == TaskId:
                        var ids = f.Accepted.Concat(f.Rejected).Select(x => Hex.Encode(x)).ToArray();
                        var record = new RoundRecord
                        {
                            Round = f.Round,
                            Height = block.Header.Height,
                            ModelRoot = Hex.Encode(f.NewModelRoot),
                            Accepted = f.Accepted.Select(x => Hex.Encode(x)).ToArray(),
                            Rejected = f.Rejected.Select(x => Hex.Encode(x)).ToArray(),
                            Slashed = f.Slashes.Select(x => AccountAddress.Prefix + Hex.Encode(x.Offender)).ToArray(),
                            Rewards = f.Rewards.GroupBy(r => AccountAddress.Prefix + Hex.Encode(r.Address)).ToDictionary(g => g.Key, g => g.Aggregate(0UL, (a, r) => a + r.Amount), StringComparer.Ordinal),
                            Miners = ids.Where(_submissions.ContainsKey).ToDictionary(x => x, x => _submissions[x].Miner, StringComparer.Ordinal),
                        };
                        _rounds.Add(record);
                        finalized.Add(record);
                        break;
                }
            }
        }
        return finalized;
    }

    /// <summary>Sets a round's evaluation.</summary>
    /// <param name="record">The round.</param>
    /// <param name="loss">Held-out loss (null: failed).</param>
    /// <param name="accuracy">Accuracy.</param>
    /// <param name="error">Why it failed.</param>
    public void SetEvaluation(RoundRecord record, double? loss, double? accuracy, string? error)
    {
        ArgumentNullException.ThrowIfNull(record);
        lock (_gate)
        {
            record.ValidationLoss = loss;
            record.ValidationAccuracy = accuracy;
            record.EvaluationError = error;
        }
    }

    /// <summary>GET /api/task/{id}/rounds: every finalized round, oldest first.</summary>
    /// <returns>The array.</returns>
    public JsonArray RoundsJson()
    {
        lock (_gate) return new JsonArray(_rounds.Select(r => (JsonNode?)r.ToJson()).ToArray());
    }

    /// <summary>The attestations committed for a submission (null when the submission is unknown).</summary>
    /// <param name="submissionId">Hex id.</param>
    /// <returns>The array, or null.</returns>
    public JsonObject? SubmissionJson(string submissionId)
    {
        lock (_gate)
        {
            if (!_submissions.TryGetValue(submissionId, out var s)) return null;
            var round = _rounds.FirstOrDefault(r => r.Accepted.Contains(submissionId) || r.Rejected.Contains(submissionId));
            return new JsonObject
            {
                ["id"] = submissionId,
                ["miner"] = s.Miner,
                ["round"] = s.Round,
                ["height"] = s.Height,
                ["status"] = round is null ? "pending" : round.Accepted.Contains(submissionId) ? "accepted" : "rejected",
                ["finalizedAtHeight"] = round?.Height,
                ["attestations"] = AttestationsJson(submissionId),
            };
        }
    }

    /// <summary>pot_getAttestations.</summary>
    /// <param name="submissionId">Hex id.</param>
    /// <returns>The array (empty when none).</returns>
    public JsonArray AttestationsJson(string submissionId)
    {
        lock (_gate)
        {
            var list = _attestations.TryGetValue(submissionId, out var l) ? l : [];
            return new JsonArray(list.Select(a => (JsonNode?)new JsonObject
            {
                ["verifier"] = a.Verifier,
                ["accept"] = a.Accept,
                ["failedCheck"] = a.FailedCheck,
                ["failedCheckName"] = a.Accept ? null : ((Pot.Protocol.CheckKind)a.FailedCheck).ToString(),
                ["height"] = a.Height,
                ["transaction"] = a.TransactionId,
                ["lossBefore"] = float.IsNaN(a.LossBefore) ? null : a.LossBefore,
                ["lossAfter"] = float.IsNaN(a.LossAfter) ? null : a.LossAfter,
            }).ToArray());
        }
    }
}
