using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using Pot.Consensus;
using Pot.Protocol;

namespace Pot.Simulation;

/// <summary>A window in which a fraction of the validators is cut off from all other nodes.</summary>
/// <param name="Fraction">Fraction of the validators isolated (chosen by the seed among the running ones).</param>
/// <param name="StartMs">Start, virtual ms.</param>
/// <param name="EndMs">End (healed), virtual ms.</param>
public sealed record PartitionFault(double Fraction, long StartMs, long EndMs);

/// <summary>The faults of a network simulation, parsed from <c>key=value</c> items separated by commas (docs/simulation-scale.md).</summary>
/// <param name="MinersCrash">Fraction of miners that are down for the whole run.</param>
/// <param name="ValidatorsCrash">Validators down for the whole run.</param>
/// <param name="Partitions">Partition windows.</param>
public sealed record NetworkFaults(double MinersCrash, int ValidatorsCrash, IReadOnlyList<PartitionFault> Partitions)
{
    /// <summary>No faults.</summary>
    public static NetworkFaults None { get; } = new(0, 0, []);

    /// <summary>
    /// Parses <c>miners-crash=F</c> (0 ≤ F ≤ 1), <c>validators-crash=K</c> (an integer, or <c>f</c> for ⌊(n−1)/3⌋),
    /// <c>partition=FRACTION@START-END</c> (fraction of validators, seconds of virtual time; repeatable), comma-separated;
    /// <c>none</c> or empty for no faults.
    /// </summary>
    /// <param name="spec">The text.</param>
    /// <param name="validators">n, to resolve <c>f</c> and check counts.</param>
    /// <returns>The faults.</returns>
    /// <exception cref="ArgumentException">An unknown key or a value out of range, with the accepted form.</exception>
    public static NetworkFaults Parse(string? spec, int validators)
    {
        double miners = 0;
        int crashed = 0;
        var partitions = new List<PartitionFault>();
        if (string.IsNullOrWhiteSpace(spec) || spec.Trim() == "none")
        {
            return None;
        }
        foreach (string raw in spec.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = raw.IndexOf('=', StringComparison.Ordinal);
            string key = eq < 0 ? raw : raw[..eq], value = eq < 0 ? "" : raw[(eq + 1)..];
            switch (key)
            {
                case "miners-crash":
                    if (!double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out miners) || !(miners >= 0 && miners <= 1))
                    {
                        throw new ArgumentException($"fault '{raw}': miners-crash takes a fraction between 0 and 1, e.g. miners-crash=0.1");
                    }
                    break;
                case "validators-crash":
                    if (value == "f")
                    {
                        crashed = (validators - 1) / 3;
                    }
                    else if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out crashed) || crashed > validators)
                    {
                        throw new ArgumentException($"fault '{raw}': validators-crash takes a count 0..{validators} or f (= {(validators - 1) / 3}), e.g. validators-crash=f");
                    }
                    break;
                case "partition":
                    partitions.Add(ParsePartition(raw, value));
                    break;
                default:
                    throw new ArgumentException($"unknown fault '{raw}': expected miners-crash=F, validators-crash=K|f or partition=FRACTION@START-END (seconds)");
            }
        }
        return new NetworkFaults(miners, crashed, partitions);
    }

    private static PartitionFault ParsePartition(string raw, string value)
    {
        string error = $"fault '{raw}': expected partition=FRACTION@START-END with 0 < FRACTION < 1 and 0 <= START < END seconds, e.g. partition=0.4@60-90";
        int at = value.IndexOf('@', StringComparison.Ordinal);
        int dash = at < 0 ? -1 : value.IndexOf('-', at);
        if (at < 0 || dash < 0
            || !double.TryParse(value[..at], NumberStyles.Float, CultureInfo.InvariantCulture, out double fraction)
            || !double.TryParse(value[(at + 1)..dash], NumberStyles.Float, CultureInfo.InvariantCulture, out double start)
            || !double.TryParse(value[(dash + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out double end)
            || !(fraction > 0 && fraction < 1) || !(start >= 0 && end > start && end < 1e9))
        {
            throw new ArgumentException(error);
        }
        return new PartitionFault(fraction, (long)(start * 1000), (long)(end * 1000));
    }
}

/// <summary>Parameters of a network simulation. Defaults and the measured costs behind them are documented in docs/simulation-scale.md.</summary>
public sealed record NetworkSimulationOptions
{
    /// <summary>Miners M.</summary>
    public int Miners { get; init; } = 10_000;
    /// <summary>Validators n (each also a verifier).</summary>
    public int Validators { get; init; } = 100;
    /// <summary>Rounds to finalize.</summary>
    public int Rounds { get; init; } = 10;
    /// <summary>Seed of every random choice.</summary>
    public ulong Seed { get; init; } = 1;
    /// <summary>Faults.</summary>
    public NetworkFaults Faults { get; init; } = NetworkFaults.None;
    /// <summary>Verifiers per submission c.</summary>
    public int VerifiersPerSubmission { get; init; } = 3;
    /// <summary>Submission window W in blocks (a submission must be included below round start + W).</summary>
    public int WindowBlocks { get; init; } = 4;
    /// <summary>Blocks after the submission window during which attestations are collected before the finalize transaction.</summary>
    public int AttestationBlocks { get; init; } = 12;
    /// <summary>Interval at which the mempool's new transactions are handed to consensus (the block cadence).</summary>
    public long BlockIntervalMs { get; init; } = 2_000;
    /// <summary>Miner CPU seconds per submission (H = 50 steps), measured with <c>pot simulate protocol</c>.</summary>
    public double MinerSeconds { get; init; } = 2.456;
    /// <summary>Verifier CPU seconds per verification, measured with <c>pot simulate protocol</c>.</summary>
    public double VerificationSeconds { get; init; } = 0.102;
    /// <summary>Relative spread (±) of compute times around the measured means.</summary>
    public double ComputeJitter { get; init; } = 0.1;
    /// <summary>Verifications one verifier runs in parallel (cores).</summary>
    public int VerifierCores { get; init; } = 8;
    /// <summary>Bytes a miner downloads at round start (θ_r of the default task, fp32).</summary>
    public long ModelBytes { get; init; } = 1_600_000;
    /// <summary>Bytes one verification fetches from the miner: q (Q4), the trace, state j (params + AdamW), θ_H's parameters.</summary>
    public long VerificationFetchBytes { get; init; } = 6_650_000;
    /// <summary>Encoded submit transaction bytes (from the chain's encoder, <c>pot cost</c>).</summary>
    public int SubmitTxBytes { get; init; } = 416;
    /// <summary>Encoded attestation transaction bytes.</summary>
    public int AttestTxBytes { get; init; } = 211;
    /// <summary>Bytes of one transaction reference in a proposed block (compact blocks: the transaction hash).</summary>
    public int TxReferenceBytes { get; init; } = 32;
    /// <summary>Bytes of every other consensus message (prepare, commit, checkpoint, view change) on the wire.</summary>
    public int ConsensusMessageBytes { get; init; } = 200;
    /// <summary>Miner access bandwidth, bytes per second (100 Mbit/s).</summary>
    public double MinerBandwidth { get; init; } = 12.5e6;
    /// <summary>Validator access bandwidth, bytes per second (1 Gbit/s).</summary>
    public double ValidatorBandwidth { get; init; } = 125e6;
    /// <summary>Smallest one-way access latency of a node, ms (link latency = sum of both ends' plus jitter).</summary>
    public long MinAccessLatencyMs { get; init; } = 5;
    /// <summary>Largest one-way access latency of a node, ms.</summary>
    public long MaxAccessLatencyMs { get; init; } = 50;
    /// <summary>Largest extra random delay per message, ms.</summary>
    public long JitterMs { get; init; } = 5;
    /// <summary>PBFT options of every replica.</summary>
    public ConsensusOptions Consensus { get; init; } = new() { ViewTimeoutMs = 1_500, BatchDelayMs = 5, MaxBatchTransactions = 64 };
    /// <summary>Stop after this much virtual time even if not every round finalized; 0: 4 × rounds × nominal round time.</summary>
    public long MaxVirtualMs { get; init; }

    /// <summary>Nominal round time: (W + A + 1) block intervals.</summary>
    public long NominalRoundMs => (WindowBlocks + AttestationBlocks + 1) * BlockIntervalMs;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad value.</summary>
    public void Validate()
    {
        void Check(bool ok, string message)
        {
            if (!ok)
            {
                throw new ArgumentException(message);
            }
        }
        Check(Miners >= 1 && Miners <= 1_000_000, $"miners must be in 1..1000000, got {Miners}");
        Check(Validators >= 1 && Validators <= ConsensusLimits.MaxValidators, $"validators must be in 1..{ConsensusLimits.MaxValidators}, got {Validators}");
        Check(Rounds >= 1 && Rounds <= 100_000, $"rounds must be in 1..100000, got {Rounds}");
        Check(VerifiersPerSubmission >= 1 && VerifiersPerSubmission <= Validators, $"verifiers per submission must be in 1..{Validators}, got {VerifiersPerSubmission}");
        Check(WindowBlocks >= 1 && WindowBlocks <= 10_000 && AttestationBlocks >= 0 && AttestationBlocks <= 10_000, $"window must be 1..10000 blocks and the attestation window 0..10000, got {WindowBlocks} and {AttestationBlocks}");
        Check(BlockIntervalMs >= 1 && BlockIntervalMs <= 3_600_000, $"block interval must be 1..3600000 ms, got {BlockIntervalMs}");
        Check(MinerSeconds >= 0 && MinerSeconds <= 1e6 && VerificationSeconds >= 0 && VerificationSeconds <= 1e6 && ComputeJitter >= 0 && ComputeJitter < 1, "compute times must be 0..1000000 s and the jitter in [0, 1)");
        Check(VerifierCores >= 1, $"verifier cores must be at least 1, got {VerifierCores}");
        Check(ModelBytes >= 0 && VerificationFetchBytes >= 0 && SubmitTxBytes >= 0 && AttestTxBytes >= 0 && TxReferenceBytes >= 0 && ConsensusMessageBytes >= 0, "sizes must be 0 or more");
        Check(MinerBandwidth > 0 && ValidatorBandwidth > 0, "bandwidths must be positive");
        Check(MinAccessLatencyMs >= 0 && MaxAccessLatencyMs >= MinAccessLatencyMs && JitterMs >= 0, "latencies must satisfy 0 <= min <= max and jitter >= 0");
        Check(Faults.ValidatorsCrash <= Validators, $"{Faults.ValidatorsCrash} crashed validators exceed n = {Validators}");
        Check(MaxVirtualMs >= 0, "max virtual time must be 0 or more");
        Consensus.Validate();
    }
}

/// <summary>The simulated outcome of one round.</summary>
/// <param name="Round">Round number.</param>
/// <param name="StartMs">Virtual time the round opened (commit of the previous finalize).</param>
/// <param name="FinalizedMs">Virtual time its finalize block committed, or −1.</param>
/// <param name="OnTime">Whether it finalized by start + nominal round time + one block interval.</param>
/// <param name="Included">Submissions included within the window.</param>
/// <param name="Late">Submissions that reached the chain after the window closed (refused).</param>
/// <param name="Accepted">Accepted by <see cref="RoundRules.Finalize"/>.</param>
/// <param name="Attestations">Attestations recorded before the finalize.</param>
public sealed record NetworkRound(long Round, long StartMs, long FinalizedMs, bool OnTime, int Included, int Late, int Accepted, int Attestations);

/// <summary>Result of a network simulation (deterministic for a seed: no wall-clock or machine figures).</summary>
public sealed record NetworkSimulationResult
{
    /// <summary>Options (faults included).</summary>
    public required NetworkSimulationOptions Options { get; init; }
    /// <summary>Rounds that finalized.</summary>
    public required int RoundsCompleted { get; init; }
    /// <summary>Rounds finalized on time over rounds requested.</summary>
    public required double Uptime { get; init; }
    /// <summary>Median finality latency (mempool batch handed to consensus → first commit), ms.</summary>
    public required double FinalityMedianMs { get; init; }
    /// <summary>99th percentile finality latency, ms.</summary>
    public required double FinalityP99Ms { get; init; }
    /// <summary>Largest finality latency, ms.</summary>
    public required double FinalityMaxMs { get; init; }
    /// <summary>Median round duration, ms.</summary>
    public required double RoundMedianMs { get; init; }
    /// <summary>Submissions included over all rounds.</summary>
    public required long SubmissionsIncluded { get; init; }
    /// <summary>Submissions accepted over all rounds.</summary>
    public required long SubmissionsAccepted { get; init; }
    /// <summary>Submissions refused because they reached the chain after the window.</summary>
    public required long SubmissionsLate { get; init; }
    /// <summary>Attestations arriving after their round's finalize (not counted).</summary>
    public required long AttestationsLate { get; init; }
    /// <summary>Miners down for the whole run.</summary>
    public required int CrashedMiners { get; init; }
    /// <summary>Validators down for the whole run.</summary>
    public required int CrashedValidators { get; init; }
    /// <summary>Committed blocks (highest height).</summary>
    public required long Blocks { get; init; }
    /// <summary>Highest view reached (view changes).</summary>
    public required long MaxView { get; init; }
    /// <summary>Consensus messages delivered.</summary>
    public required long MessagesDelivered { get; init; }
    /// <summary>Simulator events processed.</summary>
    public required long Events { get; init; }
    /// <summary>Virtual time at the end, ms.</summary>
    public required long VirtualMs { get; init; }
    /// <summary>Bytes carried over modeled links (updates, states, models, transactions, consensus messages).</summary>
    public required double BytesTransferred { get; init; }
    /// <summary>SHA-256 over every committed block digest and every round outcome, equal across replays of a seed.</summary>
    public required string TraceDigest { get; init; }
    /// <summary>Per-round outcomes.</summary>
    public required IReadOnlyList<NetworkRound> PerRound { get; init; }
}

/// <summary>
/// Discrete-event simulation of a Proof-of-Training network at scale: the real PBFT <see cref="Replica"/> for every
/// validator, and the protocol's round logic (γ and the c verifiers per submission from <see cref="Challenge"/>, the
/// submission window, <see cref="RoundRules.Finalize"/>) for miners whose training and verification compute is modeled
/// by measured CPU times, with per-node latency and bandwidth. Deterministic for a seed. docs/simulation-scale.md
/// describes the model and its shortcuts.
/// </summary>
public sealed class NetworkSimulation
{
    private const long Us = 1000; // microseconds per ms

    private readonly NetworkSimulationOptions _o;
    private readonly Prng _rng;
    private readonly PriorityQueue<Event, (long, long)> _queue = new();
    private long _sequence;
    private long _now; // µs
    private readonly int _n;
    private readonly Replica?[] _replicas;
    private readonly long[] _accessUs; // per validator, then per miner
    private readonly long[] _uploadFreeUs; // validator upload links
    private readonly bool[] _crashedValidator;
    private readonly bool[] _crashedMiner;
    private readonly ValidatorSet _set;
    private readonly SimulatedBlockValidator _blockValidator = new();
    private readonly IncrementalHash _trace = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly List<(long Start, long End, bool[] Side)> _partitions = new();

    // Verifier and miner links (µs at which each becomes free) and verifier cores.
    private readonly long[] _verifierLinkFree;
    private readonly long[][] _verifierCores;
    private readonly long[] _minerLinkFree;

    // Mempool: items waiting to reach the validators, by arrival time; batches handed to consensus by id.
    private readonly PriorityQueue<Item, (long, long)> _arriving = new();
    private readonly Dictionary<long, Batch> _batches = new();
    private long _nextBatch;
    private readonly HashSet<long> _committedBatches = new();
    private readonly List<double> _finalityMs = new();

    // Round state.
    private long _round;
    private long _roundStartHeight;
    private long _roundStartUs;
    private bool _finalizeRequested;
    private long _height;
    private readonly List<Recorded> _recorded = new();
    private readonly Dictionary<int, int> _recordedByMiner = new();
    private int _late;
    private long _lateTotal;
    private long _lateAttestations;
    private readonly List<NetworkRound> _rounds = new();
    private readonly ProtocolTask _task = ProtocolTask.Tiny("network-sim");
    private readonly byte[][] _verifierKeys;
    private readonly string[] _verifierAddresses;
    private readonly Dictionary<string, ulong> _stake = new(StringComparer.Ordinal);
    private long _messages;
    private long _events;
    private long _maxView;
    private double _bytes;
    private Action<NetworkRound>? _onRound;

    private sealed class Event
    {
        public int Kind; // 0 deliver, 1 timer, 2 tick
        public int Target;
        public ConsensusMessage? Message;
        public TimerKind Timer;
        public long Generation;
    }

    private sealed record Item(int Kind, long Round, int Miner, int Verifier, long ArrivalUs); // 0 submission, 1 attestation

    private sealed record Batch(long Id, long HandedUs, List<Item> Items, long FinalizeRound);

    private sealed class Recorded
    {
        public required int Miner;
        public required byte[] Id;
        public required int[] Verifiers;
        public readonly List<int> Attested = new();
    }

    /// <summary>Builds the network: replicas, crashed nodes, latencies, partitions.</summary>
    /// <param name="options">Parameters (validated here).</param>
    public NetworkSimulation(NetworkSimulationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _o = options;
        _n = options.Validators;
        _rng = new Prng(options.Seed);
        _set = new ValidatorSet(Enumerable.Range(0, _n));
        _replicas = new Replica?[_n];
        _accessUs = new long[_n + options.Miners];
        for (int i = 0; i < _accessUs.Length; i++)
        {
            _accessUs[i] = _rng.Between(options.MinAccessLatencyMs * Us, options.MaxAccessLatencyMs * Us);
        }
        _uploadFreeUs = new long[_n];
        _crashedValidator = new bool[_n];
        foreach (int v in Permutation(_n).Take(options.Faults.ValidatorsCrash))
        {
            _crashedValidator[v] = true;
        }
        _crashedMiner = new bool[options.Miners];
        int crashedMiners = (int)Math.Round(options.Faults.MinersCrash * options.Miners, MidpointRounding.ToEven);
        foreach (int m in Permutation(options.Miners).Take(crashedMiners))
        {
            _crashedMiner[m] = true;
        }
        var running = Enumerable.Range(0, _n).Where(v => !_crashedValidator[v]).ToArray();
        foreach (var p in options.Faults.Partitions)
        {
            var side = new bool[_n];
            int count = (int)Math.Round(p.Fraction * running.Length);
            foreach (int i in Permutation(running.Length).Take(count))
            {
                side[running[i]] = true;
            }
            _partitions.Add((p.StartMs * Us, p.EndMs * Us, side));
        }
        _verifierLinkFree = new long[_n];
        _verifierCores = Enumerable.Range(0, _n).Select(_ => new long[options.VerifierCores]).ToArray();
        _minerLinkFree = new long[options.Miners];
        _verifierKeys = Enumerable.Range(0, _n).Select(v => SHA256.HashData(BitConverter.GetBytes(v))).ToArray();
        _verifierAddresses = _verifierKeys.Select(k => Pot.Commitments.Keys.AccountAddress.FromPublicKey(k)).ToArray();
        foreach (string a in _verifierAddresses)
        {
            _stake[a] = 1_000_000;
        }
        ulong master = _rng.Next();
        var verifier = new KeyedHashSigner(0, master);
        for (int v = 0; v < _n; v++)
        {
            if (!_crashedValidator[v])
            {
                _replicas[v] = new Replica(options.Consensus, _set, new KeyedHashSigner(v, master), verifier, _blockValidator);
            }
        }
        CrashedMiners = crashedMiners;
    }

    private int CrashedMiners { get; }

    private int[] Permutation(int count)
    {
        var a = Enumerable.Range(0, count).ToArray();
        for (int i = count - 1; i > 0; i--)
        {
            int j = _rng.Below(i + 1);
            (a[i], a[j]) = (a[j], a[i]);
        }
        return a;
    }

    private void Schedule(long atUs, Event e) => _queue.Enqueue(e, (atUs, _sequence++));

    private bool Blocked(int a, int b, long atUs)
    {
        foreach (var (start, end, side) in _partitions)
        {
            if (atUs >= start && atUs < end && side[a] != side[b])
            {
                return true;
            }
        }
        return false;
    }

    private long LinkLatencyUs(int a, int b) => _accessUs[a] + _accessUs[b] + _rng.Between(0, _o.JitterMs * Us);

    private static long TransferUs(double bytes, double bandwidth) => (long)Math.Ceiling(bytes / bandwidth * 1e6);

    /// <summary>Runs until every round finalized or the virtual-time limit.</summary>
    /// <returns>The result.</returns>
    public NetworkSimulationResult Run() => Run(null);

    /// <summary>Runs until every round finalized or the virtual-time limit, reporting each round as it finalizes.</summary>
    /// <param name="onRound">Called with each finalized round, in order (progress display; it cannot change the run).</param>
    /// <returns>The result.</returns>
    public NetworkSimulationResult Run(Action<NetworkRound>? onRound)
    {
        _onRound = onRound;
        for (int v = 0; v < _n; v++)
        {
            if (_replicas[v] is not null)
            {
                Step(v, new StartInput());
            }
        }
        OpenRound(0);
        Schedule(_o.BlockIntervalMs * Us, new Event { Kind = 2 });
        long limitMs = _o.MaxVirtualMs > 0 ? _o.MaxVirtualMs : 4L * _o.Rounds * _o.NominalRoundMs + 60_000;
        while (_rounds.Count < _o.Rounds && _queue.TryDequeue(out var e, out var key) && key.Item1 <= limitMs * Us)
        {
            _now = key.Item1;
            _events++;
            switch (e.Kind)
            {
                case 0:
                    if (_replicas[e.Target] is not null)
                    {
                        _messages++;
                        Step(e.Target, new MessageInput(e.Message!));
                    }
                    break;
                case 1:
                    if (_replicas[e.Target] is not null)
                    {
                        Step(e.Target, new TimerInput(e.Timer, e.Generation));
                    }
                    break;
                case 2:
                    Tick();
                    Schedule(_now + _o.BlockIntervalMs * Us, new Event { Kind = 2 });
                    break;
            }
        }
        return Result();
    }

    // ------------------------------------------------------------------ consensus host

    private void Step(int v, ConsensusInput input)
    {
        var replica = _replicas[v]!;
        foreach (var output in replica.Step(input))
        {
            switch (output)
            {
                case SendOutput s:
                    Transmit(v, s.To, s.Message);
                    break;
                case SetTimerOutput t:
                    Schedule(_now + t.DelayMs * Us, new Event { Kind = 1, Target = v, Timer = t.Kind, Generation = t.Generation });
                    break;
                case CommittedOutput c:
                    OnCommit(c);
                    break;
            }
        }
        _maxView = Math.Max(_maxView, replica.View);
    }

    private void Transmit(int from, int[] to, ConsensusMessage message)
    {
        double bytes = _o.ConsensusMessageBytes;
        if (message is PrePrepare pp)
        {
            // Compact block: one reference per transaction the payload's batches stand for.
            bytes += ModeledBlockReferences(pp.Payload) * (double)_o.TxReferenceBytes;
        }
        long per = TransferUs(bytes, _o.ValidatorBandwidth);
        foreach (int target in to)
        {
            if (target < 0 || target >= _n || Blocked(from, target, _now))
            {
                continue;
            }
            long depart = Math.Max(_now, _uploadFreeUs[from]) + per;
            _uploadFreeUs[from] = depart;
            _bytes += bytes;
            Schedule(depart + LinkLatencyUs(from, target), new Event { Kind = 0, Target = target, Message = message });
        }
    }

    private long ModeledBlockReferences(byte[] payload)
    {
        if (!TransactionBatch.TryDecode(payload, out var txs))
        {
            return 0;
        }
        long count = 0;
        foreach (byte[] tx in txs)
        {
            if (tx.Length >= 9 && _batches.TryGetValue(BinaryPrimitives.ReadInt64LittleEndian(tx.AsSpan(1)), out var b))
            {
                count += b.Items.Count + (b.FinalizeRound >= 0 ? 1 : 0);
            }
        }
        return count;
    }

    // ------------------------------------------------------------------ mempool and blocks

    // Every block interval the transactions that reached the validators form one batch, ordered by consensus as one
    // client transaction (a descriptor naming the batch): the batching shortcut of docs/simulation-scale.md.
    private void Tick()
    {
        var items = new List<Item>();
        while (_arriving.TryPeek(out var item, out var at) && at.Item1 <= _now)
        {
            _arriving.Dequeue();
            items.Add(item);
        }
        long finalize = -1;
        if (!_finalizeRequested && _height >= _roundStartHeight + _o.WindowBlocks + _o.AttestationBlocks - 1)
        {
            finalize = _round;
            _finalizeRequested = true;
        }
        long id = _nextBatch++;
        var batch = new Batch(id, _now, items, finalize);
        _batches[id] = batch;
        var tx = new byte[17];
        tx[0] = SimulatedBlockValidator.ClientTag;
        BinaryPrimitives.WriteInt64LittleEndian(tx.AsSpan(1), id);
        BinaryPrimitives.WriteInt64LittleEndian(tx.AsSpan(9), finalize);
        for (int v = 0; v < _n; v++)
        {
            if (_replicas[v] is not null)
            {
                Step(v, new ClientRequestInput(tx));
            }
        }
    }

    private void OnCommit(CommittedOutput c)
    {
        if (c.Height <= _height)
        {
            return; // another replica's commit of a known height: finality is the first commit
        }
        _height = c.Height;
        _trace.AppendData(c.Digest);
        if (!TransactionBatch.TryDecode(c.Payload, out var txs))
        {
            return;
        }
        foreach (byte[] tx in txs)
        {
            long id = BinaryPrimitives.ReadInt64LittleEndian(tx.AsSpan(1));
            if (!_committedBatches.Add(id) || !_batches.TryGetValue(id, out var batch))
            {
                continue;
            }
            _finalityMs.Add((_now - batch.HandedUs) / (double)Us);
            foreach (var item in batch.Items)
            {
                if (item.Kind == 0)
                {
                    Include(item, c.Digest);
                }
                else
                {
                    Attest(item);
                }
            }
            if (batch.FinalizeRound == _round)
            {
                FinalizeRound();
            }
            _batches.Remove(id);
        }
    }

    // ------------------------------------------------------------------ protocol round

    private void OpenRound(long round)
    {
        _round = round;
        _roundStartHeight = _height;
        _roundStartUs = _now;
        _finalizeRequested = false;
        _recorded.Clear();
        _recordedByMiner.Clear();
        _late = 0;
        long modelUs = TransferUs(_o.ModelBytes, _o.MinerBandwidth);
        for (int m = 0; m < _o.Miners; m++)
        {
            if (_crashedMiner[m])
            {
                continue;
            }
            // The miner hears of the block from a validator, downloads θ_r, trains, and sends its submit transaction.
            int node = _n + m;
            int validator = _rng.Below(_n);
            long start = Math.Max(_now + LinkLatencyUs(validator, node), _minerLinkFree[m]);
            long downloaded = start + modelUs;
            _minerLinkFree[m] = downloaded;
            _bytes += _o.ModelBytes;
            long trained = downloaded + Jittered(_o.MinerSeconds);
            long arrival = trained + TransferUs(_o.SubmitTxBytes, _o.MinerBandwidth) + LinkLatencyUs(node, validator);
            _bytes += _o.SubmitTxBytes;
            _arriving.Enqueue(new Item(0, round, m, -1, arrival), (arrival, _sequence++));
        }
    }

    private long Jittered(double seconds) => (long)(seconds * 1e6 * (1 + _o.ComputeJitter * (2 * _rng.NextDouble() - 1)));

    private static byte[] SubmissionId(long round, int miner)
    {
        Span<byte> b = stackalloc byte[12];
        BinaryPrimitives.WriteInt64LittleEndian(b, round);
        BinaryPrimitives.WriteInt32LittleEndian(b[8..], miner);
        return SHA256.HashData(b);
    }

    private void Include(Item item, byte[] blockDigest)
    {
        if (item.Round != _round || _height >= _roundStartHeight + _o.WindowBlocks)
        {
            // Refused by the window rule (WindowClosed); a submission of an already finalized round likewise.
            _late++;
            _lateTotal++;
            return;
        }
        byte[] id = SubmissionId(item.Round, item.Miner);
        byte[] gamma = Challenge.Seed(blockDigest, id);
        int[] verifiers = Challenge.Verifiers(gamma, _n, Math.Min(_o.VerifiersPerSubmission, _n));
        var r = new Recorded { Miner = item.Miner, Id = id, Verifiers = verifiers };
        _recordedByMiner[item.Miner] = _recorded.Count;
        _recorded.Add(r);
        int node = _n + item.Miner;
        foreach (int v in verifiers)
        {
            if (_crashedValidator[v])
            {
                continue;
            }
            // Fetch q, the trace, state j and θ_H from the miner. Each side's access link is a FIFO resource: the transfer
            // occupies the verifier's link for bytes / its bandwidth and the miner's for bytes / the miner's bandwidth (a
            // verifier fetches from many miners at once), and completes when both sides are done, plus one link latency.
            long heard = _now + _accessUs[v];
            long verifierSide = Math.Max(heard, _verifierLinkFree[v]) + TransferUs(_o.VerificationFetchBytes, _o.ValidatorBandwidth);
            long minerSide = Math.Max(heard, _minerLinkFree[item.Miner]) + TransferUs(_o.VerificationFetchBytes, _o.MinerBandwidth);
            _verifierLinkFree[v] = verifierSide;
            _minerLinkFree[item.Miner] = minerSide;
            long fetched = Math.Max(verifierSide, minerSide) + LinkLatencyUs(v, node);
            _bytes += _o.VerificationFetchBytes;
            long[] cores = _verifierCores[v];
            int core = 0;
            for (int i = 1; i < cores.Length; i++)
            {
                if (cores[i] < cores[core])
                {
                    core = i;
                }
            }
            long done = Math.Max(fetched, cores[core]) + Jittered(_o.VerificationSeconds);
            cores[core] = done;
            // The attestation reaches the other validators; a partitioned verifier's only after the partition heals.
            long arrival = done + TransferUs(_o.AttestTxBytes, _o.ValidatorBandwidth) + LinkLatencyUs(v, _rng.Below(_n));
            foreach (var (pStart, pEnd, side) in _partitions)
            {
                if (side[v] && arrival >= pStart && arrival < pEnd)
                {
                    arrival = pEnd;
                }
            }
            _bytes += _o.AttestTxBytes;
            _arriving.Enqueue(new Item(1, item.Round, item.Miner, v, arrival), (arrival, _sequence++));
        }
    }

    private void Attest(Item item)
    {
        if (item.Round != _round || !_recordedByMiner.TryGetValue(item.Miner, out int index))
        {
            _lateAttestations++;
            return;
        }
        _recorded[index].Attested.Add(item.Verifier);
    }

    private void FinalizeRound()
    {
        var zero = new byte[32];
        float[] losses = new float[_task.InnerSteps];
        var submissions = new List<RecordedSubmission>(_recorded.Count);
        int attestations = 0;
        foreach (var r in _recorded)
        {
            byte[] miner = SHA256.HashData(BitConverter.GetBytes(r.Miner + 1_000_000));
            var s = new Submission(r.Id, 1, (ulong)_round, miner, zero, zero, zero, losses, 0);
            var atts = r.Attested.Select(v => new Attestation(r.Id, _verifierKeys[v], true, CheckKind.None, [], [], 2.0f, 1.9f, 0.1f, zero, zero)).ToArray();
            attestations += atts.Length;
            submissions.Add(new RecordedSubmission(s, r.Verifiers.Select(v => _verifierAddresses[v]).ToArray(), atts, null, null));
        }
        var outcome = RoundRules.Finalize(_task, submissions, [], a => _stake.GetValueOrDefault(a), ulong.MaxValue);
        long deadline = _roundStartUs + (_o.NominalRoundMs + _o.BlockIntervalMs) * Us;
        _trace.AppendData(BitConverter.GetBytes(_round));
        _trace.AppendData(BitConverter.GetBytes(outcome.Accepted.Count));
        foreach (var (address, amount) in outcome.Rewards)
        {
            _trace.AppendData(System.Text.Encoding.UTF8.GetBytes(address));
            _trace.AppendData(BitConverter.GetBytes(amount));
        }
        _rounds.Add(new NetworkRound(_round, _roundStartUs / Us, _now / Us, _now <= deadline, _recorded.Count, _late, outcome.Accepted.Count, attestations));
        _onRound?.Invoke(_rounds[^1]);
        OpenRound(_round + 1);
    }

    // ------------------------------------------------------------------ result

    private static double Percentile(List<double> sorted, double q) =>
        sorted.Count == 0 ? double.NaN : sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(q * sorted.Count) - 1 < 0 ? 0 : (int)Math.Ceiling(q * sorted.Count) - 1)];

    private NetworkSimulationResult Result()
    {
        var finality = _finalityMs.Order().ToList();
        var durations = _rounds.Select(r => (double)(r.FinalizedMs - r.StartMs)).Order().ToList();
        using var copy = _trace.Clone();
        return new NetworkSimulationResult
        {
            Options = _o,
            RoundsCompleted = _rounds.Count,
            Uptime = _rounds.Count(r => r.OnTime) / (double)_o.Rounds,
            FinalityMedianMs = Percentile(finality, 0.5),
            FinalityP99Ms = Percentile(finality, 0.99),
            FinalityMaxMs = finality.Count == 0 ? double.NaN : finality[^1],
            RoundMedianMs = Percentile(durations, 0.5),
            SubmissionsIncluded = _rounds.Sum(r => (long)r.Included),
            SubmissionsAccepted = _rounds.Sum(r => (long)r.Accepted),
            SubmissionsLate = _lateTotal,
            AttestationsLate = _lateAttestations,
            CrashedMiners = CrashedMiners,
            CrashedValidators = _o.Faults.ValidatorsCrash,
            Blocks = _height,
            MaxView = _maxView,
            MessagesDelivered = _messages,
            Events = _events,
            VirtualMs = _now / Us,
            BytesTransferred = _bytes,
            TraceDigest = Convert.ToHexString(copy.GetCurrentHash()),
            PerRound = _rounds,
        };
    }
}
