namespace Pot.Consensus;

public sealed partial class Replica
{
    // ---------------------------------------------------------------- checkpoints (PBFT 4.3)

    // PBFT 4.3: checkpoint messages are logged until 2f+1 matching ones (a quorum of the set that
    // executed the height) make the checkpoint stable. Checkpoints above the high watermark are
    // kept one per sender, which is how a replica that fell behind learns it must fetch state.
    private void OnCheckpoint(Checkpoint c)
    {
        int k = _options.CheckpointInterval;
        if (c.Height == 0 || c.Height % k != 0)
        {
            Drop(DropReason.InvalidCheckpoint);
            return;
        }
        if (c.Height <= _low)
        {
            Drop(DropReason.OutsideWatermarks);
            return;
        }
        var set = SetFor(c.Height);
        if (!set.Contains(c.Sender))
        {
            Drop(DropReason.NotValidator);
            return;
        }
        if (!c.HasValidSignature(_verifier))
        {
            Drop(DropReason.BadSignature);
            return;
        }
        if (c.Height > _low + _options.WatermarkWindow)
        {
            if (_farCheckpoints.TryGetValue(c.Sender, out var prior) && prior.Height >= c.Height)
            {
                Drop(DropReason.Duplicate);
                return;
            }
            _farCheckpoints[c.Sender] = c;
            var group = _farCheckpoints.Values.Where(x => x.Height == c.Height && x.StateDigest.AsSpan().SequenceEqual(c.StateDigest) && set.Contains(x.Sender)).OrderBy(x => x.Sender).ToArray();
            if (group.Length >= set.Quorum) MakeStable(c.Height, c.StateDigest, group);
            return;
        }
        if (_checkpoints.TryGetValue(c.Height, out var bySender) && bySender.TryGetValue(c.Sender, out var existing))
        {
            Drop(existing.StateDigest.AsSpan().SequenceEqual(c.StateDigest) ? DropReason.Duplicate : DropReason.Equivocation);
            return;
        }
        StoreCheckpoint(c);
    }

    private void StoreCheckpoint(Checkpoint c)
    {
        if (!_checkpoints.TryGetValue(c.Height, out var bySender))
        {
            bySender = new Dictionary<int, Checkpoint>();
            _checkpoints[c.Height] = bySender;
        }
        bySender.TryAdd(c.Sender, c);
        var set = SetFor(c.Height);
        var matching = bySender.Values.Where(x => set.Contains(x.Sender) && x.StateDigest.AsSpan().SequenceEqual(c.StateDigest)).OrderBy(x => x.Sender).ToArray();
        if (matching.Length >= set.Quorum) MakeStable(c.Height, c.StateDigest, matching);
    }

    /// <summary>Whether <paramref name="proof"/> holds a quorum of validly signed checkpoints from distinct validators over (height, digest).</summary>
    private bool VerifyCheckpointProof(long height, byte[] digest, Checkpoint[] proof)
    {
        if (height == 0) return proof.Length == 0 && digest.AsSpan().SequenceEqual(Digests.Genesis);
        if (height % _options.CheckpointInterval != 0) return false;
        var set = SetFor(height);
        var signers = new HashSet<int>();
        foreach (var c in proof)
        {
            if (c.Height != height || !c.StateDigest.AsSpan().SequenceEqual(digest) || !set.Contains(c.Sender)) return false;
            if (!signers.Add(c.Sender) || !c.HasValidSignature(_verifier)) return false;
        }
        return signers.Count >= set.Quorum;
    }

