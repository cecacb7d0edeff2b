using System.Buffers.Binary;
using Pot.Chain;
using Pot.Chain.Blocks;
using Pot.Chain.Execution;
using Pot.Chain.Genesis;
using Pot.Chain.Mempool;
using Pot.Chain.Storage;
using Pot.Chain.Transactions;
using Pot.Commitments;
using Pot.Commitments.Keys;
using Pot.Consensus;

namespace Pot.Node;

/// <summary>Why a peer or user request was refused (the HTTP layer maps these to status codes).</summary>
public enum RejectReason
{
    /// <summary>Bytes do not decode.</summary>
    Malformed,
    /// <summary>Signature does not verify or the signer is not a validator.</summary>
    BadSignature,
    /// <summary>A valid message the node already has (replay).</summary>
    Duplicate,
    /// <summary>The chain refused it (nonce, balance, fee...).</summary>
    Invalid,
}

/// <summary>Outcome of an inbound request.</summary>
/// <param name="Accepted">True when it was taken.</param>
/// <param name="Reason">Why not.</param>
/// <param name="Message">Human-readable detail.</param>
public readonly record struct Admission(bool Accepted, RejectReason Reason, string Message)
{
    /// <summary>Accepted.</summary>
    public static Admission Ok { get; } = new(true, default, "accepted");
    /// <summary>Refused.</summary>
    public static Admission No(RejectReason reason, string message) => new(false, reason, message);
}

/// <summary>
/// The node's core: the PBFT replica driven by a real clock, the chain store, the mempool and the
/// block-commit certificates. Every state change happens under one lock, so the replica (a pure state
/// machine) sees one input at a time. The consensus/chain composition is described in docs/node.md:
/// PBFT orders chain-block payloads built by the primary (<see cref="IProposalBuilder"/>); after a
/// payload commits in PBFT each node judges it against its chain head in PBFT order (deterministic
/// skip of invalid ones), signs the header hash ("pot/block-commit") and gossips the signature; 2f+1
/// signatures form the certificate and the block goes into the ChainStore.
/// </summary>
public sealed class NodeCore : IProposalBuilder, IBlockValidator, INodeApi, IDisposable
{
    private readonly object _gate = new();
    private readonly NodeConfig _config;
    private readonly GenesisDocument _genesis;
    private readonly Ed25519Keys _key;
    private readonly ChainStore _store;
    private readonly ConsensusLog? _log;
    private readonly TransactionPool _mempool;
    private readonly Replica? _replica;
    private readonly IPeerTransport _peers;
    private readonly IConsensusVerifier _verifier;
    private readonly ConsensusOutbound? _outbound; // null on a follower (no replica)
    private readonly byte[][] _validatorAddresses;
    private readonly byte[][] _validatorKeys;
    private readonly int _quorum;
    private readonly Queue<(long ConsensusHeight, byte[] Payload)> _pending = new();
    private readonly Dictionary<string, SortedDictionary<string, byte[]>> _signatures = new();
    private readonly Dictionary<string, ulong> _txHeights = new();
    private readonly CancellationTokenSource _stop = new();
    private (Block Block, byte[] Bytes)? _awaitingCertificate;
    private readonly List<Transaction> _refeed = new();
    private long _timerSequence;
    private bool _disposed;

    /// <summary>Node metrics.</summary>
    public NodeMetrics Metrics { get; }

    /// <summary>This node's consensus id (index of its address in the ascending validator set); −1 for a follower.</summary>
    public int NodeId { get; }

    /// <summary>Whether this node's key is a genesis validator (it runs a PBFT replica); false for a follower, which only follows the chain by catch-up.</summary>
    public bool IsValidator => NodeId >= 0;

    /// <summary>The node's validator address.</summary>
    public string Address => _key.Address;

    /// <summary>Chain id.</summary>
    public string ChainId => _genesis.ChainId;

    /// <summary>The chunk seam.</summary>
    public IChunkService Chunks { get; }

