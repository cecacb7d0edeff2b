using System.Security.Cryptography;
using Pot.Consensus;

namespace Pot.Simulation;

/// <summary>How a simulated identity behaves.</summary>
public enum Behavior
{
    /// <summary>Follows the protocol.</summary>
    Honest,
    /// <summary>Sends nothing at all.</summary>
    Silent,
    /// <summary>As primary, sends conflicting pre-prepares (and commits) to two halves; as backup, conflicting votes.</summary>
    Equivocate,
    /// <summary>Prepares and commits every pre-prepare it sees, whatever it voted before.</summary>
    DoubleVote,
    /// <summary>Resends old messages (its own and others', from old views) at random.</summary>
    Replay,
    /// <summary>Re-signs its messages with view or height ±1, or flips bytes on the wire.</summary>
    Mutate,
    /// <summary>Two honest copies of one identity (Twins), which together equivocate.</summary>
    Twins,
    /// <summary>Honest, but forgets everything it persisted whenever it restarts.</summary>
    Amnesia,
}

/// <summary>Parameters of one simulated run.</summary>
public sealed record SimulationOptions
{
    /// <summary>Number of genesis validators (ids 0..n−1).</summary>
    public int Validators { get; init; } = 4;
    /// <summary>Number of Byzantine identities.</summary>
    public int Byzantine { get; init; }
    /// <summary>Seed of every random choice of the run.</summary>
    public ulong Seed { get; init; } = 1;
    /// <summary>Behaviours of the Byzantine identities in order; null picks them from the seed.</summary>
    public Behavior[]? ByzantineBehaviors { get; init; }
    /// <summary>Byzantine identities; null picks them from the seed.</summary>
    public int[]? ByzantineIds { get; init; }
    /// <summary>Extra non-validator nodes (ids n..n+extra−1) that may join through a validator-set change.</summary>
    public int ExtraNodes { get; init; }
    /// <summary>Sign with Ed25519 instead of the fast keyed hash.</summary>
    public bool UseEd25519 { get; init; }
    /// <summary>Length of the safety phase (faults active), virtual ms.</summary>
    public long SafetyPhaseMs { get; init; } = 2_000;
    /// <summary>Length of the liveness phase (a quorum healed), virtual ms.</summary>
    public long LivenessPhaseMs { get; init; } = 30_000;
    /// <summary>Schedule random partitions, crashes, restarts and drop-rate changes in the safety phase.</summary>
    public bool RandomFaults { get; init; } = true;
    /// <summary>Initial message drop probability.</summary>
    public double DropRate { get; init; } = 0.05;
    /// <summary>Message duplication probability.</summary>
    public double DuplicateRate { get; init; } = 0.03;
    /// <summary>Largest network delay in the safety phase (reordering comes from random delays).</summary>
    public long MaxDelayMs { get; init; } = 40;
    /// <summary>Mean interval between client transactions.</summary>
    public long ClientIntervalMs { get; init; } = 25;
    /// <summary>Protocol options of every replica.</summary>
    public ConsensusOptions Consensus { get; init; } = new();
}

/// <summary>Outcome of one run.</summary>
public sealed record SimulationResult
{
    /// <summary>Seed of the run.</summary>
    public required ulong Seed { get; init; }
    /// <summary>First safety violation found (agreement, validity or an honest double vote), or null.</summary>
    public string? SafetyViolation { get; init; }
    /// <summary>Liveness failure, or null.</summary>
    public string? LivenessFailure { get; init; }
    /// <summary>Highest height committed by an honest replica.</summary>
    public long BlocksCommitted { get; init; }
    /// <summary>Highest view reached by an honest replica.</summary>
    public long ViewChanges { get; init; }
    /// <summary>Messages delivered.</summary>
    public long Messages { get; init; }
    /// <summary>Dropped-message counters summed over honest replicas, by reason.</summary>
    public required IReadOnlyDictionary<DropReason, long> Drops { get; init; }
    /// <summary>Behaviours of the Byzantine identities.</summary>
    public required IReadOnlyDictionary<int, Behavior> Byzantine { get; init; }
    /// <summary>Hash of every committed block and delivered event, equal across replays of a seed.</summary>
    public required string TraceDigest { get; init; }
    /// <summary>Whether the run passed.</summary>
    public bool Passed => SafetyViolation is null && LivenessFailure is null;
}