    // PBFT 4.3: a stable checkpoint becomes the low watermark; earlier log entries, checkpoints and
    // vote records are discarded. A replica that has not executed that far fetches the state.
    private void MakeStable(long height, byte[] digest, Checkpoint[] proof)
    {
        if (height <= _low) return;
        _low = height;
        _lowDigest = digest;
        _lowProof = proof;
        Persist(new CheckpointRecord(height, digest, proof));
        foreach (var h in _slots.Keys.Where(h => h <= height).ToList()) _slots.Remove(h);
        foreach (var h in _checkpoints.Keys.Where(h => h <= height).ToList()) _checkpoints.Remove(h);
        foreach (var key in _signed.Keys.Where(key => key.Height <= height).ToList()) _signed.Remove(key);
        foreach (var s in _farCheckpoints.Where(p => p.Value.Height <= height + _options.WatermarkWindow).Select(p => p.Key).ToList())
        {
            // Re-admit far checkpoints that the moved window now covers.
            var c = _farCheckpoints[s];
            _farCheckpoints.Remove(s);
            if (c.Height > height) StoreCheckpoint(c);
        }
        _nextProposal = Math.Max(_nextProposal, height + 1);
        _replayNeeded = true;
        if (_executed >= height)
        {
            if (!_states[(int)height].AsSpan().SequenceEqual(digest))
            {
                // Our executed state disagrees with a quorum-certified checkpoint: local state is corrupt.
                ResetChain();
                _distrustLocal = true;
                StartTransfer(height, digest, proof);
            }
        }
        else
        {
            StartTransfer(height, digest, proof);
        }
    }

    private void ResetChain()
    {
        _executed = 0;
        _payloads.Clear();
        _states.Clear();
        _states.Add(Digests.Genesis);
        _configs.Clear();
        _configs.Add((1, _genesisSet));
        _committedTransactions.Clear();
    }

    // ---------------------------------------------------------------- state transfer (PBFT 4.3, TOCS 6.2)

    private void StartTransfer(long height, byte[] digest, Checkpoint[] proof)
    {
        if (_transferTarget is { } current && current.Height >= height) return;
        _transferTarget = (height, digest, proof);
        _transferAttempt = 0;
        SendStateRequest();
    }

    private void SendStateRequest()
    {
        if (_transferTarget is not { } target) return;
        var peers = target.Proof.Select(c => c.Sender).Where(id => id != _self).Distinct().Order().ToArray();
        if (peers.Length == 0) peers = ActiveValidators.Members.Where(id => id != _self).ToArray();
        if (peers.Length == 0) return;
        int peer = peers[_transferAttempt % peers.Length];
        var request = Sign(new StateRequest { Sender = _self, FromHeight = _distrustLocal ? 0 : _executed });
        Send([peer], request);
        _transferGeneration++;
        _out.Add(new SetTimerOutput(TimerKind.StateTransfer, _transferGeneration, _options.StateTransferRetryMs));
    }

    // State transfer (PBFT 4.3, "a replica fetches the state it is missing"; TOCS 2002 state transfer):
    // serves the blocks after the requester's height up to our stable checkpoint, with its proof.
    private void OnStateRequest(StateRequest r)
    {
        if (!r.HasValidSignature(_verifier))
        {
            Drop(DropReason.BadSignature);
            return;
        }
        if (_low == 0 || r.FromHeight >= _low || _executed < _low || _low - r.FromHeight > ConsensusLimits.MaxTransferBlocks)
        {
            Drop(DropReason.BadStateTransfer);
            return;
        }
        var payloads = new byte[_low - r.FromHeight][];
        for (long h = r.FromHeight + 1; h <= _low; h++) payloads[h - r.FromHeight - 1] = _payloads[(int)h - 1];
        var response = Sign(new StateResponse { Sender = _self, FromHeight = r.FromHeight, CheckpointHeight = _low, StateDigest = _lowDigest, Proof = _lowProof, Payloads = payloads });
        Send([r.Sender], response);
    }