    /// <summary>Roles that receive committed blocks.</summary>
    public IReadOnlyList<INodeRole> Roles { get; }

    /// <summary>Fired (outside the lock, in height order from one thread) for every committed block.</summary>
    private readonly System.Threading.Channels.Channel<CommittedBlock> _committed = System.Threading.Channels.Channel.CreateUnbounded<CommittedBlock>(new() { SingleReader = true });

    /// <summary>Opens the stores and restores the replica from its log.</summary>
    /// <param name="config">Configuration.</param>
    /// <param name="genesis">Genesis.</param>
    /// <param name="key">Validator key.</param>
    /// <param name="peers">Transport (built from the config's peers).</param>
    /// <param name="chunks">Chunk service.</param>
    /// <param name="roles">Roles.</param>
    /// <param name="metrics">Metrics.</param>
    /// <param name="rules">Protocol rules of the chain (null: the chain's defaults); every node of a network must use the same.</param>
    public NodeCore(NodeConfig config, GenesisDocument genesis, Ed25519Keys key, IPeerTransport peers, IChunkService chunks, IReadOnlyList<INodeRole> roles, NodeMetrics metrics, Pot.Chain.Protocol.IProtocolRules? rules = null)
    {
        _config = config;
        _genesis = genesis;
        _key = key;
        _peers = peers;
        Chunks = chunks;
        Roles = roles;
        Metrics = metrics;
        Directory.CreateDirectory(config.DataDir);
        _store = ChainStore.Open(Path.Combine(config.DataDir, "chain"), genesis, rules);
        var set = _store.Ledger.Validators;
        _validatorAddresses = set.Addresses.Select(a => a.ToArray()).ToArray();
        var keysByAddress = genesis.Validators.ToDictionary(v => Hex.Encode(AccountAddress.BytesFromPublicKey(v.PublicKey)), v => v.PublicKey);
        _validatorKeys = _validatorAddresses.Select(a => keysByAddress.TryGetValue(Hex.Encode(a), out var pk) ? pk
            : throw new NodeConfigException($"validator {AccountAddress.Prefix}{Hex.Encode(a)} of the chain state is not a genesis validator; validator-set changes are not supported by the node yet")).ToArray();
        int n = _validatorAddresses.Length;
        _quorum = 2 * ((n - 1) / 3) + 1;
        NodeId = Array.FindIndex(_validatorAddresses, a => a.AsSpan().SequenceEqual(AccountAddress.BytesFromPublicKey(key.PublicKey)));
        _mempool = new TransactionPool(_store.Ledger, config.MempoolCapacity);
        if (NodeId < 0)
        {
            // Follower: no replica and no consensus log; blocks arrive by catch-up from the validators.
            _log = null;
            _replica = null;
            _verifier = new Ed25519ConsensusVerifier(new Dictionary<int, byte[]>());
            foreach (var (block, _) in Enumerable.Range(1, (int)_store.Height).Select(h => _store.GetBlock((ulong)h)!.Value))
                foreach (var tx in block.Transactions) _txHeights[Hex.Encode(tx.Hash)] = block.Header.Height;
            return;
        }
        _log = ConsensusLog.Open(Path.Combine(config.DataDir, "consensus"));
        var options = new ConsensusOptions
        {
            CheckpointInterval = config.CheckpointInterval,
            WatermarkWindow = config.WatermarkWindow,
            MaxBatchTransactions = config.MaxBlockTransactions,
            BatchDelayMs = config.BatchDelayMs,
            ViewTimeoutMs = config.ViewTimeoutMs,
            StateTransferRetryMs = config.ViewTimeoutMs,
        };
        var verifier = new Ed25519ConsensusVerifier(Enumerable.Range(0, n).ToDictionary(i => i, i => _validatorKeys[i]));
        _verifier = verifier;
        var signer = new Ed25519ConsensusSigner(NodeId, key.ExportSeed());
        _outbound = new ConsensusOutbound(peers, signer, config.Byzantine, ConflictingPayload, metrics);
        // Committed payloads the chain has not judged yet (a crash between the PBFT commit and the
        // certificate) are judged again in PBFT order; ones at or below the store's head are skipped.
        var blocks = new SortedDictionary<long, byte[]>();
        foreach (var r in _log!.Records) if (r is BlockRecord b) blocks[b.Height] = b.Payload;
        _replica = new Replica(options, new Consensus.ValidatorSet(Enumerable.Range(0, n)), signer, verifier, this, _log.Records, this);
        foreach (var (h, p) in blocks) if (h <= _replica.ExecutedHeight) _pending.Enqueue((h, p));
        foreach (var (block, _) in Enumerable.Range(1, (int)_store.Height).Select(h => _store.GetBlock((ulong)h)!.Value))
            foreach (var tx in block.Transactions) _txHeights[Hex.Encode(tx.Hash)] = block.Header.Height;
    }

