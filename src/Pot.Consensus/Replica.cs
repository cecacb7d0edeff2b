namespace Pot.Consensus;

/// <summary>
/// One PBFT replica (Castro &amp; Liskov, OSDI 1999 / TOCS 2002) with the block height as the sequence
/// number. A pure, deterministic state machine: <see cref="Step"/> maps (state, input) to
/// (state, outputs). There is no clock, thread, socket, disk or randomness inside; the host carries
/// out the outputs in order, writing every <see cref="PersistOutput"/> durably before the sends that
/// follow it.
/// </summary>
public sealed partial class Replica
{
    private readonly ConsensusOptions _options;
    private readonly IConsensusSigner _signer;
    private readonly IConsensusVerifier _verifier;
    private readonly IBlockValidator _validator;
    private readonly IProposalBuilder? _proposals;
    private readonly int _self;
    private readonly long[] _drops = new long[Enum.GetValues<DropReason>().Length];
    private List<ConsensusOutput> _out = new();

    // Configuration: validator sets by the first height they govern.
    private readonly ValidatorSet _genesisSet;
    private readonly List<(long From, ValidatorSet Set)> _configs = new();

    // View state (PBFT 4.4).
    private long _view;
    private bool _changing;
    private int _failedViews;
    private long _quorumTicks;
    private NewView? _lastNewView;
    private ViewChange? _myViewChange;
    private long _newViewSentFor = -1;
    private readonly Dictionary<int, ViewChange> _latestViewChange = new();
    private readonly Dictionary<int, long> _ahead = new();

    // Message log and checkpoints (PBFT 4.2, 4.3).
    private readonly Dictionary<long, Slot> _slots = new();
    private readonly Dictionary<long, Dictionary<int, Checkpoint>> _checkpoints = new();
    private readonly Dictionary<int, Checkpoint> _farCheckpoints = new();
    private readonly Dictionary<(long View, long Height, VotePhase Phase), byte[]> _signed = new();
    private long _low;
    private byte[] _lowDigest = Digests.Genesis;
    private Checkpoint[] _lowProof = [];
    private long _nextProposal = 1;

    // Executed chain: payloads[h-1] and states[h] (states[0] is genesis).
    private long _executed;
    private readonly List<byte[]> _payloads = new();
    private readonly List<byte[]> _states = new() { Digests.Genesis };

    // Client transactions.
    private readonly Dictionary<byte[], long> _pool = new(ByteArrayComparer.Instance);
    private readonly HashSet<byte[]> _committedTransactions = new(ByteArrayComparer.Instance);
    private readonly Queue<byte[]> _queue = new();
    private readonly HashSet<byte[]> _queued = new(ByteArrayComparer.Instance);
    private long _poolSequence;

    // Timers: a generation per kind; stale expiries are ignored.
    private long _viewTimerGeneration;
    private bool _viewTimerArmed;
    private long _batchGeneration;
    private bool _batchArmed;
    private bool _batchDue;
    private long _transferGeneration;

    // State transfer.
    private (long Height, byte[] Digest, Checkpoint[] Proof)? _transferTarget;
    private int _transferAttempt;
    private bool _distrustLocal;

    // Early messages (future view, or heights whose validator set is not yet known).
    private readonly List<ConsensusMessage> _buffer = new();
    private bool _replayNeeded;

    private sealed class Slot
    {
        public PrePrepare? PrePrepare;
        public readonly Dictionary<long, Dictionary<int, Prepare>> Prepares = new();
        public readonly Dictionary<long, Dictionary<int, Commit>> Commits = new();
        public PreparedCertificate? Prepared;
        public byte[]? CommittedPayload;
    }

    /// <summary>Creates a replica, rebuilding its state from the records it persisted before a restart.</summary>
    /// <param name="options">Protocol options.</param>
    /// <param name="genesis">Validator set at height 1.</param>
    /// <param name="signer">This node's signer; its <see cref="IConsensusSigner.NodeId"/> is the replica's id.</param>
    /// <param name="verifier">Verifier for every node's signatures.</param>
    /// <param name="validator">Block validity and reconfiguration callback.</param>
    /// <param name="persisted">Records persisted before a crash, in write order; null or empty for a fresh replica.</param>
    /// <param name="proposals">Optional proposal hook (see <see cref="IProposalBuilder"/>); null proposes <see cref="TransactionBatch"/>es.</param>
    public Replica(ConsensusOptions options, ValidatorSet genesis, IConsensusSigner signer, IConsensusVerifier verifier, IBlockValidator validator, IEnumerable<PersistRecord>? persisted = null, IProposalBuilder? proposals = null)
    {
        _proposals = proposals;
        options.Validate();
        _options = options;
        _genesisSet = genesis;
        _signer = signer;
        _verifier = verifier;
        _validator = validator;
        _self = signer.NodeId;
        _configs.Add((1, genesis));
        if (persisted is not null)
        {
            Restore(persisted);
        }
    }