    // Verifies a state-transfer response against its checkpoint proof (a quorum of signed
    // checkpoints over the state digest) and the hash chain of the blocks, then executes them.
    private void OnStateResponse(StateResponse r)
    {
        long expectedFrom = _distrustLocal ? 0 : _executed;
        if (_transferTarget is null || r.CheckpointHeight <= _executed && !_distrustLocal || r.FromHeight != expectedFrom
            || r.Payloads.Length != r.CheckpointHeight - r.FromHeight)
        {
            Drop(DropReason.BadStateTransfer);
            return;
        }
        if (!r.HasValidSignature(_verifier) || !VerifyCheckpointProof(r.CheckpointHeight, r.StateDigest, r.Proof))
        {
            Drop(DropReason.BadStateTransfer);
            return;
        }
        byte[] state = r.FromHeight == 0 ? Digests.Genesis : _states[(int)r.FromHeight];
        for (int i = 0; i < r.Payloads.Length; i++)
        {
            state = Digests.NextState(state, Digests.Block(r.FromHeight + 1 + i, r.Payloads[i]));
        }
        if (!state.AsSpan().SequenceEqual(r.StateDigest))
        {
            Drop(DropReason.BadStateTransfer);
            if (r.FromHeight > 0)
            {
                // The blocks chain from our state to a digest nobody certified: our own state is suspect.
                _distrustLocal = true;
                SendStateRequest();
            }
            return;
        }
        if (r.FromHeight == 0 && _executed > 0) ResetChain();
        for (int i = 0; i < r.Payloads.Length; i++)
        {
            ExecuteBlock(r.FromHeight + 1 + i, r.Payloads[i], emit: true);
        }
        _distrustLocal = false;
        var target = _transferTarget.Value;
        _transferTarget = null;
        _transferGeneration++;
        if (r.CheckpointHeight > _low) MakeStable(r.CheckpointHeight, r.StateDigest, r.Proof);
        if (target.Height > _executed) StartTransfer(target.Height, target.Digest, target.Proof);
        TryExecute();
        OnExecutionProgress();
    }

    // ---------------------------------------------------------------- view change (PBFT 4.4, 4.5.2)

    // PBFT 4.4: stop accepting normal-case messages, move to view v+1 and multicast
    // ⟨VIEW-CHANGE, v+1, n, C, P, i⟩ with the stable checkpoint proof and the prepared certificates.
    private void StartViewChange(long newView)
    {
        if (!ActiveValidators.Contains(_self)) return;
        _view = newView;
        _changing = true;
        _quorumTicks = 0;
        var prepared = _slots.Where(s => s.Key > _low && s.Value.Prepared is not null).OrderBy(s => s.Key).Select(s => s.Value.Prepared!).ToArray();
        var vc = Sign(new ViewChange { Sender = _self, NewView = newView, StableHeight = _low, StableDigest = _lowDigest, CheckpointProof = _lowProof, Prepared = prepared });
        Persist(new ViewRecord(newView, Entered: false));
        _myViewChange = vc;
        _latestViewChange[_self] = vc;
        Send(ActiveValidators.Members, vc);
        // Checkpoint messages are never otherwise retransmitted: if they were lost, no checkpoint
        // becomes stable and the primary stalls at the high watermark. A view change is the sign of
        // trouble, so resend our own unstable checkpoints with it (PBFT 4.3 assumes eventual delivery).
        foreach (var (height, bySender) in _checkpoints.Where(p => p.Key > _low).OrderBy(p => p.Key).ToList())
        {
            if (bySender.TryGetValue(_self, out var mine)) Send(Config(height).Members.Concat(Config(height + 1).Members), mine);
        }
        _batchArmed = false;
        _batchDue = false;
        DisarmViewTimer();
        ArmViewTimer();
        TryCreateNewView();
    }

    private bool ValidPreparedCertificate(PreparedCertificate cert)
    {
        var pp = cert.PrePrepare;
        var set = SetFor(pp.Height);
        if (pp.Sender != set.Primary(pp.View) || !Digests.Block(pp.Height, pp.Payload).AsSpan().SequenceEqual(pp.Digest) || !pp.HasValidSignature(_verifier)) return false;
        var signers = new HashSet<int>();
        foreach (var p in cert.Prepares)
        {
            if (p.View != pp.View || p.Height != pp.Height || !p.Digest.AsSpan().SequenceEqual(pp.Digest)) return false;
            if (p.Sender == pp.Sender || !set.Contains(p.Sender) || !signers.Add(p.Sender) || !p.HasValidSignature(_verifier)) return false;
        }
        return signers.Count >= set.Quorum - 1;
    }

