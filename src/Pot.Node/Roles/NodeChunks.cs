using System.Net;
using System.Security.Cryptography;
using Pot.Commitments;
using Pot.Network;
using Pot.Protocol;
using Pot.Storage;

namespace Pot.Node.Training;

/// <summary>
/// The node's chunk service over its RocksDB <see cref="ChunkStore"/> and the Pot.Network transfer layer.
/// Blobs are content-addressed by SHA-256 and served at <c>GET /chunks/{sha256}</c> (ChunkEndpoints) on the
/// peer endpoint. Protocol objects are named by their commitment (model root, update root, trace root, trace-leaf
/// hash), which is not the SHA-256 of the bytes, so a node also answers <c>GET /p2p/name/{commitment}</c> with the
/// 32-byte content hash the name is bound to (<see cref="ResolveName"/>); a fetch by commitment asks every peer
/// for the name, then downloads the content with the verifying, resumable <see cref="ChunkClient"/> from the
/// peers that have it, stores it locally and binds the name. Callers re-check the bytes against the commitment
/// (ModelBlobs, the verifier, the fraud-proof judge), so a lying peer only costs a failed fetch.
/// </summary>
public sealed class NetworkChunkService : IChunkService, IChunkStore, IDisposable
{
    private readonly ChunkStore _store;
    private readonly ChunkClient _client;
    private readonly HttpClient _http;
    private readonly IReadOnlyList<Uri> _peers;
    private readonly List<IChunkSource> _providers = [];
    private readonly TimeSpan _timeout;
    private readonly Action<string>? _log;