    /// <summary>This replica's node id.</summary>
    public int NodeId => _self;
    /// <summary>Current view (the target view while a view change is in progress).</summary>
    public long View => _view;
    /// <summary>Whether a view change is in progress.</summary>
    public bool IsChangingView => _changing;
    /// <summary>Height of the last executed block.</summary>
    public long ExecutedHeight => _executed;
    /// <summary>Low watermark: height of the last stable checkpoint.</summary>
    public long StableHeight => _low;
    /// <summary>State digest after <see cref="ExecutedHeight"/>.</summary>
    public byte[] StateDigest => _states[(int)_executed];
    /// <summary>Validator set for the next height to execute.</summary>
    public ValidatorSet ActiveValidators => Config(_executed + 1);
    /// <summary>Number of client transactions waiting to be committed.</summary>
    public int PendingTransactions => _pool.Count;
    /// <summary>Messages handed to the core (including dropped ones).</summary>
    public long MessagesHandled { get; private set; }
    /// <summary>Whether a state transfer is outstanding.</summary>
    public bool IsTransferringState => _transferTarget is not null;

    /// <summary>How many messages were dropped for <paramref name="reason"/>.</summary>
    /// <param name="reason">Drop reason.</param>
    /// <returns>The count.</returns>
    public long Dropped(DropReason reason) => _drops[(int)reason];

    /// <summary>Drop counters indexed by <see cref="DropReason"/>.</summary>
    public IReadOnlyList<long> DropCounts => _drops;

    /// <summary>The block payload executed at <paramref name="height"/>, or null if not held.</summary>
    /// <param name="height">Height.</param>
    /// <returns>Payload or null.</returns>
    public byte[]? ExecutedPayload(long height) => height >= 1 && height <= _executed ? _payloads[(int)height - 1] : null;

    /// <summary>Advances the state machine by one input and returns the outputs to carry out, in order.</summary>
    /// <param name="input">The input.</param>
    /// <returns>Outputs: persist records, sends, timers and committed blocks.</returns>
    public IReadOnlyList<ConsensusOutput> Step(ConsensusInput input)
    {
        _out = new List<ConsensusOutput>();
        switch (input)
        {
            case StartInput:
                OnStart();
                break;
            case MessageInput m:
                MessagesHandled++;
                OnMessage(m.Message);
                break;
            case RawMessageInput raw:
                MessagesHandled++;
                ConsensusMessage decoded;
                try
                {
                    decoded = MessageCodec.Decode(raw.Bytes);
                }
                catch (ConsensusEncodingException)
                {
                    Drop(DropReason.Malformed);
                    break;
                }
                OnMessage(decoded);
                break;
            case TimerInput t:
                OnTimer(t);
                break;
            case ClientRequestInput r:
                OnClientRequest(r.Transaction);
                break;
            default:
                throw new ArgumentException($"unknown consensus input {input.GetType().Name}, expected Start, Message, RawMessage, Timer or ClientRequest", nameof(input));
        }
        AfterStep();
        return _out;
    }

    private void AfterStep()
    {
        for (int guard = 0; _replayNeeded && guard < 64; guard++)
        {
            _replayNeeded = false;
            if (_buffer.Count == 0) break;
            var items = _buffer.ToArray();
            _buffer.Clear();
            foreach (var m in items) OnMessage(m);
        }
        TryPropose();
        UpdateViewTimer();
    }

    private void Drop(DropReason reason) => _drops[(int)reason]++;

    // ---------------------------------------------------------------- configuration

    private static long Boundary(long height, int interval) => (height - 1) / interval * interval;

    private ValidatorSet Config(long height)
    {
        for (int i = _configs.Count - 1; i >= 0; i--)
        {
            if (_configs[i].From <= height) return _configs[i].Set;
        }
        return _genesisSet;
    }

