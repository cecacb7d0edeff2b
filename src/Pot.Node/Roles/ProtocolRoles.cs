using System.Globalization;
using System.Threading.Channels;
using Pot.Chain;
using Pot.Chain.Protocol;
using Pot.Chain.State;
using Pot.Chain.Transactions;
using Pot.Commitments;
using Pot.Commitments.Keys;
using Pot.Protocol;

namespace Pot.Node.Training;

/// <summary>Builds the protocol task a node runs from its configuration.</summary>
public static class NodeTasks
{
    /// <summary>The configured task, or null when <see cref="NodeConfig.Task"/> is not set.</summary>
    /// <param name="config">Configuration.</param>
    /// <returns>The task.</returns>
    /// <exception cref="NodeConfigException">Unknown task name or an unsupported setting.</exception>
    public static ProtocolTask? FromConfig(NodeConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.Task is null) return null;
        ProtocolTask task;
        try
        {
            task = config.Task == "tiny" ? ProtocolTask.Tiny() : ProtocolTask.Default(config.Task);
            if (config.TaskInnerSteps is int h) task = task with { InnerSteps = h };
            if (config.TaskWindowBlocks is int w) task = task with { WindowBlocks = w };
            if (config.TaskScheduleRounds is int sr) task = task with { ScheduleRounds = sr };
            if (config.TaskCarryOptimizer) task = task with { CarryOptimizer = true };
            task.Validate();
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or FileNotFoundException or DirectoryNotFoundException)
        {
            throw new NodeConfigException($"configuration key 'Task' = '{config.Task}': {ex.Message}");
        }
        if (task.Outer != OuterOptimizer.Sgd)
            throw new NodeConfigException($"task '{task.Id}' uses outer optimizer {task.Outer}; the node's aggregator keeps no outer momentum between rounds, so only outer SGD is supported");
        return task;
    }
}

/// <summary>
/// Shared machinery of the node roles: committed blocks go into a channel (so <see cref="OnCommittedAsync"/>
/// returns at once and consensus never waits for training or verification) and one background loop works
/// on the newest head, from a private copy of its state.
/// </summary>
public abstract class BackgroundRole : INodeRole, IDisposable
{
    // Committed blocks, and null ticks (at start and once a second) so the role also acts while no block commits.
    private readonly Channel<CommittedBlock?> _blocks = Channel.CreateUnbounded<CommittedBlock?>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Action<string> _log;
    private Task? _loop;

    /// <summary>Creates the role.</summary>
    /// <param name="log">Where its log lines go.</param>
    protected BackgroundRole(Action<string>? log) => _log = log ?? (_ => { });

    /// <inheritdoc />
    public abstract string Name { get; }

    /// <summary>The node (set by <see cref="StartAsync"/>).</summary>
    protected INodeApi Node { get; private set; } = null!;

    /// <summary>Work failures (exceptions) so far.</summary>
    public long Failures => Interlocked.Read(ref _failures);
    private long _failures;

