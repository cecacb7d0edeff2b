using System.Text;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Microsoft.AspNetCore.Http;
using Pot.Commitments;

namespace Pot.Node;

/// <summary>
/// Server-sent events for committed blocks (<c>GET /api/events</c>, used by the dashboard). Hosted as
/// the first <see cref="INodeRole"/> of the node: <see cref="OnCommittedAsync"/> formats one JSON event
/// per committed block and offers it to every connected client without waiting (each client has a
/// bounded queue that drops its oldest events when the client is slow), so a slow browser never holds
/// up the node or the protocol roles behind it. The number of clients is bounded; a client beyond the
/// bound is answered 503.
/// </summary>
public sealed class BlockEvents : INodeRole
{
    /// <summary>Default bound on concurrent event-stream clients.</summary>
    public const int DefaultMaxClients = 16;

    /// <summary>Events buffered per client before its oldest are dropped.</summary>
    public const int ClientQueue = 64;

    /// <summary>Seconds between keep-alive comments on an idle stream.</summary>
    public const int KeepAliveSeconds = 15;

    private readonly object _gate = new();
    private readonly HashSet<Channel<string>> _clients = [];
    private long _sequence;

    /// <summary>Creates the hub.</summary>
    /// <param name="maxClients">Bound on concurrent clients (at least 1).</param>
    public BlockEvents(int maxClients = DefaultMaxClients)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxClients, 1);
        MaxClients = maxClients;
    }

    /// <summary>Bound on concurrent clients.</summary>
    public int MaxClients { get; }

    /// <summary>Clients connected now.</summary>
    public int ClientCount
    {
        get
        {
            lock (_gate) return _clients.Count;
        }
    }

    /// <inheritdoc />
    public string Name => "events";

    /// <inheritdoc />
    public Task StartAsync(INodeApi node, CancellationToken cancellation) => Task.CompletedTask;

    /// <inheritdoc />
    public Task OnCommittedAsync(CommittedBlock block, CancellationToken cancellation)
    {
        Publish(Format(block));
        return Task.CompletedTask;
    }

    /// <summary>The JSON of a block event: height, hash, transaction count, block time (ms since the epoch), signer count of the certificate.</summary>
    /// <param name="block">The committed block.</param>
    /// <returns>The event object.</returns>
    public static JsonObject Format(CommittedBlock block) => new()
    {
        ["type"] = "block",
        ["height"] = block.Block.Header.Height,
        ["hash"] = Hex.Encode(block.Block.Hash),
        ["txCount"] = block.Block.Transactions.Count,
        ["timeMs"] = block.Block.Header.TimeMs,
        ["certificateSigners"] = block.Certificate.Signatures.Count,
    };

    /// <summary>Offers an event to every client (never blocks).</summary>
    /// <param name="data">Event object.</param>
    public void Publish(JsonObject data)
    {
        long id = Interlocked.Increment(ref _sequence);
        string frame = $"id: {id}\nevent: {data["type"]?.GetValue<string>() ?? "message"}\ndata: {data.ToJsonString()}\n\n";
        lock (_gate)
        {
            foreach (var c in _clients) c.Writer.TryWrite(frame);
        }
    }

    /// <summary>Serves one event stream until the client goes away or the node stops.</summary>
    /// <param name="ctx">The request.</param>
    /// <param name="hello">First event (the current head), sent on connect.</param>
    /// <param name="stopping">Ends the stream when the node stops.</param>
    /// <returns>Completion.</returns>
    public async Task ServeAsync(HttpContext ctx, JsonObject hello, CancellationToken stopping)
    {
        var channel = Channel.CreateBounded<string>(new BoundedChannelOptions(ClientQueue) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });
        bool full;
        lock (_gate)
        {
            full = _clients.Count >= MaxClients;
            if (!full) _clients.Add(channel);
        }
        if (full)
        {
            ctx.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            ctx.Response.Headers.RetryAfter = "5";
            ctx.Response.ContentType = "application/json";
            await ctx.Response.WriteAsync(new JsonObject { ["error"] = $"too many event-stream clients (at most {MaxClients}); retry later" }.ToJsonString()).ConfigureAwait(false);
            return;
        }
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted, stopping);
        try
        {
            ctx.Response.ContentType = "text/event-stream";
            ctx.Response.Headers.CacheControl = "no-cache";
            ctx.Response.Headers["X-Accel-Buffering"] = "no";
            var token = linked.Token;
            await WriteAsync(ctx, $"retry: 2000\nevent: hello\ndata: {hello.ToJsonString()}\n\n", token).ConfigureAwait(false);
            while (!token.IsCancellationRequested)
            {
                using var wait = CancellationTokenSource.CreateLinkedTokenSource(token);
                wait.CancelAfter(TimeSpan.FromSeconds(KeepAliveSeconds));
                bool ready;
                try
                {
                    ready = await channel.Reader.WaitToReadAsync(wait.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!token.IsCancellationRequested)
                {
                    await WriteAsync(ctx, ": keep-alive\n\n", token).ConfigureAwait(false);
                    continue;
                }
                if (!ready) break;
                while (channel.Reader.TryRead(out var frame)) await WriteAsync(ctx, frame, token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (IOException)
        {
        }
        finally
        {
            lock (_gate) _clients.Remove(channel);
        }
    }

    private static async Task WriteAsync(HttpContext ctx, string text, CancellationToken token)
    {
        await ctx.Response.Body.WriteAsync(Encoding.UTF8.GetBytes(text), token).ConfigureAwait(false);
        await ctx.Response.Body.FlushAsync(token).ConfigureAwait(false);
    }
}