    private bool ValidViewChangeContent(ViewChange vc)
    {
        if (!VerifyCheckpointProof(vc.StableHeight, vc.StableDigest, vc.CheckpointProof)) return false;
        var heights = new HashSet<long>();
        foreach (var cert in vc.Prepared)
        {
            long h = cert.PrePrepare.Height;
            if (h <= vc.StableHeight || h > vc.StableHeight + _options.WatermarkWindow || cert.PrePrepare.View >= vc.NewView || !heights.Add(h)) return false;
            if (!ValidPreparedCertificate(cert)) return false;
        }
        return true;
    }

    // PBFT 4.4: a view-change is accepted if signed by a validator and its checkpoint proof and
    // prepared certificates are valid; only the latest one per sender is kept (bounded memory).
    private void OnViewChange(ViewChange vc)
    {
        var set = ActiveValidators;
        if (!set.Contains(vc.Sender))
        {
            Drop(DropReason.NotValidator);
            return;
        }
        if (!vc.HasValidSignature(_verifier))
        {
            Drop(DropReason.BadSignature);
            return;
        }
        if (_latestViewChange.TryGetValue(vc.Sender, out var prior) && prior.NewView >= vc.NewView)
        {
            Drop(prior.NewView == vc.NewView ? DropReason.Duplicate : DropReason.WrongView);
            HelpLaggard(vc);
            return;
        }
        if (!ValidViewChangeContent(vc))
        {
            Drop(DropReason.InvalidCertificate);
            return;
        }
        _latestViewChange[vc.Sender] = vc;
        if (vc.NewView < _view || vc.NewView == _view && !_changing)
        {
            Drop(DropReason.WrongView);
            HelpLaggard(vc);
            return;
        }
        // PBFT 4.5.2: f+1 view-change messages for views above ours show an honest replica wants
        // to move; join the smallest view that f+1 of them reached, even before our own timer fires.
        var above = _latestViewChange.Values.Where(x => x.Sender != _self && set.Contains(x.Sender) && x.NewView > _view)
            .Select(x => x.NewView).OrderDescending().ToArray();
        if (above.Length >= set.F + 1)
        {
            _failedViews++;
            StartViewChange(above[set.F]);
            return;
        }
        TryCreateNewView();
    }

    // A replica still asking for a view we have already entered missed the new-view: resend it.
    private void HelpLaggard(ViewChange vc)
    {
        if (!_changing && _lastNewView is { } nv && vc.NewView <= nv.View) Send([vc.Sender], nv);
        else if (_changing && _myViewChange is { } mine && vc.NewView < mine.NewView) Send([vc.Sender], mine);
    }

    private sealed record Reproposal(long MinS, byte[] MinDigest, Checkpoint[] MinProof, long MaxS, List<(long Height, byte[] Payload)> Blocks);

    // PBFT 4.4: min-s is the latest stable checkpoint in V, max-s the highest prepared height; for
    // each height between them re-propose the prepared block of the highest view, or a null
    // (empty) block where nothing was prepared.
    private static Reproposal ComputeReproposals(IReadOnlyList<ViewChange> viewChanges)
    {
        var best = viewChanges.OrderByDescending(v => v.StableHeight).ThenBy(v => v.Sender).First();
        long minS = best.StableHeight;
        long maxS = minS;
        var byHeight = new Dictionary<long, PrePrepare>();
        foreach (var cert in viewChanges.SelectMany(v => v.Prepared))
        {
            var pp = cert.PrePrepare;
            if (pp.Height <= minS) continue;
            maxS = Math.Max(maxS, pp.Height);
            if (!byHeight.TryGetValue(pp.Height, out var chosen) || pp.View > chosen.View) byHeight[pp.Height] = pp;
        }
        var blocks = new List<(long, byte[])>();
        for (long h = minS + 1; h <= maxS; h++)
        {
            blocks.Add((h, byHeight.TryGetValue(h, out var pp) ? pp.Payload : []));
        }
        return new Reproposal(minS, best.StableDigest, best.CheckpointProof, maxS, blocks);
    }