    /// <summary>Starts the replica and the catch-up loop.</summary>
    public void Start()
    {
        lock (_gate)
        {
            Run(new StartInput());
            AdvanceChain();
        }
        _ = Task.Run(SyncLoop);
        _ = Task.Run(RoleLoop);
        if (_replica is not null && _config.EmptyBlockIntervalMs > 0) _ = Task.Run(EmptyBlockLoop);
        _ = Task.Run(RegossipLoop);
    }

    // Gossip is fire-and-forget: a transaction posted while a peer was down (starting, restarting) never reaches it,
    // and if that peer is the primary nothing proposes it until a view change. So every max(2 s, view timeout) the
    // node posts its pending transactions (at most 256) to every validator again; peers that have one answer 409.
    private async Task RegossipLoop()
    {
        var period = TimeSpan.FromMilliseconds(Math.Max(2000, _config.ViewTimeoutMs));
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(period, _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            List<byte[]> pending;
            lock (_gate)
            {
                if (_disposed) return;
                pending = _mempool.Reap(256, long.MaxValue).Select(t => t.Encode()).ToList();
            }
            foreach (byte[] tx in pending)
                for (int i = 0; i < _validatorKeys.Length; i++) if (i != NodeId) _peers.Post(i, "/p2p/tx", tx);
        }
    }

    // Steps the replica with a no-op input at a quarter of the empty-block interval: every step ends with the
    // replica's proposal attempt, which asks BuildEmpty when the pool is empty and this node is the primary.
    private async Task EmptyBlockLoop()
    {
        var period = TimeSpan.FromMilliseconds(Math.Max(10, _config.EmptyBlockIntervalMs / 4));
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(period, _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            lock (_gate)
            {
                if (_disposed) return;
                Run(new TimerInput(TimerKind.Batch, -1));
                AdvanceChain();
            }
        }
    }

    // ------------------------------------------------------------------ replica driving

    private void Run(ConsensusInput input)
    {
        if (_replica is null) return;
        var outputs = _replica.Step(input);
        foreach (var output in outputs)
        {
            switch (output)
            {
                case PersistOutput p:
                    _log!.Append(p.Record);
                    break;
                case SendOutput s:
                    _outbound!.Send(s.To, s.Message);
                    Metrics.MessagesSent.Inc(s.To.Length);
                    break;
                case SetTimerOutput t:
                    ScheduleTimer(t);
                    break;
                case CommittedOutput c:
                    _pending.Enqueue((c.Height, c.Payload));
                    break;
            }
        }
        Metrics.View.Set(_replica.View);
        Metrics.ConsensusHeight.Set(_replica.ExecutedHeight);
    }

    private void ScheduleTimer(SetTimerOutput t)
    {
        long seq = Interlocked.Increment(ref _timerSequence);
        _ = Task.Delay(TimeSpan.FromMilliseconds(Math.Max(1, t.DelayMs)), _stop.Token).ContinueWith(task =>
        {
            if (task.IsCanceled) return;
            lock (_gate)
            {
                if (_disposed) return;
                Run(new TimerInput(t.Kind, t.Generation));
                AdvanceChain();
            }
        }, TaskScheduler.Default);
        _ = seq;
    }

