using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Pot.Commitments;
using Pot.Commitments.Merkle;
using Pot.Storage;

namespace Pot.Network;

/// <summary>
/// Fetches content-addressed chunks from peers over HTTP/2 cleartext (prior knowledge: every request
/// is HTTP/2.0 with <see cref="HttpVersionPolicy.RequestVersionExact"/>), in bounded range requests.
/// </summary>
/// <remarks>
/// <para>Rules (docs/network.md §4): peers are tried in the order given. From one peer the chunk is
/// read in ranges of <see cref="ChunkClientOptions.RangeBytes"/> into a buffer of the announced size
/// (at most <see cref="ChunkClientOptions.MaxChunkBytes"/>). A dropped connection or a timed-out
/// request resumes with a Range request from the first missing byte, up to
/// <see cref="ChunkClientOptions.MaxResumesPerPeer"/> times. The whole chunk is then hashed: bytes
/// that do not hash to the address are discarded, the peer is reported as
/// <see cref="PeerFailureKind.WrongBytes"/>, and the next peer starts from byte 0 (partial bytes are
/// never mixed between peers, so a bad hash always names the one peer that sent it). Verified chunks
/// are stored into the local <see cref="ChunkStore"/> when one was given.</para>
/// <para>Thread-safe: one instance can run many fetches concurrently over one HTTP/2 connection per peer.</para>
/// </remarks>
public sealed class ChunkClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly bool _ownsHttp;
    private readonly ChunkStore? _store;
    private readonly ChunkClientOptions _options;

    /// <summary>Creates a client with its own HTTP/2 connection pool (see <see cref="CreateHandler"/>).</summary>
    /// <param name="store">Local store that verified chunks go into and that is consulted first; null to only return them.</param>
    /// <param name="options">Settings (validated here); null for the defaults.</param>
    public ChunkClient(ChunkStore? store, ChunkClientOptions? options = null)
    {
        _options = options ?? new ChunkClientOptions();
        _options.Validate();
        _http = new HttpClient(CreateHandler(_options), disposeHandler: true) { Timeout = Timeout.InfiniteTimeSpan };
        _ownsHttp = true;
        _store = store;
    }

    /// <summary>Creates a client over an existing <see cref="HttpClient"/> (not disposed by this client). Requests still force HTTP/2.</summary>
    /// <param name="http">The HTTP client; its own timeout should be infinite (this client applies <see cref="ChunkClientOptions.RequestTimeout"/>).</param>
    /// <param name="store">Local store, or null.</param>
    /// <param name="options">Settings, or null for the defaults.</param>
    public ChunkClient(HttpClient http, ChunkStore? store, ChunkClientOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(http);
        _options = options ?? new ChunkClientOptions();
        _options.Validate();
        _http = http;
        _store = store;
    }

    /// <summary>The handler the first constructor uses: HTTP/2 cleartext, connect timeout, larger stream window, no decompression, no proxy.</summary>
    /// <param name="options">Settings.</param>
    /// <returns>A new handler.</returns>
    public static SocketsHttpHandler CreateHandler(ChunkClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return new SocketsHttpHandler
        {
            ConnectTimeout = options.ConnectTimeout,
            InitialHttp2StreamWindowSize = options.Http2StreamWindowBytes,
            AutomaticDecompression = DecompressionMethods.None,
            UseProxy = false,
            UseCookies = false,
            AllowAutoRedirect = false,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(2),
            KeepAlivePingDelay = TimeSpan.FromSeconds(30),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(10),
        };
    }

    /// <summary>
    /// Returns the chunk with this address: from the local store when it is there and intact, otherwise
    /// downloaded from the first peer that serves bytes hashing to it, then stored locally (one new
    /// reference, owned by the caller; a locally corrupted copy is repaired the same way).
    /// </summary>
    /// <param name="hash">The 32-byte SHA-256 address.</param>
    /// <param name="peers">Base addresses of peers (e.g. <c>http://10.0.0.2:7400/</c>), tried in order.</param>
    /// <param name="cancellationToken">Cancels the whole fetch.</param>
    /// <returns>The verified chunk, its source and the failures met on the way.</returns>
    /// <exception cref="ChunkFetchException">No peer delivered the chunk; lists every peer's failure.</exception>
    public async Task<ChunkFetchResult> FetchAsync(byte[] hash, IReadOnlyList<Uri> peers, CancellationToken cancellationToken = default)
    {
        string id = ChunkId.Format(hash);
        ArgumentNullException.ThrowIfNull(peers);
        if (_store is not null)
        {
            try
            {
                if (_store.TryGet(hash, out byte[]? local))
                {
                    return new ChunkFetchResult(local!, null, 0, []);
                }
            }
            catch (ChunkCorruptedException)
            {
                // Fall through: a verified download re-put under the same key repairs the local copy.
            }
        }
        var failures = new List<PeerFailure>();
        foreach (Uri peer in peers)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                (byte[] data, int resumes, long _) = await DownloadAsync(peer, id, 0, long.MaxValue, wholeChunk: true, cancellationToken).ConfigureAwait(false);
                byte[] actual = SHA256.HashData(data);
                if (!CryptographicOperations.FixedTimeEquals(actual, hash))
                {
                    throw new PeerFailedException(PeerFailureKind.WrongBytes, $"chunk {id}: the {data.Length} bytes served hash to {Hex.Encode(actual)}; discarded");
                }
                if (_store is not null)
                {
                    _store.Put(data);
                }
                return new ChunkFetchResult(data, peer, resumes, failures);
            }
            catch (PeerFailedException e)
            {
                Report(failures, new PeerFailure(peer, e.Kind, e.Message));
            }
        }
        throw new ChunkFetchException($"chunk {id} could not be fetched from any of {peers.Count} peers", failures);
    }

    /// <summary>
    /// Reads bytes <c>[offset, offset + maxLength)</c> of a chunk, clipped at its end, from the first peer
    /// that answers with a well-formed 206. The bytes are NOT verified (a range cannot be checked against
    /// the chunk hash); verify them against a Merkle proof, as <see cref="FetchModelLeafAsync"/> does.
    /// </summary>
    /// <param name="hash">The chunk's address.</param>
    /// <param name="offset">First byte.</param>
    /// <param name="maxLength">Most bytes wanted (1 to <see cref="ChunkClientOptions.MaxChunkBytes"/>).</param>
    /// <param name="peers">Peers, tried in order.</param>
    /// <param name="cancellationToken">Cancels the fetch.</param>
    /// <returns>The bytes, their offset, the chunk length and the peer.</returns>
    /// <exception cref="ChunkFetchException">No peer delivered the range.</exception>
    public async Task<ChunkRange> FetchRangeAsync(byte[] hash, long offset, int maxLength, IReadOnlyList<Uri> peers, CancellationToken cancellationToken = default)
    {
        string id = ChunkId.Format(hash);
        ArgumentNullException.ThrowIfNull(peers);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        if (maxLength <= 0 || maxLength > _options.MaxChunkBytes)
        {
            throw new ArgumentOutOfRangeException(nameof(maxLength), $"range length must be 1 to {_options.MaxChunkBytes} bytes, got {maxLength}");
        }
        var failures = new List<PeerFailure>();
        foreach (Uri peer in peers)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                (byte[] data, int _, long total) = await DownloadAsync(peer, id, offset, offset + maxLength, wholeChunk: false, cancellationToken).ConfigureAwait(false);
                return new ChunkRange(data, offset, total, peer);
            }
            catch (PeerFailedException e)
            {
                Report(failures, new PeerFailure(peer, e.Kind, e.Message));
            }
        }
        throw new ChunkFetchException($"bytes [{offset}, {offset + maxLength}) of chunk {id} could not be fetched from any of {peers.Count} peers", failures);
    }

    /// <summary>
    /// Fetches one model leaf (<see cref="ModelCommitment.LeafFloats"/> floats, fp32 little-endian) for a
    /// spot check, by range, from a chunk holding a model's whole canonical fp32 stream (leaf i at byte
    /// <c>i × 4096</c>), and verifies it against the model root with the inclusion proof. A peer whose
    /// bytes fail the proof is reported as <see cref="PeerFailureKind.WrongBytes"/> and the next is tried.
    /// </summary>
    /// <param name="modelChunkHash">Address of the model chunk.</param>
    /// <param name="modelRoot">The trusted model root (from the chain).</param>
    /// <param name="proof">Inclusion proof of the leaf; its <see cref="MerkleProof.LeafIndex"/> selects the leaf.</param>
    /// <param name="peers">Peers, tried in order.</param>
    /// <param name="cancellationToken">Cancels the fetch.</param>
    /// <returns>The verified leaf values (fewer than 1024 only for the model's last leaf).</returns>
    /// <exception cref="ChunkFetchException">No peer delivered a leaf that verifies.</exception>
    public async Task<float[]> FetchModelLeafAsync(byte[] modelChunkHash, byte[] modelRoot, MerkleProof proof, IReadOnlyList<Uri> peers, CancellationToken cancellationToken = default)
    {
        string id = ChunkId.Format(modelChunkHash);
        ArgumentNullException.ThrowIfNull(modelRoot);
        ArgumentNullException.ThrowIfNull(proof);
        ArgumentNullException.ThrowIfNull(peers);
        long offset = proof.LeafIndex * ModelCommitment.LeafBytes;
        bool lastLeaf = proof.LeafIndex == proof.TreeSize - 1;
        var failures = new List<PeerFailure>();
        foreach (Uri peer in peers)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                (byte[] data, int _, long total) = await DownloadAsync(peer, id, offset, offset + ModelCommitment.LeafBytes, wholeChunk: false, cancellationToken).ConfigureAwait(false);
                bool shapeOk = data.Length % sizeof(float) == 0 && data.Length > 0 && (lastLeaf ? offset + data.Length == total : data.Length == ModelCommitment.LeafBytes);
                if (!shapeOk)
                {
                    throw new PeerFailedException(PeerFailureKind.WrongBytes, $"chunk {id} leaf {proof.LeafIndex} of {proof.TreeSize}: {data.Length} bytes of a {total}-byte chunk cannot be that leaf");
                }
                var leaf = new float[data.Length / sizeof(float)];
                for (int i = 0; i < leaf.Length; i++)
                {
                    leaf[i] = BitConverter.Int32BitsToSingle(System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(i * sizeof(float))));
                }
                if (!ModelCommitment.VerifyLeaf(modelRoot, proof, leaf))
                {
                    throw new PeerFailedException(PeerFailureKind.WrongBytes, $"chunk {id} leaf {proof.LeafIndex}: the served leaf fails its inclusion proof against model root {Hex.Encode(modelRoot)}");
                }
                return leaf;
            }
            catch (PeerFailedException e)
            {
                Report(failures, new PeerFailure(peer, e.Kind, e.Message));
            }
        }
        throw new ChunkFetchException($"leaf {proof.LeafIndex} of model chunk {id} could not be fetched from any of {peers.Count} peers", failures);
    }

    /// <summary>Asks one peer which of these chunks it stores (<c>POST {prefix}/have</c>).</summary>
    /// <param name="peer">The peer.</param>
    /// <param name="hashes">Addresses to ask about (at most the peer's limit, 1024 by default).</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>One flag per hash, in order.</returns>
    /// <exception cref="HttpRequestException">The peer failed or answered something else than one flag per hash.</exception>
    public async Task<bool[]> HaveAsync(Uri peer, IReadOnlyList<byte[]> hashes, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(peer);
        ArgumentNullException.ThrowIfNull(hashes);
        var body = new { hashes = hashes.Select(h => ChunkId.Format(h)).ToArray() };
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.RequestTimeout);
        using var request = NewRequest(HttpMethod.Post, peer, "have");
        request.Content = JsonContent.Create(body);
        using HttpResponseMessage response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw new HttpRequestException($"{peer}: have request answered {(int)response.StatusCode}: {await ReadSnippetAsync(response, timeout.Token).ConfigureAwait(false)}", null, response.StatusCode);
        }
        if (response.Content.Headers.ContentLength is null or > 64 * 1024)
        {
            throw new HttpRequestException($"{peer}: have response must have a Content-Length of at most 64 KiB");
        }
        byte[] json = await response.Content.ReadAsByteArrayAsync(timeout.Token).ConfigureAwait(false);
        try
        {
            using JsonDocument document = JsonDocument.Parse(json);
            JsonElement have = document.RootElement.GetProperty("have");
            bool[] flags = have.EnumerateArray().Select(e => e.GetBoolean()).ToArray();
            if (flags.Length != hashes.Count)
            {
                throw new HttpRequestException($"{peer}: have response has {flags.Length} flags for {hashes.Count} hashes");
            }
            return flags;
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new HttpRequestException($"{peer}: have response is not {{\"have\":[bool,...]}}: {e.Message}", e);
        }
    }

    /// <summary>Disposes the HTTP client when this instance created it.</summary>
    public void Dispose()
    {
        if (_ownsHttp)
        {
            _http.Dispose();
        }
    }

    private void Report(List<PeerFailure> failures, PeerFailure failure)
    {
        failures.Add(failure);
        _options.PeerFailed?.Invoke(failure);
    }

    private HttpRequestMessage NewRequest(HttpMethod method, Uri peer, string id)
    {
        var uri = new Uri(peer, _options.PathPrefix + "/" + id);
        return new HttpRequestMessage(method, uri)
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
    }

    /// <summary>
    /// Downloads bytes [start, min(end, chunk length)) from one peer in range requests, resuming after
    /// drops. Whole-chunk mode starts at 0, accepts a 200 to the first request and a 416 "*/0" (empty chunk).
    /// </summary>
    private async Task<(byte[] Data, int Resumes, long ChunkLength)> DownloadAsync(Uri peer, string id, long start, long end, bool wholeChunk, CancellationToken cancellationToken)
    {
        byte[]? buffer = null;
        long total = -1;
        long next = start;
        int resumes = 0;
        while (buffer is null || next < start + buffer.Length)
        {
            long limit = total < 0 ? end : Math.Min(end, total);
            long want = Math.Min(_options.RangeBytes, limit - next);
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(_options.RequestTimeout);
                using HttpRequestMessage request = NewRequest(HttpMethod.Get, peer, id);
                request.Headers.Range = new RangeHeaderValue(next, next + want - 1);
                using HttpResponseMessage response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
                long count;
                long announced;
                switch (response.StatusCode)
                {
                    case HttpStatusCode.PartialContent:
                        ContentRangeHeaderValue? range = response.Content.Headers.ContentRange;
                        if (range is not { Unit: "bytes", HasRange: true, HasLength: true } || range.From != next || range.Length!.Value < 0)
                        {
                            throw Violation(id, $"asked for bytes {next}-{next + want - 1}, got Content-Range '{range}'");
                        }
                        announced = range.Length.Value;
                        count = range.To!.Value - next + 1;
                        if (count <= 0 || count > want || (count < want && range.To.Value != announced - 1))
                        {
                            throw Violation(id, $"asked for bytes {next}-{next + want - 1}, got Content-Range '{range}'");
                        }
                        break;
                    case HttpStatusCode.OK when wholeChunk && next == 0:
                        if (response.Content.Headers.ContentLength is not long length)
                        {
                            throw Violation(id, "a 200 response without Content-Length");
                        }
                        announced = length;
                        count = length;
                        break;
                    case HttpStatusCode.RequestedRangeNotSatisfiable:
                        long? size = response.Content.Headers.ContentRange?.Length;
                        if (wholeChunk && next == 0 && size == 0)
                        {
                            return ([], resumes, 0);
                        }
                        throw Violation(id, $"416 for bytes {next}-{next + want - 1} with chunk length {size?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "unknown"}");
                    case HttpStatusCode.NotFound:
                        throw new PeerFailedException(PeerFailureKind.NotFound, $"chunk {id}: {await ReadSnippetAsync(response, timeout.Token).ConfigureAwait(false)}");
                    case HttpStatusCode.TooManyRequests:
                        throw new PeerFailedException(PeerFailureKind.RateLimited, $"chunk {id}: {await ReadSnippetAsync(response, timeout.Token).ConfigureAwait(false)}");
                    case >= HttpStatusCode.InternalServerError:
                        throw new PeerFailedException(PeerFailureKind.Unavailable, $"chunk {id}: status {(int)response.StatusCode}: {await ReadSnippetAsync(response, timeout.Token).ConfigureAwait(false)}");
                    default:
                        throw Violation(id, $"unexpected status {(int)response.StatusCode} to a range request");
                }
                if (announced > _options.MaxChunkBytes)
                {
                    throw new PeerFailedException(PeerFailureKind.TooLarge, $"chunk {id}: peer announces {announced} bytes; at most {_options.MaxChunkBytes} accepted");
                }
                if (total < 0)
                {
                    total = announced;
                    if (start >= total && !(wholeChunk && total == 0))
                    {
                        throw Violation(id, $"range starts at {start} but the chunk has {total} bytes");
                    }
                    buffer = new byte[Math.Min(end, total) - start];
                }
                else if (announced != total)
                {
                    throw Violation(id, $"chunk length changed from {total} to {announced} between requests");
                }
                if (response.Content.Headers.ContentLength is long contentLength && contentLength != count)
                {
                    throw Violation(id, $"Content-Length {contentLength} does not match the {count} bytes of the range");
                }
                Stream body = await response.Content.ReadAsStreamAsync(timeout.Token).ConfigureAwait(false);
                await using (body.ConfigureAwait(false))
                {
                    long stop = next + count;
                    while (next < stop)
                    {
                        int read = await body.ReadAsync(buffer.AsMemory((int)(next - start), (int)(stop - next)), timeout.Token).ConfigureAwait(false);
                        if (read == 0)
                        {
                            throw new IOException($"response ended at byte {next}, before byte {stop}");
                        }
                        next += read;
                    }
                    byte[] probe = new byte[1];
                    if (await body.ReadAsync(probe, timeout.Token).ConfigureAwait(false) != 0)
                    {
                        throw Violation(id, $"more than the {count} announced bytes sent");
                    }
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                throw;
            }
            catch (HttpRequestException e) when (e.HttpRequestError is HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError or HttpRequestError.VersionNegotiationError or HttpRequestError.SecureConnectionError)
            {
                throw new PeerFailedException(PeerFailureKind.Unavailable, $"chunk {id}: cannot connect over HTTP/2 ({e.HttpRequestError}): {e.Message}");
            }
            catch (Exception e) when (e is HttpRequestException or IOException or OperationCanceledException)
            {
                // A dropped connection, reset stream or timeout: keep what arrived and resume from there.
                resumes++;
                if (resumes > _options.MaxResumesPerPeer)
                {
                    string progress = buffer is null ? "no bytes" : $"{next - start} of {buffer.Length} bytes";
                    throw new PeerFailedException(PeerFailureKind.Unavailable, $"chunk {id}: gave up after {_options.MaxResumesPerPeer} resumes with {progress} received; last error: {(e is OperationCanceledException ? $"request timed out after {_options.RequestTimeout.TotalSeconds} s" : e.Message)}");
                }
                await Task.Delay(_options.ResumeDelay * resumes, cancellationToken).ConfigureAwait(false);
            }
        }
        return (buffer, resumes, total);
    }

    private static PeerFailedException Violation(string id, string detail) => new(PeerFailureKind.ProtocolViolation, $"chunk {id}: {detail}");

    private static async Task<string> ReadSnippetAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            Stream body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            await using (body.ConfigureAwait(false))
            {
                var buffer = new byte[512];
                int length = 0;
                int read;
                while (length < buffer.Length && (read = await body.ReadAsync(buffer.AsMemory(length), cancellationToken).ConfigureAwait(false)) > 0)
                {
                    length += read;
                }
                return System.Text.Encoding.UTF8.GetString(buffer, 0, length).Trim();
            }
        }
        catch (Exception e) when (e is HttpRequestException or IOException or OperationCanceledException)
        {
            return $"(body unreadable: {e.Message})";
        }
    }

    private sealed class PeerFailedException(PeerFailureKind kind, string message) : Exception(message)
    {
        public PeerFailureKind Kind { get; } = kind;
    }
}
