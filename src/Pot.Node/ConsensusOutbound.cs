using System.Security.Cryptography;
using Pot.Consensus;

namespace Pot.Node;

/// <summary>Values of the test-only <see cref="NodeConfig.Byzantine"/> fault switch.</summary>
public static class ByzantineModes
{
    /// <summary>Honest (the default).</summary>
    public const string None = "";

    /// <summary>
    /// Equivocate: as primary, send conflicting pre-prepares (same view and height, a different block)
    /// to different backups; as any replica, send conflicting prepare and commit digests to different peers.
    /// </summary>
    public const string Equivocate = "equivocate";

    /// <summary>Every accepted value.</summary>
    public static readonly string[] All = [None, Equivocate];
}

/// <summary>
/// The one place where the node's consensus messages leave it: encodes each replica send and posts it
/// to the peers. With the test-only fault switch <see cref="ByzantineModes.Equivocate"/> it turns the
/// node into an equivocating validator here, and only here, so the replica, the chain side and the
/// HTTP layer stay the honest code. Targets are split by their position in the send: even positions
/// get the replica's message, odd positions a conflicting one signed with the same key (for a
/// pre-prepare, another valid block built by <c>conflictingPayload</c>; for a prepare or a commit, a
/// different digest). Every other message kind goes out unchanged.
/// </summary>
public sealed class ConsensusOutbound
{
    private readonly IPeerTransport _peers;
    private readonly IConsensusSigner _signer;
    private readonly string _mode;
    private readonly Func<PrePrepare, byte[]> _conflictingPayload;
    private readonly NodeMetrics _metrics;

    /// <summary>Creates the outbound path.</summary>
    /// <param name="peers">Transport.</param>
    /// <param name="signer">This node's consensus signer (signs the conflicting messages).</param>
    /// <param name="mode">A <see cref="ByzantineModes"/> value.</param>
    /// <param name="conflictingPayload">Builds a different payload for a pre-prepare (called under the node's lock).</param>
    /// <param name="metrics">Metrics (counts the conflicting messages sent).</param>
    public ConsensusOutbound(IPeerTransport peers, IConsensusSigner signer, string mode, Func<PrePrepare, byte[]> conflictingPayload, NodeMetrics metrics)
    {
        if (!ByzantineModes.All.Contains(mode)) throw new ArgumentException($"unknown Byzantine mode '{mode}'; expected \"\" or \"{ByzantineModes.Equivocate}\"", nameof(mode));
        _peers = peers;
        _signer = signer;
        _mode = mode;
        _conflictingPayload = conflictingPayload;
        _metrics = metrics;
    }

    /// <summary>Sends one replica output.</summary>
    /// <param name="to">Target node ids.</param>
    /// <param name="message">The replica's message.</param>
    public void Send(IReadOnlyList<int> to, ConsensusMessage message)
    {
        byte[] bytes = MessageCodec.Encode(message);
        ConsensusMessage? conflicting = _mode == ByzantineModes.Equivocate && to.Count > 1 ? Conflicting(message) : null;
        byte[]? other = conflicting is null ? null : MessageCodec.Encode(conflicting);
        for (int i = 0; i < to.Count; i++)
        {
            if (other is not null && i % 2 == 1)
            {
                _peers.Post(to[i], "/p2p/consensus", other);
                _metrics.ByzantineMessages.Inc();
            }
            else
            {
                _peers.Post(to[i], "/p2p/consensus", bytes);
            }
        }
    }

    private ConsensusMessage? Conflicting(ConsensusMessage message) => message switch
    {
        PrePrepare pp => ConflictingPrePrepare(pp),
        Prepare p => (p with { Digest = Other(p.Digest) }).SignWith(_signer),
        Commit c => (c with { Digest = Other(c.Digest) }).SignWith(_signer),
        _ => null,
    };

    private PrePrepare ConflictingPrePrepare(PrePrepare pp)
    {
        byte[] payload;
        try
        {
            payload = _conflictingPayload(pp);
        }
        catch (Exception ex) when (ex is Pot.Commitments.PotFormatException or InvalidOperationException or ArgumentException)
        {
            payload = [];
        }
        if (payload.AsSpan().SequenceEqual(pp.Payload)) payload = pp.Payload.Length == 0 ? [0] : [];
        return (pp with { Payload = payload, Digest = Digests.Block(pp.Height, payload) }).SignWith(_signer);
    }

    private static byte[] Other(byte[] digest) => SHA256.HashData([.. "pot/byzantine"u8, .. digest]);
}