/// <summary>The simulator's block validator: a payload must be a well-formed batch of well-formed transactions.</summary>
public sealed class SimulatedBlockValidator : IBlockValidator
{
    /// <summary>First byte of a client transaction.</summary>
    public const byte ClientTag = 0x54;
    /// <summary>First byte of a validator-set change transaction.</summary>
    public const byte SetChangeTag = 0x5E;

    /// <inheritdoc />
    public bool IsValid(long height, ReadOnlySpan<byte> payload) =>
        TransactionBatch.TryDecode(payload, out var txs) && txs.All(t => t.Length > 0 && (t[0] == ClientTag || t[0] == SetChangeTag && t.Length >= 2 && t.Length == 2 + t[1]));

    /// <inheritdoc />
    public ValidatorSet? ValidatorSetChange(long height, ReadOnlySpan<byte> payload)
    {
        if (!TransactionBatch.TryDecode(payload, out var txs)) return null;
        ValidatorSet? result = null;
        foreach (var t in txs.Where(t => t.Length >= 2 && t[0] == SetChangeTag && t.Length == 2 + t[1] && t[1] > 0))
        {
            result = new ValidatorSet(t.Skip(2).Select(b => (int)b));
        }
        return result;
    }

    /// <summary>Encodes a transaction that installs <paramref name="members"/> as the validator set.</summary>
    /// <param name="members">New member ids (each below 256).</param>
    /// <returns>Transaction bytes.</returns>
    public static byte[] SetChange(params int[] members) => [SetChangeTag, (byte)members.Length, .. members.Select(m => (byte)m)];
}

/// <summary>
/// Deterministic simulation of a PBFT network: virtual time, a lossy, duplicating, reordering,
/// partitionable network, crashes and restarts that keep only what was persisted, and Byzantine
/// identities. All randomness comes from one <see cref="Prng"/>.
/// </summary>
public sealed partial class Simulation
{
    private readonly SimulationOptions _o;
    private readonly Prng _rng;
    private readonly PriorityQueue<Event, (long, long)> _queue = new();
    private long _sequence;
    private readonly List<Process> _processes = new();
    private readonly Dictionary<int, List<Process>> _byId = new();
    private readonly ValidatorSet _genesis;
    private readonly IConsensusVerifier _verifier;
    private readonly Func<int, IConsensusSigner> _signerFor;
    private readonly SimulatedBlockValidator _validator = new();
    private readonly HashSet<int> _byzantine = new();
    private readonly Dictionary<int, Behavior> _behavior = new();
    private readonly HashSet<(int From, int To)> _blocked = new();
    private double _dropRate;
    private double _duplicateRate;
    private long _maxDelayMs;
    private long _txCounter;
    private readonly HashSet<string> _submitted = new();
    private readonly IncrementalHash _trace = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

    // Checker state.
    private readonly Dictionary<long, (int Node, string Digest)> _committedAt = new();
    private readonly Dictionary<(int, long, long, VotePhase), string> _honestVotes = new();
    private string? _safetyViolation;

    /// <summary>Current virtual time in ms.</summary>
    public long Now { get; private set; }
    /// <summary>Messages delivered so far.</summary>
    public long MessagesDelivered { get; private set; }
    /// <summary>The options of this run.</summary>
    public SimulationOptions Options => _o;
    /// <summary>First safety violation found so far, or null.</summary>
    public string? SafetyViolation => _safetyViolation;
    /// <summary>Byzantine identities.</summary>
    public IReadOnlySet<int> ByzantineIds => _byzantine;

    private sealed class Process
    {
        public required int Id;
        public required int Copy;
        public required IConsensusSigner Signer;
        public Replica? Core;
        public List<PersistRecord> Disk = new();
        public long Incarnation;
        public int Group;
        public bool CrashArmed;
        public long PersistCount;
        public long CrashAtPersist = -1;
        public readonly List<ConsensusMessage> History = new();
        public readonly List<CommittedOutput> Commits = new();
        public Behavior Behavior = Behavior.Honest;
    }

    private sealed class Event
    {
        public required int Kind; // 0 deliver, 1 timer, 2 action
        public Process? Target;
        public ConsensusMessage? Message;
        public byte[]? Raw;
        public TimerKind Timer;
        public long Generation;
        public long Incarnation;
        public Action? Action;
    }