    private void TryCreateNewView()
    {
        var set = ActiveValidators;
        if (!_changing || set.Primary(_view) != _self || _newViewSentFor == _view) return;
        var chosen = _latestViewChange.Values.Where(v => v.NewView == _view && set.Contains(v.Sender))
            .OrderBy(v => v.Sender == _self ? -1 : v.Sender).Take(set.Quorum).ToArray();
        if (chosen.Length < set.Quorum) return;
        var o = ComputeReproposals(chosen);
        var pps = new List<PrePrepare>();
        foreach (var (height, payload) in o.Blocks)
        {
            byte[] digest = Digests.Block(height, payload);
            if (!RecordVote(_view, height, VotePhase.PrePrepare, digest, null)) return;
            pps.Add(Sign(new PrePrepare { Sender = _self, View = _view, Height = height, Digest = digest, Payload = payload }));
        }
        var nv = Sign(new NewView { Sender = _self, View = _view, ViewChanges = chosen, PrePrepares = pps.ToArray() });
        _newViewSentFor = _view;
        Send(set.Members, nv);
        EnterView(nv, o);
    }

    // PBFT 4.4: a backup accepts a new-view if it is signed by the new primary, its view-change
    // messages are valid, and O is exactly what it computes from V; then it enters the view and
    // prepares every re-proposal.
    private void OnNewView(NewView nv)
    {
        var set = ActiveValidators;
        if (nv.View < _view || nv.View == _view && !_changing)
        {
            Drop(nv.View == _view ? DropReason.Duplicate : DropReason.WrongView);
            return;
        }
        if (nv.Sender != set.Primary(nv.View))
        {
            Drop(DropReason.WrongRole);
            return;
        }
        if (!nv.HasValidSignature(_verifier))
        {
            Drop(DropReason.BadSignature);
            return;
        }
        var senders = new HashSet<int>();
        foreach (var vc in nv.ViewChanges)
        {
            if (vc.NewView != nv.View || !set.Contains(vc.Sender) || !senders.Add(vc.Sender) || !vc.HasValidSignature(_verifier) || !ValidViewChangeContent(vc))
            {
                Drop(DropReason.InvalidCertificate);
                return;
            }
        }
        if (senders.Count < set.Quorum)
        {
            Drop(DropReason.InvalidCertificate);
            return;
        }
        var o = ComputeReproposals(nv.ViewChanges);
        if (nv.PrePrepares.Length != o.Blocks.Count)
        {
            Drop(DropReason.InvalidCertificate);
            return;
        }
        for (int i = 0; i < o.Blocks.Count; i++)
        {
            var pp = nv.PrePrepares[i];
            var (height, payload) = o.Blocks[i];
            if (pp.View != nv.View || pp.Sender != nv.Sender || pp.Height != height || !pp.Payload.AsSpan().SequenceEqual(payload)
                || !Digests.Block(height, payload).AsSpan().SequenceEqual(pp.Digest) || !pp.HasValidSignature(_verifier)
                || payload.Length > 0 && !_validator.IsValid(height, payload))
            {
                Drop(DropReason.InvalidCertificate);
                return;
            }
        }
        EnterView(nv, o);
    }

