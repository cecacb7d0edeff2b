using Pot.Chain.Execution;
using Pot.Chain.State;
using Pot.Chain.Transactions;
using Pot.Commitments;

namespace Pot.Chain.Mempool;

/// <summary>
/// Pending transactions waiting for a block. Each is validated against the head state with the
/// sender's earlier pending transactions applied; per sender the nonces are contiguous; blocks are
/// filled by fee rate (fee per byte) while keeping each sender's nonce order; when full, the
/// lowest-fee-rate transaction at the end of a sender's queue is evicted for a better one.
/// </summary>
/// <remarks>Not thread-safe: the node serialises access (one writer, as for the ledger).</remarks>
public sealed class TransactionPool
{
    private readonly Ledger _ledger;
    private readonly Dictionary<byte[], List<Transaction>> _bySender = new(ByteOrder.Equality);
    private readonly HashSet<byte[]> _hashes = new(ByteOrder.Equality);

    /// <summary>Creates an empty pool.</summary>
    /// <param name="ledger">The ledger whose head state transactions are checked against.</param>
    /// <param name="capacity">Most transactions held.</param>
    /// <param name="maxPerSender">Most transactions held per sender.</param>
    public TransactionPool(Ledger ledger, int capacity = 10_000, int maxPerSender = 64)
    {
        _ledger = ledger ?? throw new ArgumentNullException(nameof(ledger));
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxPerSender, 1);
        Capacity = capacity;
        MaxPerSender = maxPerSender;
    }

    /// <summary>Most transactions held.</summary>
    public int Capacity { get; }

    /// <summary>Most transactions per sender.</summary>
    public int MaxPerSender { get; }

    /// <summary>Number of transactions held.</summary>
    public int Count => _hashes.Count;

    /// <summary>True when the pool holds a transaction with this hash.</summary>
    /// <param name="hash">32-byte hash.</param>
    /// <returns>Whether it is held.</returns>
    public bool Contains(byte[] hash) => _hashes.Contains(hash);

    /// <summary>Decodes and adds a transaction received as bytes.</summary>
    /// <param name="bytes">The encoding.</param>
    /// <returns>Null when accepted, else the rejection.</returns>
    public Rejection? Add(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length > ChainLimits.MaxTransactionBytes)
        {
            return new Rejection(RejectionCode.Oversize, $"transaction of {bytes.Length} bytes; the limit is {ChainLimits.MaxTransactionBytes}");
        }
        Transaction tx;
        try
        {
            tx = Transaction.Decode(bytes);
        }
        catch (PotFormatException ex)
        {
            return new Rejection(RejectionCode.Malformed, ex.Message);
        }
        return Add(tx);
    }

    /// <summary>The nonce the sender's next transaction must carry: its account nonce plus its pending transactions.</summary>
    /// <param name="sender">20-byte sender address.</param>
    /// <returns>The next nonce.</returns>
    public ulong NextNonce(byte[] sender)
    {
        ArgumentNullException.ThrowIfNull(sender);
        ulong nonce = StateAccess.Account(_ledger.State, sender).Nonce;
        return _bySender.TryGetValue(sender, out var queue) ? nonce + (ulong)queue.Count : nonce;
    }

    /// <summary>Adds a transaction.</summary>
    /// <param name="tx">The transaction.</param>
    /// <returns>Null when accepted, else the rejection.</returns>
    public Rejection? Add(Transaction tx)
    {
        ArgumentNullException.ThrowIfNull(tx);
        if (_hashes.Contains(tx.Hash))
        {
            return new Rejection(RejectionCode.Duplicate, $"{tx}: already in the mempool");
        }
        if (tx.ChainId != _ledger.ChainId)
        {
            return new Rejection(RejectionCode.WrongChainId, $"{tx}: chain id '{tx.ChainId}'; expected '{_ledger.ChainId}'");
        }
        var account = StateAccess.Account(_ledger.State, tx.Sender);
        _bySender.TryGetValue(tx.Sender, out var queue);
        ulong next = account.Nonce + (ulong)(queue?.Count ?? 0);
        if (tx.Nonce >= account.Nonce && tx.Nonce < next)
        {
            return new Rejection(RejectionCode.NonceAlreadyPending, $"{tx}: a different transaction with nonce {tx.Nonce} is already pending; replacement is not supported");
        }
        if (queue is not null && queue.Count >= MaxPerSender)
        {
            return new Rejection(RejectionCode.SenderQueueFull, $"{tx}: the sender already has {queue.Count} pending transactions (the limit)");
        }
        if (tx.Nonce > next)
        {
            return new Rejection(RejectionCode.NonceGap, $"{tx}: nonce {tx.Nonce} leaves a gap; expected {next}");
        }

        // Validate as the next transaction after the sender's pending ones.
        var overlay = new StateOverlay(_ledger.State);
        foreach (var p in queue ?? [])
        {
            _ledger.CheckTransaction(p, overlay);
        }
        if (_ledger.CheckTransaction(tx, overlay) is Rejection r)
        {
            return r;
        }

        if (Count >= Capacity)
        {
            var victim = LowestTail(exclude: tx.Sender);
            if (victim is null || CompareFeeRate(tx, victim) <= 0)
            {
                return new Rejection(RejectionCode.MempoolFull, $"{tx}: the mempool holds {Count} transactions and the fee rate {tx.Fee}/{tx.Size} bytes does not beat the lowest evictable one");
            }
            Remove(victim);
        }
        if (queue is null)
        {
            queue = [];
            _bySender[tx.Sender] = queue;
        }
        queue.Add(tx);
        _hashes.Add(tx.Hash);
        return null;
    }

    private void Remove(Transaction tx)
    {
        var queue = _bySender[tx.Sender];
        queue.Remove(tx);
        if (queue.Count == 0)
        {
            _bySender.Remove(tx.Sender);
        }
        _hashes.Remove(tx.Hash);
    }

    /// <summary>Fee-rate order: a.Fee/a.Size against b.Fee/b.Size, ties broken by hash (deterministic).</summary>
    private static int CompareFeeRate(Transaction a, Transaction b)
    {
        int c = ((UInt128)a.Fee * (ulong)b.Size).CompareTo((UInt128)b.Fee * (ulong)a.Size);
        return c != 0 ? c : ByteOrder.Compare(b.Hash, a.Hash);
    }

    private Transaction? LowestTail(byte[] exclude)
    {
        Transaction? lowest = null;
        foreach (var kv in _bySender)
        {
            if (kv.Key.AsSpan().SequenceEqual(exclude))
            {
                continue;
            }
            var tail = kv.Value[^1];
            if (lowest is null || CompareFeeRate(tail, lowest) < 0)
            {
                lowest = tail;
            }
        }
        return lowest;
    }

    /// <summary>Transactions for the next block: highest fee rate first among each sender's next nonce.</summary>
    /// <param name="maxTransactions">Most transactions.</param>
    /// <param name="maxBytes">Most total bytes.</param>
    /// <returns>The transactions in block order.</returns>
    public IReadOnlyList<Transaction> Reap(int maxTransactions, long maxBytes)
    {
        var heads = new PriorityQueue<(List<Transaction> Queue, int Index), Transaction>(Comparer<Transaction>.Create((a, b) => CompareFeeRate(b, a)));
        foreach (var q in _bySender.Values)
        {
            heads.Enqueue((q, 0), q[0]);
        }
        var result = new List<Transaction>();
        long bytes = 0;
        while (result.Count < maxTransactions && heads.TryDequeue(out var item, out var tx))
        {
            if (bytes + tx.Size > maxBytes)
            {
                // This sender's later nonces cannot go before this one: the sender is done for this block.
                continue;
            }
            result.Add(tx);
            bytes += tx.Size;
            if (item.Index + 1 < item.Queue.Count)
            {
                heads.Enqueue((item.Queue, item.Index + 1), item.Queue[item.Index + 1]);
            }
        }
        return result;
    }

    /// <summary>After a commit: drops included and stale transactions and re-validates the rest in nonce order.</summary>
    public void Recheck()
    {
        var senders = _bySender.Keys.ToList();
        senders.Sort(ByteOrder.Comparer);
        foreach (byte[] sender in senders)
        {
            var queue = _bySender[sender];
            var overlay = new StateOverlay(_ledger.State);
            var keep = new List<Transaction>();
            bool broken = false;
            foreach (var tx in queue)
            {
                if (!broken && _ledger.CheckTransaction(tx, overlay) is null)
                {
                    keep.Add(tx);
                }
                else
                {
                    // A failure breaks the nonce chain: every later transaction of the sender goes too.
                    broken |= tx.Nonce >= StateAccess.Account(_ledger.State, sender).Nonce;
                    _hashes.Remove(tx.Hash);
                }
            }
            if (keep.Count == 0)
            {
                _bySender.Remove(sender);
            }
            else
            {
                _bySender[sender] = keep;
            }
        }
    }
}