    /// <summary>Builds the network: validators 0..n−1 (plus extra nodes), keys, Byzantine identities.</summary>
    /// <param name="options">Run parameters.</param>
    public Simulation(SimulationOptions options)
    {
        _o = options;
        if (options.Validators < 1 || options.Validators > 200)
        {
            throw new ArgumentException($"validators must be in 1..200, got {options.Validators}");
        }
        if (options.Byzantine < 0 || options.Byzantine > options.Validators)
        {
            throw new ArgumentException($"byzantine must be in 0..{options.Validators}, got {options.Byzantine}");
        }
        _rng = new Prng(options.Seed);
        _dropRate = options.DropRate;
        _duplicateRate = options.DuplicateRate;
        _maxDelayMs = options.MaxDelayMs;
        int total = options.Validators + options.ExtraNodes;
        _genesis = new ValidatorSet(Enumerable.Range(0, options.Validators));
        if (options.UseEd25519)
        {
            var signers = new Dictionary<int, Ed25519ConsensusSigner>();
            for (int id = 0; id < total; id++)
            {
                var seed = new byte[32];
                for (int i = 0; i < 32; i += 8) BitConverter.TryWriteBytes(seed.AsSpan(i), _rng.Next());
                signers[id] = new Ed25519ConsensusSigner(id, seed);
            }
            _verifier = new Ed25519ConsensusVerifier(signers.ToDictionary(p => p.Key, p => p.Value.PublicKey));
            _signerFor = id => signers[id];
        }
        else
        {
            ulong master = _rng.Next();
            _verifier = new KeyedHashSigner(0, master);
            _signerFor = id => new KeyedHashSigner(id, master);
        }
        var byzIds = options.ByzantineIds ?? Enumerable.Range(0, options.Validators).OrderBy(_ => _rng.Next()).Take(options.Byzantine).Order().ToArray();
        var all = Enum.GetValues<Behavior>().Where(b => b != Behavior.Honest).ToArray();
        for (int i = 0; i < byzIds.Length; i++)
        {
            _byzantine.Add(byzIds[i]);
            _behavior[byzIds[i]] = options.ByzantineBehaviors is { Length: > 0 } given ? given[i % given.Length] : all[_rng.Below(all.Length)];
        }
        for (int id = 0; id < total; id++)
        {
            var behavior = _behavior.GetValueOrDefault(id, Behavior.Honest);
            int copies = behavior == Behavior.Twins ? 2 : 1;
            _byId[id] = new List<Process>();
            for (int copy = 0; copy < copies; copy++)
            {
                var p = new Process { Id = id, Copy = copy, Signer = _signerFor(id), Behavior = behavior, Group = copy };
                _processes.Add(p);
                _byId[id].Add(p);
            }
        }
        foreach (var p in _processes) StartProcess(p);
    }

    /// <summary>The replica of an identity's first copy, or null while it is down.</summary>
    /// <param name="id">Node id.</param>
    /// <returns>The replica.</returns>
    public Replica? ReplicaOf(int id) => _byId[id][0].Core;

    /// <summary>Blocks an honest-or-not identity's first copy has committed, in order.</summary>
    /// <param name="id">Node id.</param>
    /// <returns>Committed blocks.</returns>
    public IReadOnlyList<CommittedOutput> CommitsOf(int id) => _byId[id][0].Commits;

    /// <summary>Persisted records of an identity's first copy.</summary>
    /// <param name="id">Node id.</param>
    /// <returns>The simulated disk.</returns>
    public List<PersistRecord> DiskOf(int id) => _byId[id][0].Disk;

    /// <summary>Whether an identity is honest (counted by the checker).</summary>
    /// <param name="id">Node id.</param>
    /// <returns>True for honest.</returns>
    public bool IsHonest(int id) => !_byzantine.Contains(id);

    /// <summary>All node ids (validators and extra nodes).</summary>
    public IEnumerable<int> NodeIds => _byId.Keys.Order();

    private void StartProcess(Process p)
    {
        p.Incarnation++;
        if (p.Behavior == Behavior.Silent)
        {
            p.Core = null;
            return;
        }
        p.Core = new Replica(_o.Consensus, _genesis, p.Signer, _verifier, _validator, p.Disk);
        Step(p, new StartInput());
    }

    // ------------------------------------------------------------------ scheduling

    private void Schedule(long at, Event e) => _queue.Enqueue(e, (at, _sequence++));

    /// <summary>Runs <paramref name="action"/> at virtual time <paramref name="at"/>.</summary>
    /// <param name="at">Virtual ms.</param>
    /// <param name="action">Action.</param>
    public void At(long at, Action action) => Schedule(Math.Max(at, Now), new Event { Kind = 2, Action = action });