    // The set for a height is known once the checkpoint boundary below it has been executed.
    private bool Known(long height) => Boundary(height, _options.CheckpointInterval) <= _executed;

    // Best available set to check signatures on a height we may not have reached (state transfer,
    // far checkpoints, certificates): the exact one if known, else the latest one we know.
    private ValidatorSet SetFor(long height) => Known(height) ? Config(height) : Config(_executed + 1);

    private void ApplyValidatorSetChange(long height, byte[] payload)
    {
        var next = _validator.ValidatorSetChange(height, payload);
        if (next is null) return;
        int k = _options.CheckpointInterval;
        long from = (height + k - 1) / k * k + 1;
        _configs.RemoveAll(c => c.From >= from);
        _configs.Add((from, next));
    }

    // ---------------------------------------------------------------- outputs

    private void Send(IEnumerable<int> to, ConsensusMessage message)
    {
        var targets = to.Where(id => id != _self).Distinct().ToArray();
        if (targets.Length > 0) _out.Add(new SendOutput(targets, message));
    }

    private void Persist(PersistRecord record) => _out.Add(new PersistOutput(record));

    private T Sign<T>(T message) where T : ConsensusMessage => message.SignWith(_signer);

    // "Persist before you sign": returns false if this (view, height, phase) was already signed for
    // another digest, which must never happen twice; a repeat of the same digest may be resent.
    private bool RecordVote(long view, long height, VotePhase phase, byte[] digest, PreparedCertificate? certificate)
    {
        if (_signed.TryGetValue((view, height, phase), out var prior))
        {
            return prior.AsSpan().SequenceEqual(digest);
        }
        _signed[(view, height, phase)] = digest;
        Persist(new VoteRecord(view, height, phase, digest, certificate));
        return true;
    }

    // ---------------------------------------------------------------- timers

    private void ArmViewTimer()
    {
        _viewTimerGeneration++;
        _viewTimerArmed = true;
        _out.Add(new SetTimerOutput(TimerKind.View, _viewTimerGeneration, _options.ViewTimeoutMs));
    }

    private void DisarmViewTimer()
    {
        _viewTimerGeneration++;
        _viewTimerArmed = false;
    }

    // PBFT 4.4: a backup runs its timer while it waits to execute a request it knows of, and during
    // a view change (4.5.2) so that a failed view change moves on to the next view.
    private void UpdateViewTimer()
    {
        bool member = ActiveValidators.Contains(_self);
        bool waiting = member && (_changing || _pool.Count > 0 || _slots.Any(s => s.Key > _executed && s.Value.PrePrepare is not null));
        if (waiting && !_viewTimerArmed) ArmViewTimer();
        else if (!waiting && _viewTimerArmed) DisarmViewTimer();
    }

    private void PurgeStale()
    {
        var stale = _pool.Keys.Where(_proposals!.IsStale).ToList();
        if (stale.Count == 0) return;
        foreach (var tx in stale) _pool.Remove(tx);
        RebuildQueue([]);
    }

    private void OnTimer(TimerInput t)
    {
        switch (t.Kind)
        {
            case TimerKind.View when t.Generation == _viewTimerGeneration && _viewTimerArmed:
                _viewTimerArmed = false;
                if (_proposals is not null && !_changing)
                {
                    // Pending transactions the host reports stale (committed elsewhere, invalid) are no
                    // reason to suspect the primary.
                    PurgeStale();
                    bool waiting = _pool.Count > 0 || _slots.Any(s => s.Key > _executed && s.Value.PrePrepare is not null);
                    if (!waiting) break;
                }
                OnViewTimer();
                break;
            case TimerKind.Batch when t.Generation == _batchGeneration && _batchArmed:
                _batchArmed = false;
                _batchDue = true;
                break;
            case TimerKind.StateTransfer when t.Generation == _transferGeneration && _transferTarget is not null:
                _transferAttempt++;
                SendStateRequest();
                break;
        }
    }