    // ------------------------------------------------------------------ inbound traffic

    /// <summary>A consensus message from a peer: decoded and signature-checked here (so the HTTP layer can answer precisely), then stepped.</summary>
    /// <param name="bytes">Canonical message bytes.</param>
    /// <returns>The admission.</returns>
    public Admission DeliverConsensus(byte[] bytes)
    {
        ConsensusMessage message;
        try
        {
            message = MessageCodec.Decode(bytes);
        }
        catch (ConsensusEncodingException ex)
        {
            return Admission.No(RejectReason.Malformed, "consensus message does not decode: " + ex.Message);
        }
        if (_replica is null)
            return Admission.No(RejectReason.Invalid, "this node is a follower (not a validator); it takes no consensus messages");
        if (message.Sender < 0 || message.Sender >= _validatorKeys.Length || message.Sender == NodeId)
            return Admission.No(RejectReason.BadSignature, $"sender {message.Sender} is not a peer validator (0..{_validatorKeys.Length - 1}, not {NodeId})");
        if (!message.HasValidSignature(_verifier))
            return Admission.No(RejectReason.BadSignature, $"signature of {message.Kind} from validator {message.Sender} does not verify");
        Metrics.MessagesReceived.Inc();
        lock (_gate)
        {
            if (_disposed) return Admission.Ok;
            long[] before = _replica.DropCounts.ToArray();
            Run(new MessageInput(message));
            AdvanceChain();
            var after = _replica.DropCounts;
            for (int i = 0; i < before.Length; i++)
            {
                if (after[i] == before[i]) continue;
                var reason = (DropReason)i;
                Metrics.ConsensusDrops.WithLabels(reason.ToString()).Inc(after[i] - before[i]);
                return Admission.No(reason == DropReason.Duplicate ? RejectReason.Duplicate : RejectReason.Invalid, $"{message.Kind} from validator {message.Sender} dropped by the replica: {reason}");
            }
        }
        return Admission.Ok;
    }

    /// <summary>A transaction from a user or a peer. New valid ones enter the mempool and the replica's pool; user submissions are gossiped to every peer.</summary>
    /// <param name="bytes">Canonical transaction bytes.</param>
    /// <param name="gossip">Forward to peers when accepted.</param>
    /// <returns>The admission (duplicates are reported as such and change nothing).</returns>
    public Admission SubmitTransaction(byte[] bytes, bool gossip)
    {
        if (bytes.Length > TransactionBatch.MaxTransactionBytes)
            return Admission.No(RejectReason.Malformed, $"transaction is {bytes.Length} bytes; at most {TransactionBatch.MaxTransactionBytes}");
        Transaction tx;
        try
        {
            tx = Transaction.Decode(bytes);
        }
        catch (PotFormatException ex)
        {
            return Admission.No(RejectReason.Malformed, "transaction does not decode: " + ex.Message);
        }
        lock (_gate)
        {
            string id = Hex.Encode(tx.Hash);
            if (_mempool.Contains(tx.Hash) || _txHeights.ContainsKey(id))
                return Admission.No(RejectReason.Duplicate, $"transaction {id} is already {(_txHeights.ContainsKey(id) ? "committed" : "pending")}");
            if (_mempool.Add(tx) is Rejection r)
                return Admission.No(r.Code == RejectionCode.BadSignature ? RejectReason.BadSignature : r.Code == RejectionCode.Malformed ? RejectReason.Malformed : RejectReason.Invalid, $"{r.Code}: {r.Message}");
            Run(new ClientRequestInput(tx.Encode()));
            AdvanceChain();
            Metrics.MempoolSize.Set(_mempool.Count);
        }
        if (gossip)
        {
            for (int i = 0; i < _validatorKeys.Length; i++) if (i != NodeId) _peers.Post(i, "/p2p/tx", bytes);
        }
        return Admission.Ok;
    }

    string? INodeApi.SubmitTransaction(byte[] transaction) => SubmitTransaction(transaction, gossip: true) is { Accepted: false } a ? a.Message : null;