    /// <summary>Processes events up to and including virtual time <paramref name="until"/>.</summary>
    /// <param name="until">Virtual ms.</param>
    /// <param name="stop">Optional early-exit condition, checked after each event.</param>
    public void RunUntil(long until, Func<bool>? stop = null)
    {
        while (_queue.TryPeek(out var e, out var key) && key.Item1 <= until)
        {
            _queue.Dequeue();
            Now = key.Item1;
            switch (e.Kind)
            {
                case 0:
                    if (e.Target!.Core is null || e.Target.Incarnation != e.Incarnation && e.Incarnation != 0) break;
                    MessagesDelivered++;
                    if (e.Raw is not null) Step(e.Target, new RawMessageInput(e.Raw));
                    else
                    {
                        OnByzantineReceive(e.Target, e.Message!);
                        if (e.Target.Core is not null) Step(e.Target, new MessageInput(e.Message!));
                    }
                    break;
                case 1:
                    if (e.Target!.Core is not null && e.Target.Incarnation == e.Incarnation) Step(e.Target, new TimerInput(e.Timer, e.Generation));
                    break;
                case 2:
                    e.Action!();
                    break;
            }
            if (stop is not null && stop()) return;
        }
        Now = Math.Max(Now, until);
    }

    // ------------------------------------------------------------------ faults

    /// <summary>Submits a client transaction to every running process.</summary>
    /// <param name="transaction">Transaction; null makes a fresh client transaction.</param>
    public void Submit(byte[]? transaction = null)
    {
        transaction ??= MakeClientTransaction();
        _submitted.Add(Convert.ToHexString(transaction));
        foreach (var p in _processes.Where(p => p.Core is not null))
        {
            // The second copy of a twin sees a different subset of requests, so the copies' proposals diverge.
            if (p.Copy == 1 && _rng.Chance(0.5)) continue;
            Step(p, new ClientRequestInput(transaction));
        }
    }

    private byte[] MakeClientTransaction()
    {
        var tx = new byte[17];
        tx[0] = SimulatedBlockValidator.ClientTag;
        BitConverter.TryWriteBytes(tx.AsSpan(1), ++_txCounter);
        BitConverter.TryWriteBytes(tx.AsSpan(9), _rng.Next());
        return tx;
    }

    /// <summary>Crashes every copy of <paramref name="id"/> now; only its persisted records survive.</summary>
    /// <param name="id">Node id.</param>
    public void Crash(int id)
    {
        foreach (var p in _byId[id]) CrashProcess(p);
    }

    private void CrashProcess(Process p)
    {
        p.Core = null;
        p.CrashArmed = false;
        p.Incarnation++;
    }

    /// <summary>Crashes <paramref name="id"/> during its next step, just before one of that step's persist records is written.</summary>
    /// <param name="id">Node id.</param>
    public void CrashBeforeNextPersist(int id)
    {
        foreach (var p in _byId[id]) p.CrashArmed = true;
    }

    /// <summary>Crashes <paramref name="id"/> just before it writes its persist record number <paramref name="index"/> (counted from 0 over the whole run).</summary>
    /// <param name="id">Node id.</param>
    /// <param name="index">Persist record index.</param>
    public void CrashBeforePersistNumber(int id, long index)
    {
        foreach (var p in _byId[id]) p.CrashAtPersist = index;
    }

    /// <summary>Number of persist records an identity's first copy has written so far.</summary>
    /// <param name="id">Node id.</param>
    /// <returns>The count.</returns>
    public long PersistCountOf(int id) => _byId[id][0].PersistCount;

    /// <summary>Restarts a crashed identity from its disk.</summary>
    /// <param name="id">Node id.</param>
    /// <param name="wipeDisk">Forget everything persisted (amnesia; Byzantine behaviour).</param>
    /// <param name="corruptBlockAt">Corrupt the persisted block at this height before restarting.</param>
    public void Restart(int id, bool wipeDisk = false, long? corruptBlockAt = null)
    {
        foreach (var p in _byId[id].Where(p => p.Core is null))
        {
            if (wipeDisk || p.Behavior == Behavior.Amnesia) p.Disk = new List<PersistRecord>();
            if (corruptBlockAt is long h)
            {
                int index = p.Disk.FindIndex(r => r is BlockRecord b && b.Height == h);
                if (index >= 0)
                {
                    var b = (BlockRecord)p.Disk[index];
                    p.Disk[index] = b with { Payload = TransactionBatch.Encode([MakeClientTransaction()]) };
                }
            }
            StartProcess(p);
        }
    }