    // PBFT 4.4 / 4.5.2. In normal operation an expiry starts a view change. While changing views the
    // timer ticks every T: each tick retransmits our view-change (messages may have been lost), and
    // only ticks after a quorum of view-changes for this view count towards giving up on it; after
    // 2^k such ticks (k = consecutive failed views, capped) the replica moves to the next view. Not
    // counting ticks before a quorum is PBFT's rule that keeps honest replicas from racing ahead alone.
    private void OnViewTimer()
    {
        if (!_changing)
        {
            _failedViews++;
            StartViewChange(_view + 1);
            return;
        }
        var set = ActiveValidators;
        // A replica asking for a later view has given up on this one too, so it counts as support.
        int support = _latestViewChange.Values.Count(v => v.NewView >= _view && set.Contains(v.Sender));
        if (support >= set.Quorum) _quorumTicks++;
        if (_quorumTicks >= 1L << Math.Min(_failedViews, _options.MaxTimeoutDoublings))
        {
            _failedViews++;
            StartViewChange(_view + 1);
            return;
        }
        if (_myViewChange is { } mine && mine.NewView == _view) Send(set.Members, mine);
        ArmViewTimer();
    }

    private void OnStart()
    {
        if (_changing && ActiveValidators.Contains(_self))
        {
            // A restarted replica that had started a view change resends it; its old message was not persisted.
            StartViewChange(_view);
        }
        if (_transferTarget is not null) SendStateRequest();
        // Blocks re-executed from disk emit no checkpoints; sign and send those still unstable,
        // otherwise a restart right after a checkpoint height could leave it never stable (PBFT 4.3).
        int k = _options.CheckpointInterval;
        for (long h = (_low / k + 1) * k; h <= _executed; h += k)
        {
            if (!Config(h).Contains(_self)) continue;
            var checkpoint = Sign(new Checkpoint { Sender = _self, Height = h, StateDigest = _states[(int)h] });
            Send(Config(h).Members.Concat(Config(h + 1).Members), checkpoint);
            StoreCheckpoint(checkpoint);
        }
        _viewTimerArmed = false;
        UpdateViewTimer();
    }

    // ---------------------------------------------------------------- client requests

    // PBFT 4.1/4.2: requests wait at every replica (so a backup can time out a primary that ignores
    // them); the primary batches them into blocks. Committed and oversized ones are ignored.
    private void OnClientRequest(byte[] transaction)
    {
        if (transaction.Length == 0 || transaction.Length > TransactionBatch.MaxTransactionBytes) return;
        if (_pool.Count >= _options.MaxPendingTransactions) return;
        if (_committedTransactions.Contains(transaction) || _pool.ContainsKey(transaction)) return;
        _pool[transaction] = _poolSequence++;
        if (_queued.Add(transaction)) _queue.Enqueue(transaction);
    }

    private void RebuildQueue(IEnumerable<byte[]> inFlight)
    {
        var skip = new HashSet<byte[]>(inFlight, ByteArrayComparer.Instance);
        _queue.Clear();
        _queued.Clear();
        foreach (var (tx, _) in _pool.OrderBy(p => p.Value))
        {
            if (!skip.Contains(tx) && _queued.Add(tx)) _queue.Enqueue(tx);
        }
    }

    // ---------------------------------------------------------------- normal case (PBFT 4.2)

    // PBFT 4.2: the primary assigns the next sequence number (height) inside the watermarks to a batch.
    private void TryPropose()
    {
        if (_changing || _transferTarget is not null) return;
        while (true)
        {
            long height = Math.Max(_nextProposal, _executed + 1);
            if (height <= _low) height = _low + 1;
            if (height > _low + _options.WatermarkWindow || !Known(height)) return;
            // A builder's payload names its parent, so it can only be built on the executed state.
            if (_proposals is not null && height != _executed + 1) return;
            var set = Config(height);
            if (set.Primary(_view) != _self) return;
            if (_signed.ContainsKey((_view, height, VotePhase.PrePrepare)))
            {
                _nextProposal = height + 1;
                continue;
            }
            if (_proposals is not null) PurgeStale();
            var batch = new List<byte[]>();
            while (batch.Count < _options.MaxBatchTransactions && _queue.Count > 0)
            {
                var tx = _queue.Dequeue();
                _queued.Remove(tx);
                if (_pool.ContainsKey(tx)) batch.Add(tx);
            }
            if (batch.Count == 0)
            {
                _batchDue = false;
                if (_proposals?.BuildEmpty(height) is not byte[] empty) return;
                ProposeBuilt(height, set, empty);
                return;
            }
            if (batch.Count < _options.MaxBatchTransactions && !_batchDue)
            {
                // Not full and the batch delay has not passed: put them back and wait for the timer.
                var rest = _queue.ToArray();
                _queue.Clear();
                foreach (var tx in batch.Concat(rest)) { _queue.Enqueue(tx); _queued.Add(tx); }
                if (!_batchArmed)
                {
                    _batchArmed = true;
                    _batchGeneration++;
                    _out.Add(new SetTimerOutput(TimerKind.Batch, _batchGeneration, _options.BatchDelayMs));
                }
                return;
            }
            byte[]? built = _proposals is null ? TransactionBatch.Encode(batch) : _proposals.Build(height, batch);
            if (built is null)
            {
                // Nothing the builder can use yet: keep the batch pending and retry after the batch delay.
                var rest = _queue.ToArray();
                _queue.Clear();
                foreach (var tx in batch.Concat(rest)) { _queue.Enqueue(tx); _queued.Add(tx); }
                _batchDue = false;
                if (!_batchArmed)
                {
                    _batchArmed = true;
                    _batchGeneration++;
                    _out.Add(new SetTimerOutput(TimerKind.Batch, _batchGeneration, _options.BatchDelayMs));
                }
                return;
            }
            if (!ProposeBuilt(height, set, built)) return;
        }
    }

