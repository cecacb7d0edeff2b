using System.Net;
using System.Net.Sockets;

namespace Pot.Network.Tests;

/// <summary>
/// A loopback TCP relay in front of a server that closes its first <c>connectionsToDrop</c>
/// connections (both sockets) once it has relayed <c>dropAfterBytes</c> bytes from the server: a real
/// dropped TCP connection in the middle of an HTTP/2 response, not just a reset stream.
/// </summary>
public sealed class DroppingTcpRelay : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly Uri _target;
    private readonly long _dropAfterBytes;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private int _connectionsToDrop;

    public DroppingTcpRelay(Uri target, long dropAfterBytes, int connectionsToDrop)
    {
        _target = target;
        _dropAfterBytes = dropAfterBytes;
        _connectionsToDrop = connectionsToDrop;
        _listener.Start();
        BaseAddress = new Uri($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/");
        _accepting = AcceptAsync();
    }

    public Uri BaseAddress { get; }

    public int Connections { get; private set; }

    private async Task AcceptAsync()
    {
        try
        {
            while (true)
            {
                TcpClient client = await _listener.AcceptTcpClientAsync(_stop.Token);
                Connections++;
                bool drop = Interlocked.Decrement(ref _connectionsToDrop) >= 0;
                _ = RelayAsync(client, drop ? _dropAfterBytes : long.MaxValue);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task RelayAsync(TcpClient client, long limit)
    {
        using (client)
        using (var upstream = new TcpClient())
        {
            try
            {
                await upstream.ConnectAsync(_target.Host, _target.Port, _stop.Token);
                NetworkStream toClient = client.GetStream();
                NetworkStream toServer = upstream.GetStream();
                Task up = toClient.CopyToAsync(toServer, _stop.Token);
                Task down = PumpAsync(toServer, toClient, limit);
                await Task.WhenAny(up, down);
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException)
            {
            }
        }
    }

    private async Task PumpAsync(Stream from, Stream to, long limit)
    {
        var buffer = new byte[16 * 1024];
        long relayed = 0;
        while (relayed < limit)
        {
            int read = await from.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, limit - relayed)), _stop.Token);
            if (read == 0)
            {
                return;
            }
            await to.WriteAsync(buffer.AsMemory(0, read), _stop.Token);
            relayed += read;
        }
        // Let the client consume what was relayed before the connection disappears.
        await Task.Delay(400, _stop.Token);
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        await _accepting;
        _stop.Dispose();
    }
}
