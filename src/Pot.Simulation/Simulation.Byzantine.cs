using Pot.Consensus;

namespace Pot.Simulation;

public sealed partial class Simulation
{
    private const int HistoryLimit = 256;

    private void Remember(Process p, ConsensusMessage m)
    {
        if (p.History.Count >= HistoryLimit) p.History.RemoveAt(_rng.Below(p.History.Count));
        p.History.Add(m);
    }

    private IEnumerable<int> AllIds => _byId.Keys;

    // Byzantine reactions to a received message, before the (otherwise honest) core sees it.
    private void OnByzantineReceive(Process p, ConsensusMessage m)
    {
        switch (p.Behavior)
        {
            case Behavior.DoubleVote when m is PrePrepare pp:
                // Vote for whatever is proposed, even a second conflicting proposal.
                var prepare = new Prepare { Sender = p.Id, View = pp.View, Height = pp.Height, Digest = pp.Digest }.SignWith(p.Signer);
                var commit = new Commit { Sender = p.Id, View = pp.View, Height = pp.Height, Digest = pp.Digest }.SignWith(p.Signer);
                foreach (int id in AllIds.Where(id => id != p.Id))
                {
                    Send(p, id, prepare, null);
                    Send(p, id, commit, null);
                }
                break;
            case Behavior.Replay:
                Remember(p, m);
                if (_rng.Chance(0.2) && p.History.Count > 0)
                {
                    Send(p, _rng.Below(_o.Validators), p.History[_rng.Below(p.History.Count)], null);
                }
                break;
        }
    }

    private void ByzantineTransmit(Process from, int[] to, ConsensusMessage message)
    {
        switch (from.Behavior)
        {
            case Behavior.Silent:
                return;
            case Behavior.Equivocate:
                Equivocate(from, to, message);
                return;
            case Behavior.Mutate:
                foreach (int id in to)
                {
                    if (_rng.Chance(0.4)) SendMutated(from, id, message);
                    else Send(from, id, message, null);
                }
                return;
            default:
                Remember(from, message);
                foreach (int id in to) Send(from, id, message, null);
                return;
        }
    }

    // Sends the original to the first half of the recipients and a conflicting, validly signed
    // variant to the second half; as primary it also commits the variant there.
    private void Equivocate(Process from, int[] to, ConsensusMessage message)
    {
        var shuffled = to.OrderBy(_ => _rng.Next()).ToArray();
        int half = (shuffled.Length + 1) / 2;
        ConsensusMessage? variant = null;
        Commit? extraCommit = null;
        switch (message)
        {
            case PrePrepare pp when TransactionBatch.TryDecode(pp.Payload, out var txs) && pp.Payload.Length > 0:
                byte[] payload = txs.Count >= 2 ? TransactionBatch.Encode(Enumerable.Reverse(txs).ToList()) : TransactionBatch.Encode([]);
                byte[] digest = Digests.Block(pp.Height, payload);
                variant = (pp with { Payload = payload, Digest = digest }).SignWith(from.Signer);
                extraCommit = new Commit { Sender = from.Id, View = pp.View, Height = pp.Height, Digest = digest }.SignWith(from.Signer);
                break;
            case Prepare p:
                variant = (p with { Digest = RandomDigest() }).SignWith(from.Signer);
                break;
            case Commit c:
                variant = (c with { Digest = RandomDigest() }).SignWith(from.Signer);
                break;
        }
        if (variant is not null)
        {
            // Colluding Byzantine identities get both versions, so a double voter can back both.
            foreach (int id in _byzantine.Where(id => id != from.Id))
            {
                Send(from, id, message, null);
                Send(from, id, variant, null);
            }
            shuffled = shuffled.Where(id => !_byzantine.Contains(id)).ToArray();
            half = (shuffled.Length + 1) / 2;
        }
        for (int i = 0; i < shuffled.Length; i++)
        {
            if (i < half || variant is null) Send(from, shuffled[i], message, null);
            else
            {
                Send(from, shuffled[i], variant, null);
                if (extraCommit is not null) Send(from, shuffled[i], extraCommit, null);
            }
        }
    }

    private byte[] RandomDigest()
    {
        var d = new byte[ConsensusLimits.DigestBytes];
        for (int i = 0; i < d.Length; i += 8) BitConverter.TryWriteBytes(d.AsSpan(i), _rng.Next());
        return d;
    }

    // Mutations of a message: view or height ±1 re-signed with the sender's own key (so only the
    // protocol rules can reject them), or bytes flipped, truncated or appended on the wire.
    private void SendMutated(Process from, int to, ConsensusMessage m)
    {
        int kind = _rng.Below(6);
        int delta = _rng.Chance(0.5) ? 1 : -1;
        ConsensusMessage? mutated = (kind, m) switch
        {
            (0, PrePrepare x) when x.View + delta >= 0 => x with { View = x.View + delta },
            (0, Prepare x) when x.View + delta >= 0 => x with { View = x.View + delta },
            (0, Commit x) when x.View + delta >= 0 => x with { View = x.View + delta },
            (0, ViewChange x) when x.NewView + delta >= 0 => x with { NewView = x.NewView + delta },
            (1, PrePrepare x) when x.Height + delta >= 0 => x with { Height = x.Height + delta },
            (1, Prepare x) when x.Height + delta >= 0 => x with { Height = x.Height + delta },
            (1, Commit x) when x.Height + delta >= 0 => x with { Height = x.Height + delta },
            (1, Checkpoint x) when x.Height + delta >= 0 => x with { Height = x.Height + delta },
            _ => null,
        };
        if (mutated is not null)
        {
            Send(from, to, mutated.SignWith(from.Signer), null);
            return;
        }
        byte[] bytes = MessageCodec.Encode(m);
        switch (kind % 3)
        {
            case 0:
                bytes[_rng.Below(bytes.Length)] ^= (byte)(1 << _rng.Below(8));
                break;
            case 1:
                bytes = bytes[..Math.Max(0, bytes.Length - 1 - _rng.Below(Math.Min(bytes.Length, 16)))];
                break;
            default:
                bytes = [.. bytes, (byte)_rng.Below(256)];
                break;
        }
        Send(from, to, null, bytes);
    }
}
