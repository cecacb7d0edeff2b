namespace Pot.Network;

/// <summary>
/// Recently read chunks whose hash was verified, kept so that a download in several range requests
/// reads and hashes the chunk once instead of once per range. Bytes here hashed to their address when
/// they were read and are never modified (content addressing), so serving them keeps the guarantee
/// that no corrupted byte is sent. Bounded in bytes; entries expire after a lifetime; least recently
/// used entries are evicted first.
/// </summary>
internal sealed class VerifiedChunkCache(long capacityBytes, TimeSpan lifetime, TimeProvider time)
{
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly object _gate = new();
    private long _bytes;

    public byte[]? TryGet(string id)
    {
        lock (_gate)
        {
            if (!_entries.TryGetValue(id, out Entry? entry))
            {
                return null;
            }
            long now = time.GetTimestamp();
            if (now >= entry.ExpiresAt)
            {
                Remove(id, entry);
                return null;
            }
            entry.LastUse = now;
            return entry.Data;
        }
    }

    public void Add(string id, byte[] data)
    {
        if (data.Length > capacityBytes)
        {
            return;
        }
        lock (_gate)
        {
            if (_entries.ContainsKey(id))
            {
                return;
            }
            long now = time.GetTimestamp();
            foreach (var expired in _entries.Where(e => now >= e.Value.ExpiresAt).ToList())
            {
                Remove(expired.Key, expired.Value);
            }
            while (_bytes + data.Length > capacityBytes)
            {
                var oldest = _entries.MinBy(e => e.Value.LastUse);
                Remove(oldest.Key, oldest.Value);
            }
            long lifetimeTicks = (long)(lifetime.TotalSeconds * time.TimestampFrequency);
            _entries[id] = new Entry(data, now + lifetimeTicks) { LastUse = now };
            _bytes += data.Length;
        }
    }

    private void Remove(string id, Entry entry)
    {
        _entries.Remove(id);
        _bytes -= entry.Data.Length;
    }

    private sealed class Entry(byte[] data, long expiresAt)
    {
        public byte[] Data { get; } = data;

        public long ExpiresAt { get; } = expiresAt;

        public long LastUse { get; set; }
    }
}
