using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Pot.Chain.State;
using Pot.Commitments;
using Pot.Learning.Training;
using Pot.Protocol;
using Pot.Storage;

namespace Pot.Node;

/// <summary>
/// The model download route of the user API (docs/model-export.md): <c>GET /api/task/{id}/model?height=H</c> answers
/// the task's model at height H (default: the head) as a safetensors file with nanoGPT tensor names, built from the
/// model blob the node's chunk store holds under the chain's model root. The node serves only a blob whose
/// recomputed root equals that root. Same host, rate limit and error shape (<c>{"error": …}</c>) as the other
/// <c>/api</c> routes; at most <see cref="MaxConcurrentDownloads"/> models are built at a time (503 beyond).
/// </summary>
public static class ModelRoutes
{
    /// <summary>Models built concurrently; further requests get 503 with Retry-After.</summary>
    public const int MaxConcurrentDownloads = 2;

    /// <summary>Maps the route on the API endpoint.</summary>
    /// <param name="app">The node's application.</param>
    /// <param name="core">The node.</param>
    /// <param name="chunks">The node's chunk store (model blobs are named by their model root).</param>
    /// <param name="apiPort">Port of the API endpoint.</param>
    public static void Map(WebApplication app, NodeCore core, ChunkStore chunks, int apiPort)
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(core);
        ArgumentNullException.ThrowIfNull(chunks);
        var rpc = new RpcMethods(core);
        var gate = new SemaphoreSlim(MaxConcurrentDownloads, MaxConcurrentDownloads);
        app.MapGet("/api/task/{id}/model", async (HttpContext ctx, string id) =>
        {
            const string route = "GET /api/task/{id}/model";
            if (!gate.Wait(0))
            {
                core.Metrics.Rejected.WithLabels("/api/task/model", "busy").Inc();
                ctx.Response.Headers.RetryAfter = "1";
                await Problem(ctx, StatusCodes.Status503ServiceUnavailable, $"{MaxConcurrentDownloads} model downloads are already being served; retry later").ConfigureAwait(false);
                return;
            }
            try
            {
                var (status, error, body, root, height) = Build(core, rpc, chunks, id, ctx.Request.Query.TryGetValue("height", out var h) ? h.ToString() : null);
                core.Metrics.RpcCalls.WithLabels(route, body is null ? "error" : "ok").Inc();
                if (body is null)
                {
                    await Problem(ctx, status, error!).ConfigureAwait(false);
                    return;
                }
                ctx.Response.ContentType = "application/octet-stream";
                ctx.Response.ContentLength = body.Length;
                ctx.Response.Headers["X-Pot-Model-Root"] = root;
                ctx.Response.Headers["X-Pot-Height"] = height.ToString(CultureInfo.InvariantCulture);
                ctx.Response.Headers.ContentDisposition = $"attachment; filename=\"task{id}-h{height}.safetensors\"";
                await ctx.Response.Body.WriteAsync(body, ctx.RequestAborted).ConfigureAwait(false);
            }
            finally
            {
                gate.Release();
            }
        }).RequireHost($"*:{apiPort}").RequireRateLimiting("api");
    }

    /// <summary>Builds the answer: (status, error, body, root, height); body is null on error.</summary>
    private static (int Status, string? Error, byte[]? Body, string Root, ulong Height) Build(NodeCore core, RpcMethods rpc, ChunkStore chunks, string id, string? height)
    {
        JsonObject at;
        try
        {
            JsonElement[] args = height is null
                ? [JsonSerializer.SerializeToElement(id)]
                : [JsonSerializer.SerializeToElement(id), JsonSerializer.SerializeToElement(height)];
            at = (JsonObject)rpc.Invoke("pot_getModelRoot", args)!;
        }
        catch (RpcException ex)
        {
            return (ex.Code == RpcException.NotFound ? 404 : 400, ex.Message, null, "", 0);
        }
        ulong taskId = (ulong)at["taskId"]!;
        ulong atHeight = (ulong)at["height"]!;
        string rootHex = (string)at["modelRoot"]!;
        byte[] root = Hex.Decode(rootHex, "model root", 32);
        byte[]? spec = core.Read(v => StateAccess.TaskInfo(v.Store.Ledger.State, taskId)?.ModelSpec);
        if (spec is null)
        {
            return (404, $"no task {taskId}", null, rootHex, atHeight);
        }
        TrainingConfig config;
        try
        {
            config = TaskModelSpec.Resolve(spec);
        }
        catch (Exception ex) when (ex is ArgumentException or Pot.Learning.Data.DataSetUnavailableException or Pot.Learning.Data.DataFormatException)
        {
            return (422, $"task {taskId}: cannot name the model's tensors: {ex.Message}", null, rootHex, atHeight);
        }
        long count = ModelExport.ParameterCount(ModelExport.Layout(config));
        if (count > ModelExport.MaxParameters)
        {
            return (422, $"task {taskId}: the model has {count} values; this node serves at most {ModelExport.MaxParameters}", null, rootHex, atHeight);
        }
        byte[]? blob;
        try
        {
            blob = chunks.TryGetNamed(root);
        }
        catch (ChunkCorruptedException ex)
        {
            return (404, $"this node's copy of the model {rootHex} of task {taskId} at height {atHeight} is corrupted ({ex.Message})", null, rootHex, atHeight);
        }
        if (blob is null)
        {
            return (404, $"this node does not hold the model {rootHex} of task {taskId} at height {atHeight}; ask a node that stores it", null, rootHex, atHeight);
        }
        if (blob.Length != count * 4)
        {
            return (404, $"this node's blob for model {rootHex} has {blob.Length} bytes; the {config.Task} model needs {count * 4}; it does not hold a valid copy", null, rootHex, atHeight);
        }
        float[] model = new float[count];
        for (int i = 0; i < model.Length; i++)
        {
            model[i] = System.Buffers.Binary.BinaryPrimitives.ReadSingleLittleEndian(blob.AsSpan(i * 4, 4));
        }
        if (ModelExport.Root(model) != rootHex)
        {
            return (404, $"this node's blob stored under model root {rootHex} does not hash to that root; it does not hold a valid copy of task {taskId}'s model at height {atHeight}", null, rootHex, atHeight);
        }
        using var buffer = new MemoryStream(checked((int)Math.Min(int.MaxValue, count * 4 + 64 * 1024)));
        ModelExport.WriteSafetensors(buffer, config, model, new Dictionary<string, string>
        {
            ["pot.chainId"] = core.ChainId,
            ["pot.taskId"] = taskId.ToString(CultureInfo.InvariantCulture),
            ["pot.height"] = atHeight.ToString(CultureInfo.InvariantCulture),
        });
        return (200, null, buffer.ToArray(), rootHex, atHeight);
    }

    private static Task Problem(HttpContext ctx, int status, string message)
    {
        if (ctx.Response.HasStarted)
        {
            return Task.CompletedTask;
        }
        ctx.Response.StatusCode = status;
        return ctx.Response.WriteAsJsonAsync(new JsonObject { ["error"] = message });
    }
}