    /// <summary>Partitions the network: processes only reach processes of their own group.</summary>
    /// <param name="groupOf">Group of each node id (both twin copies share it unless <paramref name="twinGroup"/> says otherwise).</param>
    /// <param name="twinGroup">Optional group of the second copy of a twin identity.</param>
    /// <param name="asymmetric">Block only messages from a lower group number to a higher one.</param>
    public void Partition(Func<int, int> groupOf, Func<int, int>? twinGroup = null, bool asymmetric = false)
    {
        _blocked.Clear();
        foreach (var p in _processes) p.Group = p.Copy == 1 && twinGroup is not null ? twinGroup(p.Id) : groupOf(p.Id);
        var groups = _processes.Select(p => p.Group).Distinct().ToArray();
        foreach (int a in groups)
        {
            foreach (int b in groups)
            {
                if (a != b && (!asymmetric || a < b)) _blocked.Add((a, b));
            }
        }
    }

    /// <summary>Cancels every pending <see cref="CrashBeforeNextPersist"/>.</summary>
    public void DisarmCrashes()
    {
        foreach (var p in _processes) p.CrashArmed = false;
    }

    /// <summary>Removes every partition.</summary>
    public void Heal() => _blocked.Clear();

    /// <summary>Sets the network fault rates.</summary>
    /// <param name="dropRate">Drop probability.</param>
    /// <param name="duplicateRate">Duplication probability.</param>
    /// <param name="maxDelayMs">Largest delay.</param>
    public void SetNetwork(double dropRate, double duplicateRate, long maxDelayMs)
    {
        _dropRate = dropRate;
        _duplicateRate = duplicateRate;
        _maxDelayMs = Math.Max(1, maxDelayMs);
    }

    // ------------------------------------------------------------------ stepping and outputs

    private void Step(Process p, ConsensusInput input)
    {
        var core = p.Core!;
        var outputs = core.Step(input);
        int crashAt = -1;
        if (p.CrashArmed && outputs.Count > 0)
        {
            var persistPoints = Enumerable.Range(0, outputs.Count).Where(i => outputs[i] is PersistOutput).ToArray();
            if (persistPoints.Length > 0) crashAt = persistPoints[_rng.Below(persistPoints.Length)];
        }
        for (int i = 0; i < outputs.Count; i++)
        {
            if (i == crashAt || outputs[i] is PersistOutput && p.PersistCount == p.CrashAtPersist)
            {
                p.CrashAtPersist = -1;
                CrashProcess(p);
                return;
            }
            switch (outputs[i])
            {
                case PersistOutput po:
                    p.Disk.Add(po.Record);
                    p.PersistCount++;
                    break;
                case SendOutput s:
                    Transmit(p, s.To, s.Message);
                    break;
                case SetTimerOutput t:
                    Schedule(Now + t.DelayMs, new Event { Kind = 1, Target = p, Timer = t.Kind, Generation = t.Generation, Incarnation = p.Incarnation });
                    break;
                case CommittedOutput c:
                    p.Commits.Add(c);
                    CheckCommit(p, c);
                    break;
            }
        }
    }

    private void Transmit(Process from, int[] to, ConsensusMessage message)
    {
        if (from.Behavior == Behavior.Honest || from.Behavior == Behavior.Amnesia || from.Behavior == Behavior.Twins)
        {
            if (IsHonest(from.Id)) CheckHonestVote(from, message);
            foreach (int id in to) Send(from, id, message, null);
            if (from.Behavior != Behavior.Honest) Remember(from, message);
            return;
        }
        ByzantineTransmit(from, to, message);
    }

    /// <summary>Optional test hook: return false to drop a message from one node id to another.</summary>
    public Func<int, int, ConsensusMessage?, bool>? Filter { get; set; }

    private void Send(Process from, int toId, ConsensusMessage? message, byte[]? raw)
    {
        if (!_byId.TryGetValue(toId, out var targets)) return;
        if (Filter is not null && !Filter(from.Id, toId, message)) return;
        foreach (var target in targets)
        {
            if (_blocked.Contains((from.Group, target.Group))) continue;
            if (_rng.Chance(_dropRate)) continue;
            int copies = _rng.Chance(_duplicateRate) ? 2 : 1;
            for (int c = 0; c < copies; c++)
            {
                Schedule(Now + _rng.Between(1, _maxDelayMs), new Event { Kind = 0, Target = target, Message = message, Raw = raw, Incarnation = target.Incarnation });
            }
        }
    }

