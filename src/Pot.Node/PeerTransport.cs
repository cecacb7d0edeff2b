using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Threading.Channels;

namespace Pot.Node;

/// <summary>How the node reaches its peers (by consensus node id).</summary>
public interface IPeerTransport
{
    /// <summary>Queues a POST of <paramref name="body"/> to a peer's <paramref name="path"/>; never blocks, drops when the peer's queue is full.</summary>
    /// <param name="nodeId">Peer node id.</param>
    /// <param name="path">Path such as /p2p/consensus.</param>
    /// <param name="body">Request body.</param>
    void Post(int nodeId, string path, byte[] body);

    /// <summary>GETs a peer's path; null on any failure or non-200 status.</summary>
    /// <param name="nodeId">Peer node id.</param>
    /// <param name="path">Path.</param>
    /// <param name="cancellation">Cancellation.</param>
    /// <returns>Body or null.</returns>
    Task<byte[]?> GetAsync(int nodeId, string path, CancellationToken cancellation);
}

/// <summary>
/// HTTP/2 cleartext (prior knowledge) transport: per peer, two bounded queues — consensus traffic
/// (/p2p/consensus, /p2p/blocksig) and transaction gossip (/p2p/tx) — each with its own sender loop
/// (up to <see cref="MaxInFlight"/> consensus requests in flight on the multiplexed connection; gossip
/// one at a time, to keep each sender's nonce order), so a
/// slow or dead peer never blocks consensus, and a burst of gossip never queues consensus messages
/// behind it. Failed sends are dropped; PBFT retransmits what matters (view changes, checkpoints) and
/// the catch-up loop fetches blocks.
/// </summary>
public sealed class HttpPeerTransport : IPeerTransport, IDisposable
{
    private const int QueueCapacity = 4096;
    /// <summary>Requests in flight per peer and queue.</summary>
    public const int MaxInFlight = 8;
    private readonly HttpClient _client;
    private readonly IReadOnlyDictionary<int, Uri> _peers;
    private readonly ConcurrentDictionary<(int, bool), Channel<(string Path, byte[] Body)>> _queues = new();
    private readonly CancellationTokenSource _stop = new();

    /// <summary>Creates the transport.</summary>
    /// <param name="peers">Node id → base URL.</param>
    public HttpPeerTransport(IReadOnlyDictionary<int, Uri> peers)
    {
        _peers = peers;
        _client = new HttpClient(new SocketsHttpHandler
        {
            EnableMultipleHttp2Connections = true,
            ConnectTimeout = TimeSpan.FromSeconds(2),
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
        })
        {
            DefaultRequestVersion = HttpVersion.Version20,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Timeout = TimeSpan.FromSeconds(10),
        };
    }

    /// <summary>Requests whose send failed (peer down, refused, error status).</summary>
    public long Failures => Interlocked.Read(ref _failures);
    private long _failures;

    /// <inheritdoc />
    public void Post(int nodeId, string path, byte[] body)
    {
        if (!_peers.ContainsKey(nodeId)) return;
        bool gossip = path == "/p2p/tx";
        var queue = _queues.GetOrAdd((nodeId, gossip), key =>
        {
            var ch = Channel.CreateBounded<(string, byte[])>(new BoundedChannelOptions(QueueCapacity) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });
            _ = Task.Run(() => SendLoop(key.Item1, ch.Reader, key.Item2 ? 1 : MaxInFlight));
            return ch;
        });
        queue.Writer.TryWrite((path, body));
    }

    // Gossip keeps one request in flight: a sender's transactions then reach the peer in nonce order
    // (its mempool refuses nonce gaps); consensus messages need no order.
    private async Task SendLoop(int nodeId, ChannelReader<(string Path, byte[] Body)> reader, int inFlight)
    {
        Uri baseUri = _peers[nodeId];
        using var slots = new SemaphoreSlim(inFlight);
        try
        {
            while (await reader.WaitToReadAsync(_stop.Token).ConfigureAwait(false))
            {
                while (reader.TryRead(out var item))
                {
                    await slots.WaitAsync(_stop.Token).ConfigureAwait(false);
                    _ = SendOne(baseUri, item.Path, item.Body, slots);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task SendOne(Uri baseUri, string path, byte[] body, SemaphoreSlim slots)
    {
        try
        {
            using var content = new ByteArrayContent(body);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            using var response = await _client.PostAsync(new Uri(baseUri, path), content, _stop.Token).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode) Interlocked.Increment(ref _failures);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException or ObjectDisposedException)
        {
            Interlocked.Increment(ref _failures);
        }
        finally
        {
            try
            {
                slots.Release();
            }
            catch (ObjectDisposedException)
            {
            }
        }
    }

    /// <inheritdoc />
    public async Task<byte[]?> GetAsync(int nodeId, string path, CancellationToken cancellation)
    {
        if (!_peers.TryGetValue(nodeId, out var baseUri)) return null;
        try
        {
            using var response = await _client.GetAsync(new Uri(baseUri, path), cancellation).ConfigureAwait(false);
            return response.StatusCode == HttpStatusCode.OK ? await response.Content.ReadAsByteArrayAsync(cancellation).ConfigureAwait(false) : null;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException)
        {
            return null;
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _stop.Cancel();
        _client.Dispose();
    }
}