    // Sends the pre-prepare of a built payload at height; false when this replica already voted there.
    private bool ProposeBuilt(long height, ValidatorSet set, byte[] payload)
    {
        byte[] digest = Digests.Block(height, payload);
        if (!RecordVote(_view, height, VotePhase.PrePrepare, digest, null)) return false;
        var pp = Sign(new PrePrepare { Sender = _self, View = _view, Height = height, Digest = digest, Payload = payload });
        GetSlot(height).PrePrepare = pp;
        Send(set.Members, pp);
        _nextProposal = height + 1;
        CheckPrepared(height);
        return true;
    }

    private Slot GetSlot(long height)
    {
        if (!_slots.TryGetValue(height, out var slot))
        {
            slot = new Slot();
            _slots[height] = slot;
        }
        return slot;
    }

    private void Buffer(ConsensusMessage message)
    {
        if (_buffer.Count >= _options.MaxBufferedMessages)
        {
            Drop(DropReason.TooFarAhead);
            return;
        }
        _buffer.Add(message);
    }

    private void OnMessage(ConsensusMessage message)
    {
        switch (message)
        {
            case PrePrepare or Prepare or Commit:
                OnVote(message);
                break;
            case Checkpoint c:
                OnCheckpoint(c);
                break;
            case ViewChange vc:
                OnViewChange(vc);
                break;
            case NewView nv:
                OnNewView(nv);
                break;
            case StateRequest r:
                OnStateRequest(r);
                break;
            case StateResponse r:
                OnStateResponse(r);
                break;
        }
    }

    // Shared admission checks of PBFT 4.2 for pre-prepare, prepare and commit: watermarks, a known
    // validator set, membership, signature, and the current view.
    private void OnVote(ConsensusMessage message)
    {
        (long view, long height) = message switch
        {
            PrePrepare p => (p.View, p.Height),
            Prepare p => (p.View, p.Height),
            Commit c => (c.View, c.Height),
            _ => (0L, 0L),
        };
        if (height <= _low || height > _low + _options.WatermarkWindow)
        {
            Drop(DropReason.OutsideWatermarks);
            return;
        }
        if (!Known(height))
        {
            Buffer(message);
            return;
        }
        var set = Config(height);
        if (!set.Contains(message.Sender))
        {
            Drop(DropReason.NotValidator);
            return;
        }
        if (!message.HasValidSignature(_verifier))
        {
            Drop(DropReason.BadSignature);
            return;
        }
        if (view < _view)
        {
            Drop(DropReason.WrongView);
            return;
        }
        if (view > _view + _options.FutureViewWindow)
        {
            Drop(DropReason.TooFarAhead);
            return;
        }
        if (view > _view && !_changing) NoteSenderAhead(message.Sender, view, set);
        if (view > _view || _changing || _transferTarget is not null && message is PrePrepare)
        {
            // Early for this replica (the new-view or the state may still be on its way): keep it.
            Buffer(message);
            return;
        }
        var slot = GetSlot(height);
        switch (message)
        {
            case PrePrepare pp:
                OnPrePrepare(pp, slot, set);
                break;
            case Prepare p:
                OnPrepare(p, slot, set);
                break;
            case Commit c:
                OnCommit(c, slot);
                break;
        }
    }

