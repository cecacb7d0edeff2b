using System.Buffers;
using System.Net;
using System.Text.Json;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Pot.Storage;

namespace Pot.Network;

/// <summary>
/// Maps the chunk endpoints onto an ASP.NET Core application:
/// <c>GET|HEAD {prefix}/{sha256hex}</c> (single byte ranges) and <c>POST {prefix}/have</c>.
/// </summary>
/// <remarks>
/// Wiring (see docs/network.md): <c>services.AddChunkRateLimiting(options, metrics)</c>, then
/// <c>app.UseRateLimiter()</c> and <c>app.MapChunkEndpoints(store, options, metrics)</c>. Every read
/// goes through <see cref="ChunkStore.TryGet"/>, which re-hashes the chunk, so a chunk damaged on disk
/// is answered with 500 and never sent.
/// </remarks>
public static class ChunkEndpoints
{
    /// <summary>Name of the rate limiting policy the endpoints require.</summary>
    public const string RateLimitPolicyName = "pot-chunks";

    private const string TextPlain = "text/plain; charset=utf-8";

    /// <summary>
    /// Registers the per-remote-IP token bucket policy <see cref="RateLimitPolicyName"/>. The
    /// application must also call <c>app.UseRateLimiter()</c>; rejections get 429 and are counted.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="options">The limits (validated here).</param>
    /// <param name="metrics">Counters to update on rejection.</param>
    /// <returns>The service collection.</returns>
    public static IServiceCollection AddChunkRateLimiting(this IServiceCollection services, ChunkServerOptions options, ChunkServerMetrics metrics)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(metrics);
        options.Validate();
        var policy = new ChunkRateLimitPolicy(options, metrics);
        services.AddRateLimiter(limiter => limiter.AddPolicy(RateLimitPolicyName, policy));
        services.AddSingleton<ChunkRateLimitingRegistered>();
        return services;
    }

    /// <summary>Maps <c>GET|HEAD {prefix}/{id}</c> and <c>POST {prefix}/have</c>, rate limited by <see cref="RateLimitPolicyName"/>.</summary>
    /// <param name="endpoints">The application or route builder.</param>
    /// <param name="store">The chunk store served (read only: the endpoints never write to it).</param>
    /// <param name="options">The limits (validated here).</param>
    /// <param name="metrics">Counters updated by every request.</param>
    /// <returns>The route group, for further conventions (authorization, host filters).</returns>
    public static RouteGroupBuilder MapChunkEndpoints(this IEndpointRouteBuilder endpoints, ChunkStore store, ChunkServerOptions options, ChunkServerMetrics metrics)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(metrics);
        options.Validate();
        if (endpoints.ServiceProvider.GetService<ChunkRateLimitingRegistered>() is null)
        {
            throw new InvalidOperationException($"the chunk endpoints require the rate limiting policy '{RateLimitPolicyName}': call services.AddChunkRateLimiting(options, metrics) when building the host, and app.UseRateLimiter()");
        }
        RouteGroupBuilder group = endpoints.MapGroup(options.PathPrefix);
        group.RequireRateLimiting(RateLimitPolicyName);
        VerifiedChunkCache? cache = options.VerifiedCacheBytes > 0 && options.VerifiedCacheLifetime > TimeSpan.Zero
            ? new VerifiedChunkCache(options.VerifiedCacheBytes, options.VerifiedCacheLifetime, TimeProvider.System)
            : null;
        group.MapMethods("/{id}", [HttpMethods.Get, HttpMethods.Head], context => ServeChunkAsync(context, store, cache, metrics));
        group.MapPost("/have", context => HaveAsync(context, store, options, metrics));
        return group;
    }

    private static async Task ServeChunkAsync(HttpContext context, ChunkStore store, VerifiedChunkCache? cache, ChunkServerMetrics metrics)
    {
        if (context.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody == true)
        {
            await RejectAsync(context, metrics, ChunkRejectReason.TooLarge, StatusCodes.Status413PayloadTooLarge, "a chunk request takes no body");
            return;
        }
        string? id = context.Request.RouteValues["id"] as string;
        if (!ChunkId.TryParse(id, out byte[]? hash, out string? idError))
        {
            await RejectAsync(context, metrics, ChunkRejectReason.Malformed, StatusCodes.Status400BadRequest, idError!);
            return;
        }
        // Reject a malformed Range before reading (and hashing) the chunk from disk.
        var rangeHeader = context.Request.Headers.Range;
        if (rangeHeader.Count > 1)
        {
            await RejectAsync(context, metrics, ChunkRejectReason.Malformed, StatusCodes.Status400BadRequest, "only one Range header is allowed");
            return;
        }
        if (rangeHeader.Count == 1 && ByteRange.Parse(rangeHeader[0], long.MaxValue, out _, out _, out string? syntaxError) == RangeParse.Malformed)
        {
            await RejectAsync(context, metrics, ChunkRejectReason.Malformed, StatusCodes.Status400BadRequest, syntaxError!);
            return;
        }
        byte[]? data = cache?.TryGet(id!);
        bool fromDisk = data is null;
        try
        {
            if (data is not null)
            {
                metrics.CountCacheHit();
            }
            else if (!store.TryGet(hash, out data))
            {
                await RejectAsync(context, metrics, ChunkRejectReason.NotFound, StatusCodes.Status404NotFound, $"chunk {id} is not stored here");
                return;
            }
        }
        catch (ChunkCorruptedException e)
        {
            await RejectAsync(context, metrics, ChunkRejectReason.Corrupted, StatusCodes.Status500InternalServerError, e.Message);
            return;
        }
        catch (ObjectDisposedException)
        {
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            context.Response.ContentType = TextPlain;
            await context.Response.WriteAsync("the chunk store is closed (node shutting down)\n");
            return;
        }

        HttpResponse response = context.Response;
        response.Headers.AcceptRanges = "bytes";
        response.Headers.ETag = "\"" + id + "\"";
        response.Headers.CacheControl = "public, max-age=31536000, immutable";
        RangeParse outcome = ByteRange.Parse(rangeHeader.Count == 0 ? null : rangeHeader[0], data!.Length, out long offset, out long count, out string? rangeError);
        switch (outcome)
        {
            case RangeParse.Malformed:
                await RejectAsync(context, metrics, ChunkRejectReason.Malformed, StatusCodes.Status400BadRequest, rangeError!);
                return;
            case RangeParse.NotSatisfiable:
                response.Headers.ContentRange = $"bytes */{data.Length}";
                await RejectAsync(context, metrics, ChunkRejectReason.RangeNotSatisfiable, StatusCodes.Status416RangeNotSatisfiable, rangeError!);
                return;
            case RangeParse.Satisfiable:
                if (fromDisk && count < data.Length)
                {
                    // A partial read: the rest of the chunk is probably asked for next.
                    cache?.Add(id!, data);
                }
                response.StatusCode = StatusCodes.Status206PartialContent;
                response.Headers.ContentRange = $"bytes {offset}-{offset + count - 1}/{data.Length}";
                break;
            default:
                response.StatusCode = StatusCodes.Status200OK;
                break;
        }
        response.ContentType = "application/octet-stream";
        response.ContentLength = count;
        bool isHead = HttpMethods.IsHead(context.Request.Method);
        metrics.CountServed(isHead ? 0 : count);
        if (!isHead && count > 0)
        {
            try
            {
                await response.Body.WriteAsync(data.AsMemory((int)offset, (int)count), context.RequestAborted);
            }
            catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
            {
                // The client went away; nothing to report to it.
            }
        }
    }

    private static async Task HaveAsync(HttpContext context, ChunkStore store, ChunkServerOptions options, ChunkServerMetrics metrics)
    {
        int limit = options.MaxHaveRequestBytes;
        if (context.Request.ContentLength > limit)
        {
            await RejectAsync(context, metrics, ChunkRejectReason.TooLarge, StatusCodes.Status413PayloadTooLarge, $"body of {context.Request.ContentLength} bytes; at most {limit}");
            return;
        }
        IHttpMaxRequestBodySizeFeature? sizeFeature = context.Features.Get<IHttpMaxRequestBodySizeFeature>();
        if (sizeFeature is { IsReadOnly: false })
        {
            sizeFeature.MaxRequestBodySize = limit;
        }
        // Read at most limit + 1 bytes ourselves so the limit holds even without a Content-Length.
        byte[] buffer = ArrayPool<byte>.Shared.Rent(limit + 1);
        try
        {
            int length = 0;
            try
            {
                int read;
                while (length <= limit && (read = await context.Request.Body.ReadAsync(buffer.AsMemory(length, limit + 1 - length), context.RequestAborted)) > 0)
                {
                    length += read;
                }
            }
            catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
            {
                length = limit + 1;
            }
            if (length > limit)
            {
                await RejectAsync(context, metrics, ChunkRejectReason.TooLarge, StatusCodes.Status413PayloadTooLarge, $"body over {limit} bytes");
                return;
            }
            if (!TryParseHaveRequest(buffer.AsMemory(0, length), options.MaxHaveHashes, out List<byte[]>? hashes, out int status, out string? error))
            {
                ChunkRejectReason reason = status == StatusCodes.Status413PayloadTooLarge ? ChunkRejectReason.TooLarge : ChunkRejectReason.Malformed;
                await RejectAsync(context, metrics, reason, status, error!);
                return;
            }
            var output = new ArrayBufferWriter<byte>();
            using (var writer = new Utf8JsonWriter(output))
            {
                writer.WriteStartObject();
                writer.WriteStartArray("have");
                foreach (byte[] hash in hashes!)
                {
                    writer.WriteBooleanValue(store.Contains(hash));
                }
                writer.WriteEndArray();
                writer.WriteEndObject();
            }
            metrics.CountHave();
            context.Response.StatusCode = StatusCodes.Status200OK;
            context.Response.ContentType = "application/json";
            context.Response.ContentLength = output.WrittenCount;
            await context.Response.Body.WriteAsync(output.WrittenMemory, context.RequestAborted);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away.
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Parses <c>{"hashes":["hex",...]}</c>: exactly that member, at most <paramref name="maxHashes"/> ids.</summary>
    internal static bool TryParseHaveRequest(ReadOnlyMemory<byte> body, int maxHashes, out List<byte[]>? hashes, out int status, out string? error)
    {
        hashes = null;
        status = StatusCodes.Status400BadRequest;
        const string shape = "expected a JSON object {\"hashes\": [\"<64 hex>\", ...]}";
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 4 });
        }
        catch (JsonException e)
        {
            error = $"body is not valid JSON ({e.Message}); {shape}";
            return false;
        }
        using (document)
        {
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                error = $"body is a JSON {root.ValueKind}; {shape}";
                return false;
            }
            JsonElement array = default;
            int members = 0;
            foreach (JsonProperty property in root.EnumerateObject())
            {
                members++;
                if (property.Name != "hashes")
                {
                    error = $"unknown member '{property.Name}'; {shape}";
                    return false;
                }
                array = property.Value;
            }
            if (members != 1 || array.ValueKind != JsonValueKind.Array)
            {
                error = $"member 'hashes' must appear once and be an array; {shape}";
                return false;
            }
            int count = array.GetArrayLength();
            if (count > maxHashes)
            {
                status = StatusCodes.Status413PayloadTooLarge;
                error = $"{count} hashes in one request; at most {maxHashes}";
                return false;
            }
            var result = new List<byte[]>(count);
            int index = 0;
            foreach (JsonElement item in array.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.String || !ChunkId.TryParse(item.GetString(), out byte[]? hash, out string? idError))
                {
                    error = $"hashes[{index}]: {(item.ValueKind == JsonValueKind.String ? "" : "not a string; ")}a chunk id is {ChunkId.HexLength} lower-case hex digits";
                    return false;
                }
                result.Add(hash!);
                index++;
            }
            hashes = result;
            error = null;
            return true;
        }
    }

    private static async Task RejectAsync(HttpContext context, ChunkServerMetrics metrics, ChunkRejectReason reason, int status, string message)
    {
        metrics.CountRejected(reason);
        context.Response.StatusCode = status;
        context.Response.ContentType = TextPlain;
        try
        {
            await context.Response.WriteAsync(message + "\n", context.RequestAborted);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away.
        }
    }

    /// <summary>Marker service: <see cref="AddChunkRateLimiting"/> was called.</summary>
    private sealed class ChunkRateLimitingRegistered;

    /// <summary>One token bucket per remote IP address; a rejection is 429 with a text body and is counted.</summary>
    private sealed class ChunkRateLimitPolicy : IRateLimiterPolicy<string>
    {
        private readonly ChunkServerOptions _options;
        private readonly ChunkServerMetrics _metrics;

        public ChunkRateLimitPolicy(ChunkServerOptions options, ChunkServerMetrics metrics)
        {
            _options = options;
            _metrics = metrics;
            OnRejected = RejectAsync;
        }

        public Func<OnRejectedContext, CancellationToken, ValueTask>? OnRejected { get; }

        public RateLimitPartition<string> GetPartition(HttpContext httpContext)
        {
            IPAddress? address = httpContext.Connection.RemoteIpAddress;
            if (address is { IsIPv4MappedToIPv6: true })
            {
                address = address.MapToIPv4();
            }
            string key = address?.ToString() ?? "unknown";
            return RateLimitPartition.GetTokenBucketLimiter(key, _ => new TokenBucketRateLimiterOptions
            {
                TokenLimit = _options.RateLimitTokens,
                TokensPerPeriod = _options.RateLimitTokensPerPeriod,
                ReplenishmentPeriod = _options.RateLimitPeriod,
                QueueLimit = 0,
                AutoReplenishment = true,
            });
        }

        private async ValueTask RejectAsync(OnRejectedContext rejected, CancellationToken cancellationToken)
        {
            _metrics.CountRejected(ChunkRejectReason.RateLimited);
            HttpResponse response = rejected.HttpContext.Response;
            response.StatusCode = StatusCodes.Status429TooManyRequests;
            response.ContentType = TextPlain;
            if (rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out TimeSpan retryAfter))
            {
                response.Headers.RetryAfter = ((int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
            }
            try
            {
                await response.WriteAsync($"rate limit: at most {_options.RateLimitTokens} requests in a burst and {_options.RateLimitTokensPerPeriod} per {_options.RateLimitPeriod.TotalSeconds} s per remote address\n", cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // The client went away.
            }
        }
    }
}