    /// <summary>Creates the service.</summary>
    /// <param name="store">The node's chunk store (owned by the caller).</param>
    /// <param name="peers">Base URLs of the peers' P2P endpoints (validators and chunk peers).</param>
    /// <param name="timeout">Limit of one fetch by commitment.</param>
    /// <param name="log">Receives one line per failed fetch by commitment (what each peer answered); null: silent.</param>
    public NetworkChunkService(ChunkStore store, IEnumerable<Uri> peers, TimeSpan? timeout = null, Action<string>? log = null)
    {
        _log = log;
        _store = store ?? throw new ArgumentNullException(nameof(store));
        _peers = peers.Select(p => p.AbsoluteUri.EndsWith('/') ? p : new Uri(p.AbsoluteUri + "/")).ToArray();
        _timeout = timeout ?? TimeSpan.FromSeconds(20);
        var options = new ChunkClientOptions { RequestTimeout = TimeSpan.FromSeconds(15), ConnectTimeout = TimeSpan.FromSeconds(2) };
        _client = new ChunkClient(store, options);
        _http = new HttpClient(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(2), EnableMultipleHttp2Connections = true })
        {
            DefaultRequestVersion = HttpVersion.Version20,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            // A miner answers a name lookup of a trace state by recomputing it (one at a time): allow for a queue.
            Timeout = TimeSpan.FromSeconds(15),
        };
    }

    /// <summary>Peers tried by fetches.</summary>
    public IReadOnlyList<Uri> Peers => _peers;

    /// <summary>Fetches by commitment that went to the network and succeeded.</summary>
    public long NetworkFetches => Interlocked.Read(ref _networkFetches);
    private long _networkFetches;

    /// <summary>A source that reads local blobs first, then fetches from peers (blocking; for role threads, never under the node's lock nor in request handlers).</summary>
    public IChunkSource Network => new NetworkSource(this);

    /// <summary>
    /// A source that never waits on the network, for the chain rules: they run under the node's lock (mempool admission,
    /// proposal validation, commits), where a blocking fetch held every request handler behind the lock and starved the
    /// thread pool that the fetch itself needed. A miss returns null at once (the rules report the transaction's data as
    /// unavailable, not a verdict) and queues the commitment for the background prefetch (<see cref="StartPrefetch"/>),
    /// so the chunk is local when the transaction is judged again (the next proposal, catch-up or mempool recheck).
    /// </summary>
    public IChunkSource LocalThenPrefetch => new PrefetchingSource(this);

    /// <summary>Most commitments queued for the background prefetch at once; further misses are dropped (asked again later).</summary>
    public const int MaxWanted = 256;

    /// <summary>Concurrent fetches of the background prefetch.</summary>
    public const int PrefetchParallelism = 4;

    /// <summary>How long a commitment whose prefetch failed is not fetched again.</summary>
    public static readonly TimeSpan PrefetchRetryDelay = TimeSpan.FromSeconds(2);

    /// <summary>Commitments the background prefetch fetched from the network.</summary>
    public long Prefetched => Interlocked.Read(ref _prefetched);
    private long _prefetched;

    /// <summary>Commitments waiting for the background prefetch.</summary>
    public int Wanted => _wanted.Count;

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte[]> _wanted = new(StringComparer.Ordinal);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, DateTime> _failedAt = new(StringComparer.Ordinal);
    private readonly System.Threading.Channels.Channel<bool> _wake = System.Threading.Channels.Channel.CreateBounded<bool>(
        new System.Threading.Channels.BoundedChannelOptions(1) { FullMode = System.Threading.Channels.BoundedChannelFullMode.DropWrite });
    private readonly CancellationTokenSource _stop = new();
    private Task? _prefetch;

    /// <summary>Starts the background prefetch of what <see cref="LocalThenPrefetch"/> missed (once; stopped by <see cref="Dispose"/>).</summary>
    public void StartPrefetch()
    {
        lock (_wanted) _prefetch ??= Task.Run(PrefetchLoopAsync);
    }

    private void Want(byte[] commitment)
    {
        string hex = Hex.Encode(commitment);
        if (_failedAt.TryGetValue(hex, out var failed) && DateTime.UtcNow - failed < PrefetchRetryDelay) return;
        if (_wanted.Count >= MaxWanted || !_wanted.TryAdd(hex, commitment)) return;
        _wake.Writer.TryWrite(true);
    }

    private async Task PrefetchLoopAsync()
    {
        var token = _stop.Token;
        try
        {
            while (await _wake.Reader.WaitToReadAsync(token).ConfigureAwait(false))
            {
                _wake.Reader.TryRead(out _);
                var batch = _wanted.ToArray();
                await Parallel.ForEachAsync(batch, new ParallelOptions { MaxDegreeOfParallelism = PrefetchParallelism, CancellationToken = token }, async (entry, ct) =>
                {
                    try
                    {
                        if (TryGet(entry.Value) is not null) return; // arrived meanwhile
                        if (await FetchNamedAsync(entry.Value, ct).ConfigureAwait(false) is not null)
                        {
                            Interlocked.Increment(ref _prefetched);
                            _failedAt.TryRemove(entry.Key, out _);
                        }
                        else
                        {
                            _failedAt[entry.Key] = DateTime.UtcNow;
                            if (_failedAt.Count > 4 * MaxWanted) _failedAt.Clear();
                        }
                    }
                    finally
                    {
                        _wanted.TryRemove(entry.Key, out _);
                    }
                }).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Adds a local on-demand source served under its commitments (a miner's blob server, which recomputes trace states).</summary>
    /// <param name="provider">The source.</param>
    /// <param name="keep">How many providers to keep (oldest dropped).</param>
    public void AddProvider(IChunkSource provider, int keep = 4)
    {
        lock (_providers)
        {
            _providers.Add(provider);
            while (_providers.Count > keep) _providers.RemoveAt(0);
        }
    }

    // ------------------------------------------------------------------ IChunkService (content-addressed)

    /// <inheritdoc />
    public byte[] Put(ReadOnlySpan<byte> data) => _store.Put(data);

    /// <inheritdoc />
    public bool TryGet(ReadOnlySpan<byte> hash, out byte[]? data) => _store.TryGet(hash, out data);

    /// <inheritdoc />
    public async Task<byte[]?> FetchAsync(byte[] hash, CancellationToken cancellation)
    {
        if (_store.TryGet(hash, out var local)) return local;
        try
        {
            return (await _client.FetchAsync(hash, _peers, cancellation).ConfigureAwait(false)).Data;
        }
        catch (ChunkFetchException)
        {
            return null;
        }
    }

    // ------------------------------------------------------------------ IChunkStore (named by commitment)

    /// <inheritdoc />
    public void Put(ReadOnlySpan<byte> commitment, byte[] blob) => _store.PutNamed(commitment, blob);

    /// <inheritdoc />
    public byte[]? TryGet(ReadOnlySpan<byte> commitment)
    {
        if (commitment.Length != 32) return null;
        if (_store.TryGetNamed(commitment) is byte[] local) return local;
        IChunkSource[] providers;
        lock (_providers) providers = _providers.ToArray();
        foreach (var p in providers)
        {
            if (p.TryGet(commitment) is byte[] made)
            {
                _store.PutNamed(commitment, made);
                return made;
            }
        }
        return null;
    }

    /// <summary>The content hash a commitment is bound to here (local blobs and providers), or null.</summary>
    /// <param name="commitment">32-byte commitment.</param>
    /// <returns>SHA-256 of the blob, or null.</returns>
    public byte[]? ResolveName(ReadOnlySpan<byte> commitment) => TryGet(commitment) is byte[] blob ? SHA256.HashData(blob) : null;

    /// <summary>Fetches a blob by commitment from the peers (local first); null when no peer has it in time.</summary>
    /// <param name="commitment">32-byte commitment.</param>
    /// <param name="cancellation">Cancellation.</param>
    /// <returns>The bytes (the caller checks them against the commitment), or null.</returns>
    public async Task<byte[]?> FetchNamedAsync(byte[] commitment, CancellationToken cancellation)
    {
        if (TryGet(commitment) is byte[] local) return local;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        cts.CancelAfter(_timeout);
        string hex = Hex.Encode(commitment);
        var lookups = _peers.Select(async peer =>
        {
            try
            {
                using var response = await _http.GetAsync(new Uri(peer, "p2p/name/" + hex), cts.Token).ConfigureAwait(false);
                if (response.StatusCode != HttpStatusCode.OK) return (peer, (byte[]?)null, ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture));
                byte[] body = await response.Content.ReadAsByteArrayAsync(cts.Token).ConfigureAwait(false);
                return (peer, body.Length == 32 ? body : null, body.Length == 32 ? "ok" : "bad body");
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException or OperationCanceledException)
            {
                return (peer, null, ex.GetType().Name);
            }
        }).ToArray();
        // Download as soon as a peer announces the content (a slow or busy peer must not hold up the others):
        // each announcement is tried from the peers that announced that content and were not tried for it yet,
        // each attempt with half the budget; a failed download (a lying, stalled or vanished peer) moves on to the
        // next announcement, of the same content or another. Peers may disagree on the content.
        try
        {
            return await FirstAnnouncedAsync(commitment, hex, lookups, cts.Token, cancellation).ConfigureAwait(false);
        }
        finally
        {
            await cts.CancelAsync().ConfigureAwait(false); // the lookups still in flight
        }
    }

    private async Task<byte[]?> FirstAnnouncedAsync(byte[] commitment, string hex, Task<(Uri peer, byte[]?, string)>[] lookups, CancellationToken token, CancellationToken cancellation)
    {
        var pending = lookups.ToList();
        var answers = new List<(Uri peer, byte[]? hash, string status)>();
        var tried = new HashSet<(string content, Uri peer)>();
        while (pending.Count > 0)
        {
            var done = await Task.WhenAny(pending).ConfigureAwait(false);
            pending.Remove(done);
            var answer = await done.ConfigureAwait(false);
            answers.Add(answer);
            if (answer.Item2 is null) continue;
            // Every announcer of this content not tried yet for it: one that answered first but then stalls or vanishes
            // (a killed miner, a busy validator) gets half the budget, and the content is tried again from the others.
            string content = Hex.Encode(answer.Item2);
            var sources = answers.Where(a => a.hash is not null && Hex.Encode(a.hash) == content && !tried.Contains((content, a.peer)))
                .Select(a => a.peer).ToArray();
            if (sources.Length == 0) continue;
            foreach (var peer in sources) tried.Add((content, peer));
            using var attempt = CancellationTokenSource.CreateLinkedTokenSource(token);
            attempt.CancelAfter(_timeout / 2);
            try
            {
                var result = await _client.FetchAsync(answer.Item2, sources, attempt.Token).ConfigureAwait(false);
                _store.PutNamed(commitment, result.Data);
                Interlocked.Increment(ref _networkFetches);
                return result.Data;
            }
            catch (Exception ex) when (ex is ChunkFetchException or OperationCanceledException)
            {
                if (cancellation.IsCancellationRequested) throw;
                _log?.Invoke($"chunks: download of {hex[..12]} (content {content[..12]}) from {string.Join(", ", sources.Select(p => p.Authority))} failed: {ex.Message}");
            }
        }
        _log?.Invoke($"chunks: fetch of {hex[..12]} failed; name lookups: {string.Join(", ", answers.Select(a => a.peer.Authority + " " + a.status))}");
        return null;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _stop.Cancel();
        try
        {
            _prefetch?.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
        }
        _stop.Dispose();
        _client.Dispose();
        _http.Dispose();
    }

    private sealed class PrefetchingSource(NetworkChunkService service) : IChunkSource
    {
        public byte[]? TryGet(ReadOnlySpan<byte> commitment)
        {
            if (commitment.Length != 32) return null;
            if (service.TryGet(commitment) is byte[] local) return local;
            service.Want(commitment.ToArray());
            return null;
        }
    }

    private sealed class NetworkSource(NetworkChunkService service) : IChunkSource
    {
        public byte[]? TryGet(ReadOnlySpan<byte> commitment)
        {
            if (commitment.Length != 32) return null;
            byte[] c = commitment.ToArray();
            return service.TryGet(c) ?? Task.Run(() => service.FetchNamedAsync(c, CancellationToken.None)).GetAwaiter().GetResult();
        }
    }
}