    // Extends the f+1 rule of PBFT 4.5.2 to normal-case traffic: a replica that restarted (or missed a
    // new-view) in an old view sees validly signed votes of a later view from f+1 validators, so at
    // least one honest replica is there. It asks for that view; replicas already in it answer with
    // their new-view message (see HelpLaggard), which brings it in.
    private void NoteSenderAhead(int sender, long view, ValidatorSet set)
    {
        if (_ahead.TryGetValue(sender, out long known) && known >= view) return;
        _ahead[sender] = view;
        var above = _ahead.Where(p => p.Value > _view && set.Contains(p.Key) && p.Key != _self).Select(p => p.Value).OrderDescending().ToArray();
        if (above.Length >= set.F + 1 && set.Contains(_self))
        {
            _ahead.Clear();
            StartViewChange(above[set.F]);
        }
    }

    // PBFT 4.2: a backup accepts a pre-prepare if it is signed by the primary of its view, in the
    // current view and watermarks, and no other pre-prepare for (v, n) with a different digest was accepted.
    private void OnPrePrepare(PrePrepare pp, Slot slot, ValidatorSet set)
    {
        if (pp.Sender != set.Primary(pp.View))
        {
            Drop(DropReason.WrongRole);
            return;
        }
        if (slot.PrePrepare is { } existing && existing.View == pp.View)
        {
            Drop(existing.Digest.AsSpan().SequenceEqual(pp.Digest) ? DropReason.Duplicate : DropReason.Equivocation);
            return;
        }
        if (!Digests.Block(pp.Height, pp.Payload).AsSpan().SequenceEqual(pp.Digest) || !_validator.IsValid(pp.Height, pp.Payload))
        {
            Drop(DropReason.InvalidBlock);
            return;
        }
        slot.PrePrepare = pp;
        SendPrepare(pp, set);
        CheckPrepared(pp.Height);
    }

    private void SendPrepare(PrePrepare pp, ValidatorSet set)
    {
        if (!set.Contains(_self) || set.Primary(pp.View) == _self) return;
        if (!RecordVote(pp.View, pp.Height, VotePhase.Prepare, pp.Digest, null)) return;
        var prepare = Sign(new Prepare { Sender = _self, View = pp.View, Height = pp.Height, Digest = pp.Digest });
        AddVote(GetSlot(pp.Height).Prepares, pp.View, _self, prepare);
        Send(set.Members, prepare);
    }

    private static bool AddVote<T>(Dictionary<long, Dictionary<int, T>> votes, long view, int sender, T vote) where T : ConsensusMessage
    {
        if (!votes.TryGetValue(view, out var bySender))
        {
            bySender = new Dictionary<int, T>();
            votes[view] = bySender;
        }
        return bySender.TryAdd(sender, vote);
    }

    private DropReason? VoteConflict<T>(Dictionary<long, Dictionary<int, T>> votes, long view, int sender, byte[] digest, Func<T, byte[]> digestOf)
    {
        if (votes.TryGetValue(view, out var bySender) && bySender.TryGetValue(sender, out var prior))
        {
            return digestOf(prior).AsSpan().SequenceEqual(digest) ? DropReason.Duplicate : DropReason.Equivocation;
        }
        return null;
    }

    // PBFT 4.2: prepares are logged whether or not the pre-prepare has arrived yet.
    private void OnPrepare(Prepare p, Slot slot, ValidatorSet set)
    {
        if (p.Sender == set.Primary(p.View))
        {
            Drop(DropReason.WrongRole);
            return;
        }
        if (VoteConflict(slot.Prepares, p.View, p.Sender, p.Digest, x => x.Digest) is { } reason)
        {
            Drop(reason);
            return;
        }
        AddVote(slot.Prepares, p.View, p.Sender, p);
        CheckPrepared(p.Height);
    }