    private void EnterView(NewView nv, Reproposal o)
    {
        _view = nv.View;
        _changing = false;
        _lastNewView = nv;
        _ahead.Clear();
        Persist(new ViewRecord(nv.View, Entered: true));
        if (o.MinS > _low) MakeStable(o.MinS, o.MinDigest, o.MinProof);
        foreach (var slot in _slots.Values)
        {
            if (slot.PrePrepare is { } old && old.View < nv.View) slot.PrePrepare = null;
        }
        var inFlight = new List<byte[]>();
        foreach (var pp in nv.PrePrepares)
        {
            if (pp.Height <= _low || pp.Height > _low + _options.WatermarkWindow) continue;
            GetSlot(pp.Height).PrePrepare = pp;
            if (TransactionBatch.TryDecode(pp.Payload, out var txs)) inFlight.AddRange(txs);
            if (Known(pp.Height)) SendPrepare(pp, Config(pp.Height));
        }
        foreach (var pp in nv.PrePrepares)
        {
            if (_slots.ContainsKey(pp.Height)) CheckPrepared(pp.Height);
        }
        _nextProposal = Math.Max(o.MaxS, Math.Max(_low, _executed)) + 1;
        RebuildQueue(inFlight);
        _batchDue = false;
        DisarmViewTimer();
        _replayNeeded = true;
    }

    // ---------------------------------------------------------------- restart

    // Rebuilds the replica from its persisted records. Vote records restore what was signed (so no
    // different digest is ever signed for the same view, height and phase) and the prepared
    // certificates; block records restore the executed chain, which is checked against the stable
    // checkpoint proof: a chain that disagrees with it is discarded and fetched again.
    private void Restore(IEnumerable<PersistRecord> records)
    {
        long maxView = 0;
        bool entered = true;
        (long Height, byte[] Digest, Checkpoint[] Proof)? checkpoint = null;
        bool chainBroken = false;
        foreach (var record in records)
        {
            switch (record)
            {
                case VoteRecord v:
                    _signed[(v.View, v.Height, v.Phase)] = v.Digest;
                    if (v.View > maxView || v.View == maxView && !entered) { maxView = v.View; entered = true; }
                    if (v.Certificate is { } cert)
                    {
                        var slot = GetSlot(v.Height);
                        if (slot.Prepared is null || slot.Prepared.PrePrepare.View < cert.PrePrepare.View) slot.Prepared = cert;
                    }
                    break;
                case ViewRecord vr:
                    if (vr.View > maxView) { maxView = vr.View; entered = vr.Entered; }
                    else if (vr.View == maxView && vr.Entered) entered = true;
                    break;
                case BlockRecord b:
                    if (!chainBroken && b.Height == _executed + 1) ExecuteBlock(b.Height, b.Payload, emit: false);
                    else if (b.Height > _executed + 1) chainBroken = true;
                    break;
                case CheckpointRecord c:
                    if (checkpoint is null || c.Height > checkpoint.Value.Height) checkpoint = (c.Height, c.StateDigest, c.Proof);
                    break;
            }
        }
        _view = maxView;
        _changing = !entered;
        if (checkpoint is { } cp && VerifyCheckpointProof(cp.Height, cp.Digest, cp.Proof))
        {
            _low = cp.Height;
            _lowDigest = cp.Digest;
            _lowProof = cp.Proof;
            foreach (var h in _slots.Keys.Where(h => h <= _low).ToList()) _slots.Remove(h);
            foreach (var key in _signed.Keys.Where(key => key.Height <= _low).ToList()) _signed.Remove(key);
            if (_executed >= _low && !_states[(int)_low].AsSpan().SequenceEqual(_lowDigest))
            {
                ResetChain();
                _distrustLocal = true;
            }
            if (_executed < _low) _transferTarget = (_low, _lowDigest, _lowProof);
        }
        _nextProposal = Math.Max(_low, _executed) + 1;
    }
}

/// <summary>Content equality for byte arrays used as dictionary keys.</summary>
internal sealed class ByteArrayComparer : IEqualityComparer<byte[]>
{
    public static readonly ByteArrayComparer Instance = new();

    public bool Equals(byte[]? x, byte[]? y) => ReferenceEquals(x, y) || x is not null && y is not null && x.AsSpan().SequenceEqual(y);

    public int GetHashCode(byte[] obj)
    {
        // Deterministic (unlike HashCode.AddBytes, which is seeded per process).
        ulong h = 14695981039346656037UL;
        foreach (byte b in obj) h = (h ^ b) * 1099511628211UL;
        return (int)(h ^ (h >> 32));
    }
}
