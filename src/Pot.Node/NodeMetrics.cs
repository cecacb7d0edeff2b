using Prometheus;

namespace Pot.Node;

/// <summary>The node's Prometheus metrics, in a registry of its own (so several nodes can share a process in tests).</summary>
public sealed class NodeMetrics
{
    /// <summary>Creates the metrics in a fresh registry.</summary>
    public NodeMetrics()
    {
        Registry = Prometheus.Metrics.NewCustomRegistry();
        var f = Prometheus.Metrics.WithCustomRegistry(Registry);
        ChainHeight = f.CreateGauge("pot_chain_height", "Height of the certified chain head.");
        ConsensusHeight = f.CreateGauge("pot_consensus_executed_height", "Highest PBFT height executed (null blocks included).");
        View = f.CreateGauge("pot_consensus_view", "Current PBFT view.");
        MempoolSize = f.CreateGauge("pot_mempool_transactions", "Pending transactions.");
        BlocksCommitted = f.CreateCounter("pot_blocks_committed_total", "Blocks committed to the chain store.");
        BlocksFetched = f.CreateCounter("pot_blocks_fetched_total", "Certified blocks fetched from peers by the catch-up loop.");
        TransactionsCommitted = f.CreateCounter("pot_transactions_committed_total", "Transactions in committed blocks.");
        SkippedPayloads = f.CreateCounter("pot_consensus_skipped_payloads_total", "PBFT-committed payloads that were not a valid next block (skipped deterministically).");
        MessagesSent = f.CreateCounter("pot_consensus_messages_sent_total", "Consensus messages queued to peers.");
        MessagesReceived = f.CreateCounter("pot_consensus_messages_received_total", "Consensus messages that passed decoding and signature checks.");
        ConsensusDrops = f.CreateCounter("pot_consensus_dropped_total", "Authentic consensus messages the replica dropped, by reason.", "reason");
        Rejected = f.CreateCounter("pot_requests_rejected_total", "Requests rejected, by endpoint and reason.", "endpoint", "reason");
        RequeuedTransactions = f.CreateCounter("pot_consensus_requeued_transactions_total", "Transactions of skipped payloads handed back to the replica (still pending in the mempool).");
        ByzantineMessages = f.CreateCounter("pot_byzantine_conflicting_messages_total", "Conflicting consensus messages sent by the test-only Byzantine switch (0 on an honest node).");
        RpcCalls = f.CreateCounter("pot_rpc_calls_total", "JSON-RPC calls, by method and outcome.", "method", "outcome");
        EmptyBlocksProposed = f.CreateCounter("pot_empty_blocks_proposed_total", "Empty blocks this node proposed as primary (EmptyBlockIntervalMs).");
        RoleTransactions = f.CreateCounter("pot_role_transactions_total", "Transactions the protocol roles submitted, by kind and outcome.", "kind", "outcome");
    }

    /// <summary>
    /// Exports the chunk prefetch of the chain rules' source (docs/node.md, "The chain rules never wait on the network"),
    /// read at each scrape: <c>pot_chunk_prefetch_queued</c> (chunks the rules missed that wait for a background fetch) and
    /// <c>pot_chunk_prefetched_total</c> (chunks fetched that way). A queue that stays full explains validators answering
    /// DataUnavailable.
    /// </summary>
    /// <param name="queued">The queue length now.</param>
    /// <param name="prefetched">Chunks prefetched so far (monotone).</param>
    public void ObserveChunkPrefetch(Func<int> queued, Func<long> prefetched)
    {
        ArgumentNullException.ThrowIfNull(queued);
        ArgumentNullException.ThrowIfNull(prefetched);
        var f = Prometheus.Metrics.WithCustomRegistry(Registry);
        var queue = f.CreateGauge("pot_chunk_prefetch_queued", "Chunks the chain rules missed locally that wait for a background fetch from peers.");
        var done = f.CreateCounter("pot_chunk_prefetched_total", "Chunks the background prefetch fetched from peers and stored.");
        Registry.AddBeforeCollectCallback(() =>
        {
            queue.Set(queued());
            done.IncTo(prefetched());
        });
    }

    /// <summary>pot_empty_blocks_proposed_total.</summary>
    public Counter EmptyBlocksProposed { get; }
    /// <summary>pot_role_transactions_total{kind,outcome}.</summary>
    public Counter RoleTransactions { get; }

    /// <summary>The registry served at /metrics.</summary>
    public CollectorRegistry Registry { get; }
    /// <summary>pot_chain_height.</summary>
    public Gauge ChainHeight { get; }
    /// <summary>pot_consensus_executed_height.</summary>
    public Gauge ConsensusHeight { get; }
    /// <summary>pot_consensus_view.</summary>
    public Gauge View { get; }
    /// <summary>pot_mempool_transactions.</summary>
    public Gauge MempoolSize { get; }
    /// <summary>pot_blocks_committed_total.</summary>
    public Counter BlocksCommitted { get; }
    /// <summary>pot_blocks_fetched_total.</summary>
    public Counter BlocksFetched { get; }
    /// <summary>pot_transactions_committed_total.</summary>
    public Counter TransactionsCommitted { get; }
    /// <summary>pot_consensus_skipped_payloads_total.</summary>
    public Counter SkippedPayloads { get; }
    /// <summary>pot_consensus_messages_sent_total.</summary>
    public Counter MessagesSent { get; }
    /// <summary>pot_consensus_messages_received_total.</summary>
    public Counter MessagesReceived { get; }
    /// <summary>pot_consensus_dropped_total{reason}.</summary>
    public Counter ConsensusDrops { get; }
    /// <summary>pot_requests_rejected_total{endpoint,reason}.</summary>
    public Counter Rejected { get; }
    /// <summary>pot_consensus_requeued_transactions_total.</summary>
    public Counter RequeuedTransactions { get; }
    /// <summary>pot_byzantine_conflicting_messages_total.</summary>
    public Counter ByzantineMessages { get; }
    /// <summary>pot_rpc_calls_total{method,outcome}.</summary>
    public Counter RpcCalls { get; }
}
