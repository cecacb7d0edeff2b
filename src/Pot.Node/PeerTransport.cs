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
/// HTTP/2 cleartext (prior knowledge) transport: one bounded queue and one sender loop per peer, so a
/// slow or dead peer never blocks consensus. Failed sends are dropped; PBFT retransmits what matters
/// (view changes, checkpoints) and the catch-up loop fetches blocks.
/// </summary>
public sealed class HttpPeerTransport : IPeerTransport, IDisposable
{
    private const int QueueCapacity = 4096;
    private readonly HttpClient _client;
    private readonly IReadOnlyDictionary<int, Uri> _peers;
    private readonly ConcurrentDictionary<int, Channel<(string Path, byte[] Body)>> _queues = new();
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
        var queue = _queues.GetOrAdd(nodeId, id =>
        {
            var ch = Channel.CreateBounded<(string, byte[])>(new BoundedChannelOptions(QueueCapacity) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });
            _ = Task.Run(() => SendLoop(id, ch.Reader));
            return ch;
        });
        queue.Writer.TryWrite((path, body));
    }

    private async Task SendLoop(int nodeId, ChannelReader<(string Path, byte[] Body)> reader)
    {
        Uri baseUri = _peers[nodeId];
        try
        {
            while (await reader.WaitToReadAsync(_stop.Token).ConfigureAwait(false))
            {
                while (reader.TryRead(out var item))
                {
                    try
                    {
                        using var content = new ByteArrayContent(item.Body);
                        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
                        using var response = await _client.PostAsync(new Uri(baseUri, item.Path), content, _stop.Token).ConfigureAwait(false);
                        if (!response.IsSuccessStatusCode) Interlocked.Increment(ref _failures);
                    }
                    catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException)
                    {
                        Interlocked.Increment(ref _failures);
                        if (_stop.IsCancellationRequested) return;
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
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