    // PBFT 4.2: prepared(m, v, n, i) holds with the pre-prepare and 2f matching prepares from
    // distinct backups; the replica then multicasts a commit. The certificate is persisted with the
    // commit record so that a restarted replica still reports it in a view change (4.4).
    private void CheckPrepared(long height)
    {
        if (!_slots.TryGetValue(height, out var slot) || slot.PrePrepare is not { } pp || pp.View != _view) return;
        var set = Config(height);
        int primary = set.Primary(pp.View);
        // With one validator the quorum is 1 and 2f = 0 prepares are needed: no prepare entry exists then.
        var prepares = slot.Prepares.TryGetValue(pp.View, out var logged) ? logged : new Dictionary<int, Prepare>();
        var matching = prepares.Values
            .Where(p => p.Sender != primary && set.Contains(p.Sender) && p.Digest.AsSpan().SequenceEqual(pp.Digest))
            .OrderBy(p => p.Sender).Take(set.Quorum - 1).ToArray();
        if (matching.Length < set.Quorum - 1) return;
        if (slot.Prepared is null || slot.Prepared.PrePrepare.View < pp.View)
        {
            slot.Prepared = new PreparedCertificate { PrePrepare = pp, Prepares = matching };
        }
        if (set.Contains(_self) && !_signed.ContainsKey((pp.View, height, VotePhase.Commit)))
        {
            if (RecordVote(pp.View, height, VotePhase.Commit, pp.Digest, slot.Prepared))
            {
                var commit = Sign(new Commit { Sender = _self, View = pp.View, Height = height, Digest = pp.Digest });
                AddVote(slot.Commits, pp.View, _self, commit);
                Send(set.Members, commit);
            }
        }
        CheckCommitted(height);
    }

    // PBFT 4.2: commits are logged per (view, height, sender); a second, different commit from one
    // sender for the same slot is equivocation and is counted, not stored.
    private void OnCommit(Commit c, Slot slot)
    {
        if (VoteConflict(slot.Commits, c.View, c.Sender, c.Digest, x => x.Digest) is { } reason)
        {
            Drop(reason);
            return;
        }
        AddVote(slot.Commits, c.View, c.Sender, c);
        CheckCommitted(c.Height);
    }

    // PBFT 4.2: committed-local(m, v, n, i) holds when prepared and 2f+1 matching commits from
    // distinct replicas are logged; requests execute in sequence-number order.
    private void CheckCommitted(long height)
    {
        if (!_slots.TryGetValue(height, out var slot) || slot.CommittedPayload is not null || slot.Prepared is not { } cert) return;
        var pp = cert.PrePrepare;
        var set = Config(height);
        if (!slot.Commits.TryGetValue(pp.View, out var commits)) return;
        int count = commits.Values.Count(c => set.Contains(c.Sender) && c.Digest.AsSpan().SequenceEqual(pp.Digest));
        if (count < set.Quorum) return;
        slot.CommittedPayload = pp.Payload;
        TryExecute();
    }

    private void TryExecute()
    {
        bool progressed = false;
        while (_transferTarget is null && _slots.TryGetValue(_executed + 1, out var slot) && slot.CommittedPayload is { } payload)
        {
            ExecuteBlock(_executed + 1, payload, emit: true);
            progressed = true;
        }
        if (progressed)
        {
            OnExecutionProgress();
        }
    }

    private void OnExecutionProgress()
    {
        if (!_changing) _failedViews = 0;
        // PBFT 4.4: the timer restarts when the replica is still waiting for another request.
        if (_viewTimerArmed) DisarmViewTimer();
        _replayNeeded = true;
    }

    private void ExecuteBlock(long height, byte[] payload, bool emit)
    {
        byte[] digest = Digests.Block(height, payload);
        byte[] state = Digests.NextState(_states[(int)height - 1], digest);
        _executed = height;
        _payloads.Add(payload);
        _states.Add(state);
        if (_proposals is not null)
        {
            // With a proposal builder the host owns transaction state: a payload it later judges
            // invalid (and skips) may carry transactions it submits again, so none is remembered here.
            foreach (var tx in _proposals.TransactionsOf(payload)) _pool.Remove(tx);
        }
        else if (TransactionBatch.TryDecode(payload, out var transactions))
        {
            foreach (var tx in transactions)
            {
                _pool.Remove(tx);
                _committedTransactions.Add(tx);
            }
        }
        ApplyValidatorSetChange(height, payload);
        if (!emit) return;
        Persist(new BlockRecord(height, payload));
        _out.Add(new CommittedOutput(height, digest, payload));
        if (height % _options.CheckpointInterval == 0 && height > _low && Config(height).Contains(_self))
        {
            // PBFT 4.3: after executing a checkpoint height, multicast ⟨CHECKPOINT, n, d, i⟩. The set of
            // the next interval also hears it, so a replica joining there learns where to catch up.
            var checkpoint = Sign(new Checkpoint { Sender = _self, Height = height, StateDigest = state });
            Send(Config(height).Members.Concat(Config(height + 1).Members), checkpoint);
            StoreCheckpoint(checkpoint);
        }
    }
}