    // ------------------------------------------------------------------ checker

    private void Violation(string text) => _safetyViolation ??= $"t={Now}ms: {text}";

    // Agreement and validity: no two honest replicas commit different blocks at one height, and
    // every committed transaction was submitted by a client.
    private void CheckCommit(Process p, CommittedOutput c)
    {
        _trace.AppendData(BitConverter.GetBytes(p.Id));
        _trace.AppendData(c.Digest);
        if (!IsHonest(p.Id)) return;
        string digest = Convert.ToHexString(c.Digest);
        if (_committedAt.TryGetValue(c.Height, out var first))
        {
            if (first.Digest != digest) Violation($"agreement: node {first.Node} committed {first.Digest[..12]} and node {p.Id} committed {digest[..12]} at height {c.Height}");
        }
        else
        {
            _committedAt[c.Height] = (p.Id, digest);
        }
        if (!_validator.IsValid(c.Height, c.Payload) || !TransactionBatch.TryDecode(c.Payload, out var txs) || txs.Any(t => !_submitted.Contains(Convert.ToHexString(t))))
        {
            Violation($"validity: node {p.Id} committed block {digest[..12]} at height {c.Height} with a transaction no client submitted");
        }
    }

    // An honest replica never signs two digests for one (view, height, phase), across restarts too.
    private void CheckHonestVote(Process p, ConsensusMessage m)
    {
        (long view, long height, VotePhase phase, byte[] digest) = m switch
        {
            PrePrepare x => (x.View, x.Height, VotePhase.PrePrepare, x.Digest),
            Prepare x => (x.View, x.Height, VotePhase.Prepare, x.Digest),
            Commit x => (x.View, x.Height, VotePhase.Commit, x.Digest),
            NewView nv => (-1L, 0L, VotePhase.PrePrepare, Array.Empty<byte>()),
            _ => (-1L, 0L, VotePhase.PrePrepare, Array.Empty<byte>()),
        };
        if (m is NewView n)
        {
            foreach (var pp in n.PrePrepares) CheckHonestVote(p, pp);
            return;
        }
        if (view < 0) return;
        string d = Convert.ToHexString(digest);
        var key = (p.Id, view, height, phase);
        if (_honestVotes.TryGetValue(key, out var prior) && prior != d)
        {
            Violation($"double vote: honest node {p.Id} signed {phase} for two digests at view {view}, height {height}");
        }
        _honestVotes[key] = d;
    }

    private string TraceDigest()
    {
        using var copy = _trace.Clone();
        return Convert.ToHexString(copy.GetCurrentHash());
    }

    /// <summary>Highest height committed by any honest running replica.</summary>
    /// <returns>Height.</returns>
    public long MaxHonestHeight() => _processes.Where(p => IsHonest(p.Id) && p.Core is not null).Select(p => p.Core!.ExecutedHeight).DefaultIfEmpty(0).Max();

    /// <summary>Lowest height committed by honest validators' replicas (down ones count as 0).</summary>
    /// <param name="ids">Identities to consider; null means every honest identity.</param>
    /// <returns>Height.</returns>
    public long MinHonestHeight(IEnumerable<int>? ids = null) =>
        (ids ?? _byId.Keys.Where(IsHonest)).Select(id => _byId[id][0].Core?.ExecutedHeight ?? 0).DefaultIfEmpty(0).Min();

    /// <summary>Builds the result of the run so far.</summary>
    /// <param name="livenessFailure">Liveness failure text, or null.</param>
    /// <returns>The result.</returns>
    public SimulationResult Result(string? livenessFailure)
    {
        var honest = _processes.Where(p => IsHonest(p.Id) && p.Core is not null).Select(p => p.Core!).ToArray();
        var drops = Enum.GetValues<DropReason>().ToDictionary(r => r, r => honest.Sum(h => h.Dropped(r)));
        return new SimulationResult
        {
            Seed = _o.Seed,
            SafetyViolation = _safetyViolation,
            LivenessFailure = livenessFailure,
            BlocksCommitted = MaxHonestHeight(),
            ViewChanges = honest.Select(h => h.View).DefaultIfEmpty(0).Max(),
            Messages = MessagesDelivered,
            Drops = drops,
            Byzantine = _behavior,
            TraceDigest = TraceDigest(),
        };
    }
}