    /// <inheritdoc />
    public string? SubmitPayload(Ed25519Keys key, TransactionPayload payload, out byte[]? id)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(payload);
        lock (_gate)
        {
            id = null;
            if (_disposed) return "the node is stopping";
            ulong nonce = _mempool.NextNonce(AccountAddress.BytesFromPublicKey(key.PublicKey));
            ulong rate = _store.Ledger.Parameters.MinFeePerByte;
            ulong fee = 0;
            Transaction tx;
            while (true)
            {
                tx = Transaction.Create(_genesis.ChainId, key, nonce, fee, payload);
                ulong need = (ulong)tx.Size * rate;
                if (fee >= need) break;
                fee = need;
            }
            id = tx.Hash;
            return SubmitTransaction(tx.Encode(), gossip: true) is { Accepted: false } a ? a.Message : null;
        }
    }

    /// <inheritdoc />
    public bool HasPending(byte[] sender)
    {
        lock (_gate) return _mempool.NextNonce(sender) != StateAccessNonce(sender);
    }

    private ulong StateAccessNonce(byte[] sender) => Pot.Chain.State.StateAccess.Account(_store.Ledger.State, sender).Nonce;

    /// <inheritdoc />
    public ChainSnapshot Snapshot()
    {
        lock (_gate) return new ChainSnapshot(_store.Ledger.State.Clone(), _store.Ledger.Head, _store.Ledger.HeadHash.ToArray());
    }

    /// <summary>A block-commit signature from a peer: header hash (32) ‖ public key (32) ‖ signature (64).</summary>
    /// <param name="bytes">Body.</param>
    /// <returns>The admission.</returns>
    public Admission DeliverBlockSignature(byte[] bytes)
    {
        if (_replica is null) return Admission.No(RejectReason.Invalid, "this node is a follower (not a validator); it takes no block signatures");
        if (bytes.Length != 128) return Admission.No(RejectReason.Malformed, $"block signature is {bytes.Length} bytes; expected 128 (hash 32, public key 32, signature 64)");
        byte[] hash = bytes[..32], pk = bytes[32..64], sig = bytes[64..];
        int who = Array.FindIndex(_validatorKeys, k => k.AsSpan().SequenceEqual(pk));
        if (who < 0) return Admission.No(RejectReason.BadSignature, "block signature from a key that is not a validator");
        if (!Ed25519Keys.Verify(pk, CommitCertificate.SignatureType, hash, sig)) return Admission.No(RejectReason.BadSignature, "block-commit signature does not verify");
        lock (_gate)
        {
            if (_disposed) return Admission.Ok;
            if (_store.GetHeight(hash) is ulong certified) return Admission.No(RejectReason.Duplicate, $"block {Hex.Encode(hash)[..16]} is already certified at height {certified}");
            if (!AddSignature(hash, _validatorAddresses[who], sig)) return Admission.No(RejectReason.Duplicate, "block signature already known");
            AdvanceChain();
        }
        return Admission.Ok;
    }

    private bool AddSignature(byte[] hash, byte[] address, byte[] sig)
    {
        string h = Hex.Encode(hash);
        if (!_signatures.TryGetValue(h, out var sigs))
        {
            if (_signatures.Count > 4096) _signatures.Clear(); // bounded: stale entries are for old heights
            _signatures[h] = sigs = new SortedDictionary<string, byte[]>(StringComparer.Ordinal);
        }
        return sigs.TryAdd(Hex.Encode(address), sig);
    }

    // ------------------------------------------------------------------ chain side

    // Judges committed payloads strictly in PBFT order. A payload waits while the block before it
    // collects its certificate, so each judgement is made against the state after every earlier
    // payload: the same on every honest node, which is what makes the skip of invalid blocks safe.
    //
    // The replica forgets the transactions of every payload it executes; when the chain skips a
    // payload (invalid, or its height was already filled by catch-up), the payload's transactions
    // still in the mempool are handed back to the replica. Without that they sat in every mempool
    // while no replica had a request pending: no proposal, no view timer, the chain stalled.
    private void AdvanceChain()
    {
        for (int round = 0; round < 64; round++)
        {
            AdvanceChainOnce();
            if (_refeed.Count == 0) return;
            var again = _refeed.Where(tx => _mempool.Contains(tx.Hash)).ToArray();
            _refeed.Clear();
            foreach (var tx in again) Run(new ClientRequestInput(tx.Encode()));
            Metrics.RequeuedTransactions.Inc(again.Length);
        }
    }

    private void AdvanceChainOnce()
    {
        while (true)
        {
            if (_awaitingCertificate is { } waiting)
            {
                if (_store.Height >= waiting.Block.Header.Height)
                {
                    _awaitingCertificate = null; // committed by catch-up meanwhile
                    continue;
                }
                if (!TryCertify(waiting.Block)) return;
                _awaitingCertificate = null;
                continue;
            }
            if (_pending.Count == 0) return;
            var (consensusHeight, payload) = _pending.Dequeue();
            if (payload.Length == 0) continue; // PBFT null block
            Block block;
            try
            {
                block = Block.Decode(payload);
            }
            catch (PotFormatException)
            {
                Metrics.SkippedPayloads.Inc();
                continue;
            }
            if (block.Header.Height <= _store.Height)
            {
                _refeed.AddRange(block.Transactions); // that height was filled through catch-up
                continue;
            }
            var verdict = _store.ValidateProposal(payload);
            if (!verdict.IsValid)
            {
                Metrics.SkippedPayloads.Inc();
                _refeed.AddRange(block.Transactions);
                continue;
            }
            byte[] sig = _key.Sign(CommitCertificate.SignatureType, block.Hash);
            AddSignature(block.Hash, _validatorAddresses[NodeId], sig);
            byte[] msg = [.. block.Hash, .. _key.PublicKey, .. sig];
            for (int i = 0; i < _validatorKeys.Length; i++) if (i != NodeId) _peers.Post(i, "/p2p/blocksig", msg);
            _awaitingCertificate = (block, payload);
            _ = consensusHeight;
        }
    }

    private bool TryCertify(Block block)
    {
        if (!_signatures.TryGetValue(Hex.Encode(block.Hash), out var sigs) || sigs.Count < _quorum) return false;
        var cert = new CommitCertificate(sigs.Select(kv => new CommitSignature(Hex.Decode(kv.Key, "validator address", AccountAddress.Size), kv.Value)).ToArray());
        CommitToStore(block, cert);
        return true;
    }

    private void CommitToStore(Block block, CommitCertificate cert)
    {
        _store.Commit(block, cert);
        _signatures.Remove(Hex.Encode(block.Hash));
        foreach (var tx in block.Transactions) _txHeights[Hex.Encode(tx.Hash)] = block.Header.Height;
        _mempool.Recheck();
        Metrics.ChainHeight.Set(_store.Height);
        Metrics.BlocksCommitted.Inc();
        Metrics.TransactionsCommitted.Inc(block.Transactions.Count);
        Metrics.MempoolSize.Set(_mempool.Count);
        _committed.Writer.TryWrite(new CommittedBlock(block, cert));
    }

    // Catch-up: a node whose chain is behind its peers' (restart, partition, lost signatures) fetches
    // certified blocks by height. ChainStore.Commit checks the certificate and every rule.
    private async Task SyncLoop()
    {
        int peer = (NodeId + 1) % _validatorKeys.Length;
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(_config.SyncIntervalMs), _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            for (int attempt = 0; attempt < _validatorKeys.Length && !_stop.IsCancellationRequested; attempt++)
            {
                if (peer == NodeId) peer = (peer + 1) % _validatorKeys.Length;
                ulong next;
                lock (_gate) next = _store.Height + 1;
                byte[]? body = await _peers.GetAsync(peer, $"/p2p/block/{next}", _stop.Token).ConfigureAwait(false);
                if (body is null)
                {
                    peer = (peer + 1) % _validatorKeys.Length;
                    continue;
                }
                if (!ApplyFetchedBlock(next, body)) peer = (peer + 1) % _validatorKeys.Length;
                else attempt = -1; // keep pulling from this peer while it has blocks
            }
        }
    }

    private bool ApplyFetchedBlock(ulong height, byte[] body)
    {
        try
        {
            var (block, cert) = DecodeCertifiedBlock(body);
            lock (_gate)
            {
                if (_disposed || _store.Height + 1 != height || block.Header.Height != height) return false;
                CommitToStore(block, cert);
                Metrics.BlocksFetched.Inc();
                AdvanceChain();
            }
            return true;
        }
        catch (Exception ex) when (ex is PotFormatException or BlockRejectedException or InvalidDataException)
        {
            Metrics.Rejected.WithLabels("sync", "invalid").Inc();
            return false;
        }
    }

    private async Task RoleLoop()
    {
        foreach (var role in Roles) await role.StartAsync(this, _stop.Token).ConfigureAwait(false);
        try
        {
            await foreach (var block in _committed.Reader.ReadAllAsync(_stop.Token).ConfigureAwait(false))
                foreach (var role in Roles) await role.OnCommittedAsync(block, _stop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Encoding served by GET /p2p/block/{height}: u32 LE block length ‖ block ‖ certificate.</summary>
    /// <param name="block">Block.</param>
    /// <param name="cert">Certificate.</param>
    /// <returns>Bytes.</returns>
    public static byte[] EncodeCertifiedBlock(Block block, CommitCertificate cert)
    {
        byte[] b = block.Encode();
        byte[] c = cert.Encode();
        byte[] result = new byte[4 + b.Length + c.Length];
        BinaryPrimitives.WriteInt32LittleEndian(result, b.Length);
        b.CopyTo(result, 4);
        c.CopyTo(result, 4 + b.Length);
        return result;
    }

    /// <summary>Inverse of <see cref="EncodeCertifiedBlock"/>.</summary>
    /// <param name="body">Bytes.</param>
    /// <returns>Block and certificate.</returns>
    public static (Block Block, CommitCertificate Certificate) DecodeCertifiedBlock(ReadOnlySpan<byte> body)
    {
        if (body.Length < 4) throw new InvalidDataException("certified block shorter than its length prefix");
        int n = BinaryPrimitives.ReadInt32LittleEndian(body);
        if (n < 0 || n > body.Length - 4) throw new InvalidDataException($"certified block length {n} exceeds the body");
        return (Block.Decode(body.Slice(4, n)), CommitCertificate.Decode(body[(4 + n)..]));
    }

    // ------------------------------------------------------------------ IBlockValidator / IProposalBuilder

    bool IBlockValidator.IsValid(long height, ReadOnlySpan<byte> payload)
    {
        if (payload.IsEmpty) return true;
        Block block;
        try
        {
            block = Block.Decode(payload);
        }
        catch (PotFormatException)
        {
            return false;
        }
        if (block.Header.ChainId != _genesis.ChainId) return false;
        // Full validation when the block extends the head we have settled; otherwise (we are behind
        // in execution or certification) structure only: the block is judged again after the commit.
        if (_pending.Count == 0 && _awaitingCertificate is null && block.Header.PreviousHash.AsSpan().SequenceEqual(_store.Ledger.HeadHash))
            return _store.ValidateProposal(payload, (ulong)DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()).IsValid;
        return true;
    }

    byte[]? IProposalBuilder.Build(long height, IReadOnlyList<byte[]> batch)
    {
        // Build only on a settled head: every committed payload judged and certified.
        if (_pending.Count > 0 || _awaitingCertificate is not null) return null;
        var candidates = _mempool.Reap(_config.MaxBlockTransactions, _store.Ledger.Parameters.MaxBlockBytes);
        if (candidates.Count == 0) return null;
        ulong now = (ulong)DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        ulong time = Math.Max(now, _store.Ledger.Head.TimeMs + 1);
        var block = _store.Ledger.BuildBlock(candidates, _validatorAddresses[NodeId], (ulong)_replica!.View, time, out var skipped);
        // Skipped transactions leave the mempool at the next recheck; say why (operators and the devnet logs read this).
        foreach (var (tx, why) in skipped) Console.Out.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} node: block {block.Header.Height} skipped {tx}: {why}");
        return block.Transactions.Count == 0 ? null : block.Encode();
    }

    byte[]? IProposalBuilder.BuildEmpty(long height)
    {
        if (_config.EmptyBlockIntervalMs <= 0 || _pending.Count > 0 || _awaitingCertificate is not null || _replica is null) return null;
        ulong now = (ulong)DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var head = _store.Ledger.Head;
        if (now < head.TimeMs + (ulong)_config.EmptyBlockIntervalMs) return null;
        // Only while the configured task has an open round (or always when no task is configured).
        if (_config.Task is not null && Pot.Chain.State.StateAccess.TaskRound(_store.Ledger.State, _config.TaskId) is not { Finished: false }) return null;
        var block = _store.Ledger.BuildBlock([], _validatorAddresses[NodeId], (ulong)_replica.View, Math.Max(now, head.TimeMs + 1), out _);
        Metrics.EmptyBlocksProposed.Inc();
        return block.Encode();
    }

    IReadOnlyList<byte[]> IProposalBuilder.TransactionsOf(ReadOnlySpan<byte> payload)
    {
        if (payload.IsEmpty) return [];
        try
        {
            return Block.Decode(payload).Transactions.Select(t => t.Encode()).ToArray();
        }
        catch (PotFormatException)
        {
            return [];
        }
    }

    bool IProposalBuilder.IsStale(byte[] transaction)
    {
        try
        {
            return !_mempool.Contains(Transaction.Decode(transaction).Hash);
        }
        catch (PotFormatException)
        {
            return true;
        }
    }

    // Test-only Byzantine switch (see ConsensusOutbound): another valid block for the same height —
    // the batch without its last transaction, or the same batch one millisecond later.
    private byte[] ConflictingPayload(PrePrepare pp)
    {
        if (pp.Payload.Length == 0) return [];
        var block = Block.Decode(pp.Payload);
        var txs = block.Transactions.Count > 1 ? block.Transactions.Take(block.Transactions.Count - 1) : block.Transactions;
        return _store.Ledger.BuildBlock(txs, block.Header.Proposer, block.Header.View, block.Header.TimeMs + 1, out _).Encode();
    }

    // ------------------------------------------------------------------ reads (RPC)

    /// <summary>Runs a read against the chain under the node's lock.</summary>
    /// <typeparam name="T">Result type.</typeparam>
    /// <param name="read">The read.</param>
    /// <returns>Its result.</returns>
    public T Read<T>(Func<NodeView, T> read)
    {
        lock (_gate) return read(new NodeView(this));
    }

    /// <summary>A consistent view of the node for readers (valid only inside <see cref="Read{T}"/>).</summary>
    public readonly struct NodeView
    {
        private readonly NodeCore _node;
        internal NodeView(NodeCore node) => _node = node;
        /// <summary>The chain store.</summary>
        public ChainStore Store => _node._store;
        /// <summary>The replica (null on a follower).</summary>
        public Replica? Replica => _node._replica;
        /// <summary>Pending transactions.</summary>
        public int MempoolCount => _node._mempool.Count;
        /// <summary>Whether a transaction (hex id) is pending.</summary>
        public bool IsPending(byte[] hash) => _node._mempool.Contains(hash);
        /// <summary>Height of a committed transaction.</summary>
        public ulong? TransactionHeight(string hexId) => _node._txHeights.TryGetValue(hexId, out var h) ? h : null;
        /// <summary>Committed PBFT payloads not yet certified on the chain.</summary>
        public int PendingPayloads => _node._pending.Count + (_node._awaitingCertificate is null ? 0 : 1);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            _stop.Cancel();
            _log?.Dispose();
            _store.Dispose();
        }
    }
}