    /// <inheritdoc />
    public Task StartAsync(INodeApi node, CancellationToken cancellation)
    {
        Node = node ?? throw new ArgumentNullException(nameof(node));
        OnStart();
        _blocks.Writer.TryWrite(null);
        _loop = Task.Run(() => LoopAsync(cancellation), CancellationToken.None);
        _ = Task.Run(async () =>
        {
            try
            {
                while (!cancellation.IsCancellationRequested)
                {
                    await Task.Delay(1000, cancellation).ConfigureAwait(false);
                    _blocks.Writer.TryWrite(null);
                }
            }
            catch (OperationCanceledException)
            {
            }
        }, CancellationToken.None);
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task OnCommittedAsync(CommittedBlock block, CancellationToken cancellation)
    {
        _blocks.Writer.TryWrite(block);
        return Task.CompletedTask;
    }

    /// <summary>Called once at start (before any block).</summary>
    protected virtual void OnStart()
    {
    }

    /// <summary>Records a committed block (every block, in height order; keep it fast).</summary>
    /// <param name="block">The block.</param>
    protected abstract void Observe(CommittedBlock block);

    /// <summary>Acts on the newest head (runs after the queued blocks are observed).</summary>
    /// <param name="head">A private copy of the head state.</param>
    /// <param name="cancellation">Stops with the node.</param>
    protected abstract void Act(ChainSnapshot head, CancellationToken cancellation);

    /// <summary>Writes a log line.</summary>
    /// <param name="message">The line.</param>
    protected void Log(string message) => _log(string.Create(CultureInfo.InvariantCulture, $"{DateTime.UtcNow:HH:mm:ss.fff} {Name}: {message}"));

    private async Task LoopAsync(CancellationToken cancellation)
    {
        var reader = _blocks.Reader;
        try
        {
            while (await reader.WaitToReadAsync(cancellation).ConfigureAwait(false))
            {
                while (reader.TryRead(out var block))
                {
                    if (block is not null) Observe(block);
                }
                try
                {
                    Act(Node.Snapshot(), cancellation);
                }
                // Only the node's own stop ends the loop: a timeout inside the work (HttpClient's
                // TaskCanceledException is an OperationCanceledException) is a failure like any other;
                // it used to end the loop silently, and the role stopped working while the node ran on.
                catch (Exception ex) when (!cancellation.IsCancellationRequested)
                {
                    Interlocked.Increment(ref _failures);
                    Log($"work failed (retried on the next block): {ex.GetType().Name}: {ex.Message}");
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (ObjectDisposedException)
        {
            // The node is stopping.
        }
    }

    /// <inheritdoc />
    public virtual void Dispose()
    {
        _blocks.Writer.TryComplete();
        GC.SuppressFinalize(this);
    }
}

/// <summary>
/// The validator's protocol role: a verifier (attests the submissions γ assigns to it, sends fraud proofs for
/// provable failures) and, when it is the round's finalizer, the aggregator (proposes the finalize transaction
/// once the window has passed). After every finalized round it evaluates θ_{r+1} on held-out data (a
/// deterministic engine run, the same on every validator) into the <see cref="RoundHistory"/>.
/// </summary>
/// <remarks>
/// The round's finalizer is the validator at position (r + k) mod n of the ascending validator set, where k counts
/// the windows that passed since the submissions closed without a finalize (a crashed finalizer is replaced after
/// W blocks). A proposal that the chain refuses (the outcome changed because an attestation or fraud proof landed
/// first) is rebuilt on a later head. Transactions are sent one batch at a time: a new one only when none of this validator's earlier
/// ones is still pending, so a refused transaction never leaves a nonce gap behind it.
/// </remarks>
public sealed class ValidatorRole : BackgroundRole
{
    private readonly ProtocolTask _task;
    private readonly ulong _taskId;
    private readonly Ed25519Keys _key;
    private readonly NetworkChunkService _chunks;
    private readonly RoundHistory _history;
    private readonly int _evaluationBatches;
    private readonly NodeMetrics? _metrics;
    private readonly VerifierRole _verifier;
    private readonly AggregatorRole _aggregator;
    private readonly StepEngine _engine;
    private readonly PotProtocolRules _rules;
    private readonly HashSet<string> _attested = new(StringComparer.Ordinal);
    private readonly List<FraudProofPayload> _proofs = [];
    private readonly System.Collections.Concurrent.ConcurrentQueue<RoundRecord> _toEvaluate = new();
    private Task? _evaluation;
    private readonly Dictionary<ulong, ulong> _finalizeSentAt = [];
    private readonly HashSet<string> _unavailableLogged = new(StringComparer.Ordinal);
    private ulong _registrationSentAt;

    /// <summary>
    /// Blocks after the submission window during which the finalizer waits for the assigned verifiers'
    /// attestations (it finalizes earlier once every pending submission has all of them): max(4, W). Blocks
    /// come faster than W suggests while transactions flow, so a shorter grace cut off slow verifiers.
    /// A verifier whose fetch of a submission's blobs fails retries on every block and tick during the
    /// first half of it, and attests the availability failure only then, so a slow or briefly unreachable
    /// honest miner is not rejected for a transient network failure.
    /// </summary>
    public ulong AttestationGraceBlocks => (ulong)Math.Max(4, _task.WindowBlocks);

    /// <summary>Creates the role.</summary>
    /// <param name="task">Protocol task.</param>
    /// <param name="taskId">Chain task id.</param>
    /// <param name="key">The validator's key.</param>
    /// <param name="chunks">The node's chunk service.</param>
    /// <param name="history">Where finalized rounds are recorded.</param>
    /// <param name="evaluationBatches">Validation batches per evaluation.</param>
    /// <param name="rules">The node's protocol rules (the aggregator asks them for the round's outcome; that path keeps no mutable state).</param>
    /// <param name="metrics">Node metrics (optional).</param>
    /// <param name="log">Log sink.</param>
    public ValidatorRole(ProtocolTask task, ulong taskId, Ed25519Keys key, NetworkChunkService chunks, RoundHistory history, int evaluationBatches, PotProtocolRules rules, NodeMetrics? metrics, Action<string>? log)
        : base(log)
    {
        _task = task ?? throw new ArgumentNullException(nameof(task));
        _taskId = taskId;
        _key = key ?? throw new ArgumentNullException(nameof(key));
        _chunks = chunks ?? throw new ArgumentNullException(nameof(chunks));
        _history = history ?? throw new ArgumentNullException(nameof(history));
        _evaluationBatches = evaluationBatches;
        _metrics = metrics;
        _verifier = new VerifierRole(key, chunks);
        _aggregator = new AggregatorRole(chunks);
        _engine = new StepEngine(task);
        _rules = rules ?? throw new ArgumentNullException(nameof(rules));
    }

    /// <inheritdoc />
    public override string Name => "validator";

    private byte[] Address => AccountAddress.BytesFromPublicKey(_key.PublicKey);

    /// <inheritdoc />
    protected override void OnStart()
    {
        // A task created from a seed starts at the engine's initial model: publish it so miners can fetch θ_0.
        if (_task.InitialModel is null) ModelBlobs.Put(_chunks, _engine.InitialModel());
    }

    /// <inheritdoc />
    protected override void Observe(CommittedBlock block)
    {
        foreach (var record in _history.Record(block.Block))
        {
            _toEvaluate.Enqueue(record);
            Log($"round {record.Round} finalized at height {record.Height}: accepted {record.Accepted.Count}, rejected {record.Rejected.Count}, slashed {record.Slashed.Count}, model {record.ModelRoot[..12]}");
        }
    }

    private string? Send(string kind, TransactionPayload payload)
    {
        string? error = Node.SubmitPayload(_key, payload, out _);
        _metrics?.RoleTransactions.WithLabels(kind, error is null ? "accepted" : "refused").Inc();
        if (error is not null) Log($"{kind} refused by the mempool: {error}");
        else if (kind is "fraud-proof" or "finalize" or "register") Log($"{kind} sent");
        return error;
    }

    /// <inheritdoc />
    protected override void Act(ChainSnapshot head, CancellationToken cancellation)
    {
        var state = head.State;
        ulong height = head.Head.Height;
        if (!Node.IsValidator) return;
        var account = StateAccess.Account(state, Address);
        bool pending = Node.HasPending(Address);
        if ((account.Roles & Pot.Chain.Transactions.Roles.Verifier) == 0)
        {
            if (!pending && (_registrationSentAt == 0 || height > _registrationSentAt + 10) && Send("register", new RegisterRolePayload(Pot.Chain.Transactions.Roles.Verifier)) is null)
                _registrationSentAt = Math.Max(1, height);
            return;
        }

        var round = ChainView.Round(state, _taskId);
        if (round is not null)
        {
            // Verify what γ assigned to this validator (one batch of attestations at a time, each sent when ready).
            if (!pending)
            {
                foreach (byte[] id in _verifier.AssignedPending(state, _taskId))
                {
                    string hex = Hex.Encode(id);
                    if (_attested.Contains(hex)) continue;
                    cancellation.ThrowIfCancellationRequested();
                    var result = _verifier.Verify(_task, state, id, _chunks.Network);
                    if (!result.Attestation.Accept && result.Attestation.FailedCheck == CheckKind.Availability
                        && height + 1 < round.SubmissionsCloseHeight + AttestationGraceBlocks / 2)
                    {
                        // Retried on the next block or tick; attested as unavailable only at the deadline.
                        if (_unavailableLogged.Add(hex))
                            Log($"verify {hex[..12]}: {result.Detail}; retrying until height {round.SubmissionsCloseHeight + AttestationGraceBlocks / 2}");
                        continue;
                    }
                    Log($"verified {hex[..12]}: {(result.Attestation.Accept ? "accept" : "reject (" + result.Detail + ")")}{(result.FraudProof is null ? "" : ", fraud proof " + result.FraudProof.Kind)} in {result.CpuSeconds:F2} s CPU");
                    // Sent at once (not after the whole batch): the finalizer waits for every assigned attestation.
                    if (Send("attest", result.AttestPayload) is not null) continue;
                    _attested.Add(hex);
                    if (result.FraudProofPayload is { } proof) _proofs.Add(proof);
                }
                pending = Node.HasPending(Address);
            }
            // Fraud proofs one at a time (a refused one must not strand later nonces).
            if (!pending && _proofs.Count > 0)
            {
                var proof = _proofs[0];
                _proofs.RemoveAt(0);
                if (StateAccess.Submission(state, proof.SubmissionId) is not null && StateAccess.FraudProof(state, proof.SubmissionId) is null)
                {
                    Send("fraud-proof", proof);
                    pending = true;
                }
            }
            // Finalize when this validator is the round's finalizer and the window has passed at the next height.
            if (!pending && height + 1 >= round.SubmissionsCloseHeight && IsFinalizer(state, round, height + 1)
                && (height + 1 >= round.SubmissionsCloseHeight + AttestationGraceBlocks || AllAttested(state))
                && (!_finalizeSentAt.TryGetValue(round.Round, out ulong sentAt) || height > sentAt + 2))
            {
                var ledger = new Ledger(state, head.Head, _rules);
                var proposal = _aggregator.Propose(_task, ledger, _taskId, _chunks.Network, momentum: null);
                if (proposal is not null)
                {
                    _finalizeSentAt[round.Round] = height;
                    Log($"proposing finalization of round {round.Round}: accepted {proposal.Payload.Accepted.Count}, rejected {proposal.Payload.Rejected.Count}, new model {Hex.Encode(proposal.Payload.NewModelRoot)[..12]}");
                    // Refused (an attestation or fraud proof changed the outcome meanwhile): propose again on the next head.
                    if (Send("finalize", proposal.Payload) is not null) _finalizeSentAt.Remove(round.Round);
                }
            }
        }

        // Held-out evaluation of each new model, on its own thread (it takes seconds and must not delay
        // verification and attestations). One evaluation at a time, in round order.
        if (!_toEvaluate.IsEmpty && (_evaluation is null || _evaluation.IsCompleted))
            _evaluation = Task.Run(() => EvaluatePending(cancellation), CancellationToken.None);
    }

    private void EvaluatePending(CancellationToken cancellation)
    {
        try
        {
            while (_toEvaluate.TryPeek(out var record))
            {
                cancellation.ThrowIfCancellationRequested();
                var model = ModelBlobs.TryGet(_chunks.Network, Hex.Decode(record.ModelRoot, "model root", 32), _engine.ParameterCount);
                if (model is null)
                {
                    _history.SetEvaluation(record, null, null, "θ_{r+1} is not available yet");
                    return; // retried on the next block or tick
                }
                var evaluation = _engine.Evaluate(model, _evaluationBatches);
                _history.SetEvaluation(record, evaluation.ValidationLoss, evaluation.Accuracy, null);
                _toEvaluate.TryDequeue(out _);
                Log(string.Create(CultureInfo.InvariantCulture, $"round {record.Round}: held-out loss {evaluation.ValidationLoss:F4}{(evaluation.Accuracy is double acc ? $", accuracy {acc:F4}" : "")}"));
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception e) when (e is InvalidOperationException or Pot.Commitments.PotFormatException)
        {
            Log("evaluation failed (retried on the next block): " + e.Message);
        }
    }

    // Every pending submission of the task has its challenge open and an attestation from each assigned verifier.
    private bool AllAttested(IStateReader state) =>
        ChainView.Pending(state, _taskId).All(s => s.Challenge is { } c && c.AssignedVerifiers.All(v => s.Attestations.Any(a => a.Verifier.AsSpan().SequenceEqual(v))));

    private bool IsFinalizer(IStateReader state, ChainRound round, ulong nextHeight)
    {
        var set = StateAccess.Validators(state).Addresses;
        if (set.Count == 0) return false;
        ulong late = (nextHeight - round.SubmissionsCloseHeight) / (ulong)Math.Max(1, _task.WindowBlocks);
        int index = (int)((round.Round + late) % (ulong)set.Count);
        return set[index].AsSpan().SequenceEqual(Address);
    }
}

/// <summary>
/// The miner's protocol role on a follower node: when a round of the task opens (its beacon recorded), fetches θ_r by
/// its root from the peers, trains H inner steps on a background thread, serves q, the trace and the checkpoint states
/// (recomputing others on request) through the node's chunk endpoints, and submits the signed submit transaction to
/// the validators. A strategy other than honest is a test double (cheating behaviours of <see cref="MinerStrategy"/>).
/// </summary>
public sealed class MinerNodeRole : BackgroundRole
{
    private readonly ProtocolTask _task;
    private readonly ulong _taskId;
    private readonly Ed25519Keys _key;
    private readonly NetworkChunkService _chunks;
    private readonly NodeMetrics? _metrics;
    private readonly Miner _miner;
    private readonly StepEngine _engine;
    private readonly HashSet<ulong> _mined = [];

    /// <summary>Creates the role.</summary>
    /// <param name="task">Protocol task.</param>
    /// <param name="taskId">Chain task id.</param>
    /// <param name="key">The miner's key (its account holds the miner role and stake).</param>
    /// <param name="strategy">Behaviour.</param>
    /// <param name="chunks">The node's chunk service.</param>
    /// <param name="metrics">Node metrics (optional).</param>
    /// <param name="log">Log sink.</param>
    public MinerNodeRole(ProtocolTask task, ulong taskId, Ed25519Keys key, MinerStrategy strategy, NetworkChunkService chunks, NodeMetrics? metrics, Action<string>? log)
        : base(log)
    {
        _task = task ?? throw new ArgumentNullException(nameof(task));
        _taskId = taskId;
        _key = key ?? throw new ArgumentNullException(nameof(key));
        _chunks = chunks ?? throw new ArgumentNullException(nameof(chunks));
        _metrics = metrics;
        _miner = new Miner(key, strategy);
        _engine = new StepEngine(task);
    }

    /// <inheritdoc />
    public override string Name => "miner";

    /// <summary>Rounds this miner submitted to.</summary>
    public int Submitted => _mined.Count;

    /// <inheritdoc />
    protected override void OnStart()
    {
        if (_task.InitialModel is null) ModelBlobs.Put(_chunks, _engine.InitialModel());
    }

    /// <inheritdoc />
    protected override void Observe(CommittedBlock block)
    {
    }

    /// <inheritdoc />
    protected override void Act(ChainSnapshot head, CancellationToken cancellation)
    {
        if (ChainView.Round(head.State, _taskId) is not ChainRound round || _mined.Contains(round.Round)) return;
        if (head.Head.Height + 1 >= round.SubmissionsCloseHeight) return; // too late for this round
        var account = StateAccess.Account(head.State, AccountAddress.BytesFromPublicKey(_key.PublicKey));
        if ((account.Roles & Pot.Chain.Transactions.Roles.Miner) == 0 || account.Stake == 0)
        {
            Log("this key holds no miner role or stake; not mining");
            _mined.Add(round.Round);
            return;
        }
        float[] model = ModelBlobs.TryGet(_chunks.Network, round.ModelRoot, _engine.ParameterCount)
            ?? throw new InvalidOperationException($"θ_{round.Round} ({Hex.Encode(round.ModelRoot)[..12]}) is not available from any peer yet");
        _mined.Add(round.Round);
        var carry = StateAccess.LastAccepted(head.State, _taskId, AccountAddress.BytesFromPublicKey(_key.PublicKey))?.TraceRoot;
        var output = _miner.Mine(new RoundStart(_task, round.Round, round.Beacon, model, round.ModelRoot, _taskId) { CarryFrom = carry }, _engine, [], _chunks);
        _chunks.AddProvider(output.Blobs);
        if (output.Late)
        {
            Log($"round {round.Round}: strategy {_miner.Strategy} withholds its submission");
            return;
        }
        string? error = Node.SubmitPayload(_key, output.Payload, out byte[]? id);
        _metrics?.RoleTransactions.WithLabels("submit", error is null ? "accepted" : "refused").Inc();
        Log(error is null
            ? $"round {round.Round}: submitted {Hex.Encode(id!)[..12]} (update {Hex.Encode(output.Payload.UpdateRoot)[..12]}) after {output.CpuSeconds:F2} s CPU"
                + (output.Blobs.CarryFrom is { } from ? $", optimiser state carried from trace {Hex.Encode(from)[..12]}" : "")
            : $"round {round.Round}: submission refused: {error}");
    }
}
