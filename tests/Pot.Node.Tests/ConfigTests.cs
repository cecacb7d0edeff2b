using Pot.Consensus;

namespace Pot.Node.Tests;

public sealed class ConfigTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "pot-node-config-" + Guid.NewGuid().ToString("N")[..8]);

    public ConfigTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private int _files;

    private string Write(string json)
    {
        string path = Path.Combine(_dir, $"node-{_files++}.json");
        File.WriteAllText(path, json);
        return path;
    }

    private const string Minimal = """{ "DataDir": "data", "Genesis": "genesis.json", "KeyFile": "k.json", "ViewTimeoutMs": 700 }""";

    // Proves the layering order file → environment (POT_) → --set, and that relative paths resolve against the file.
    [Fact]
    public void LayersFileThenEnvironmentThenCommandLine()
    {
        string file = Write(Minimal);
        var c = NodeConfig.Load(file, [], new Dictionary<string, string>());
        Assert.Equal(700, c.ViewTimeoutMs);
        Assert.Equal(Path.Combine(_dir, "data"), c.DataDir);
        var env = new Dictionary<string, string> { ["POT_ViewTimeoutMs"] = "800", ["POT_BatchDelayMs"] = "7", ["POT_PASSPHRASE"] = "secret", ["HOME"] = "/x" };
        c = NodeConfig.Load(file, [], env);
        Assert.Equal(800, c.ViewTimeoutMs);
        Assert.Equal(7, c.BatchDelayMs);
        c = NodeConfig.Load(file, ["ViewTimeoutMs=900"], env);
        Assert.Equal(900, c.ViewTimeoutMs);
        Assert.Equal("secret", c.ReadPassphrase(env));
    }

    // Proves unknown keys from every layer, bad values and missing required keys are refused with the key named.
    [Fact]
    public void RejectsUnknownKeysAndBadValues()
    {
        string file = Write("""{ "DataDir": "d", "Genesis": "g", "KeyFile": "k", "ViewTimeoutMS": 5, "Viewtimeout": 1 }""");
        var ex = Assert.Throws<NodeConfigException>(() => NodeConfig.Load(file, [], new Dictionary<string, string>()));
        Assert.Contains("unknown configuration key 'Viewtimeout'", ex.Message);
        file = Write(Minimal);
        ex = Assert.Throws<NodeConfigException>(() => NodeConfig.Load(file, [], new Dictionary<string, string> { ["POT_Consensus__Bogus"] = "1" }));
        Assert.Contains("'Consensus:Bogus'", ex.Message);
        ex = Assert.Throws<NodeConfigException>(() => NodeConfig.Load(file, ["Nope=1"], new Dictionary<string, string>()));
        Assert.Contains("'Nope'", ex.Message);
        ex = Assert.Throws<NodeConfigException>(() => NodeConfig.Load(file, ["ViewTimeoutMs=-3"], new Dictionary<string, string>()));
        Assert.Contains("'ViewTimeoutMs' = '-3'", ex.Message);
        ex = Assert.Throws<NodeConfigException>(() => NodeConfig.Load(file, ["Peers:potabc=ftp://x"], new Dictionary<string, string>()));
        Assert.Contains("Peers:potabc", ex.Message);
        ex = Assert.Throws<NodeConfigException>(() => NodeConfig.Load(Write("""{ "Genesis": "g", "KeyFile": "k" }"""), [], new Dictionary<string, string>()));
        Assert.Contains("'DataDir' is required", ex.Message);
        ex = Assert.Throws<NodeConfigException>(() => NodeConfig.Load(Write("{ not json"), [], new Dictionary<string, string>()));
        Assert.Contains("not valid JSON", ex.Message);
        ex = Assert.Throws<NodeConfigException>(() => NodeConfig.Load(file, ["CheckpointInterval=5"], new Dictionary<string, string>()));
        Assert.Contains("multiple of CheckpointInterval", ex.Message);
        ex = Assert.Throws<NodeConfigException>(() => NodeConfig.Load(file, ["Byzantine=lie"], new Dictionary<string, string>()));
        Assert.Contains("'Byzantine' = 'lie'", ex.Message);
        Assert.Equal("", NodeConfig.Load(file, [], new Dictionary<string, string>()).Byzantine);
        Assert.Equal("equivocate", NodeConfig.Load(file, ["Byzantine=Equivocate"], new Dictionary<string, string>()).Byzantine);
        ex = Assert.Throws<NodeConfigException>(() => NodeConfig.Load(file, ["ChunkPeers=http://127.0.0.1:1,ftp://x"], new Dictionary<string, string>()));
        Assert.Contains("'ChunkPeers' entry 'ftp://x'", ex.Message);
        ex = Assert.Throws<NodeConfigException>(() => NodeConfig.Load(file, ["EmptyBlockIntervalMs=-1"], new Dictionary<string, string>()));
        Assert.Contains("'EmptyBlockIntervalMs' = '-1'", ex.Message);
        var ok = NodeConfig.Load(file, ["Task=tiny", "TaskInnerSteps=4", "Byzantine=equivocate", "ChunkPeers=http://127.0.0.1:1/, http://127.0.0.1:2", "EmptyBlockIntervalMs=250"], new Dictionary<string, string>());
        Assert.Equal(("tiny", 4, "equivocate", 250L), (ok.Task, ok.TaskInnerSteps, ok.Byzantine, ok.EmptyBlockIntervalMs));
        Assert.Equal(["http://127.0.0.1:1", "http://127.0.0.1:2"], ok.ChunkPeers);
        ex = Assert.Throws<NodeConfigException>(() => Pot.Node.Training.NodeTasks.FromConfig(ok with { Task = "no-such-task" }));
        Assert.Contains("'Task' = 'no-such-task'", ex.Message);
        Assert.Equal(0, Pot.Node.Training.NodeTasks.FromConfig(ok)!.ScheduleRounds);
        var scheduled = NodeConfig.Load(file, ["Task=tiny", "TaskScheduleRounds=25"], new Dictionary<string, string>());
        Assert.Equal(25, Pot.Node.Training.NodeTasks.FromConfig(scheduled)!.ScheduleRounds);
        ex = Assert.Throws<NodeConfigException>(() => NodeConfig.Load(file, ["Task=tiny", "TaskScheduleRounds=-1"], new Dictionary<string, string>()));
        Assert.Contains("'TaskScheduleRounds' = '-1'", ex.Message);
        Assert.False(Pot.Node.Training.NodeTasks.FromConfig(ok)!.CarryOptimizer);
        var carrying = NodeConfig.Load(file, ["Task=tiny", "TaskCarryOptimizer=True"], new Dictionary<string, string>());
        Assert.True(Pot.Node.Training.NodeTasks.FromConfig(carrying)!.CarryOptimizer);
        ex = Assert.Throws<NodeConfigException>(() => NodeConfig.Load(file, ["Task=tiny", "TaskCarryOptimizer=yes"], new Dictionary<string, string>()));
        Assert.Contains("'TaskCarryOptimizer' = 'yes': expected true or false", ex.Message);
    }

    // Proves every persist-record kind survives the consensus log on RocksDB across a reopen, and a flipped byte is detected.
    [Fact]
    public void ConsensusLogRoundTripsAndDetectsCorruption()
    {
        string path = Path.Combine(_dir, "log");
        using var signer = new Ed25519ConsensusSigner(1, new byte[32]);
        var pp = new PrePrepare { Sender = 1, View = 2, Height = 3, Digest = new byte[32], Payload = [1, 2, 3] }.SignWith(signer);
        var prep = new Prepare { Sender = 1, View = 2, Height = 3, Digest = new byte[32] }.SignWith(signer);
        var cp = new Checkpoint { Sender = 1, Height = 8, StateDigest = new byte[32] }.SignWith(signer);
        PersistRecord[] records =
        [
            new VoteRecord(2, 3, VotePhase.Commit, new byte[32], new PreparedCertificate { PrePrepare = pp, Prepares = [prep] }),
            new VoteRecord(2, 4, VotePhase.Prepare, [9], null),
            new ViewRecord(5, true),
            new BlockRecord(3, [4, 5, 6]),
            new CheckpointRecord(8, new byte[32], [cp]),
        ];
        using (var log = ConsensusLog.Open(path))
        {
            foreach (var r in records) log.Append(r);
        }
        using (var log = ConsensusLog.Open(path))
        {
            Assert.Equal(records.Length, log.Records.Count);
            for (int i = 0; i < records.Length; i++) Assert.Equal(ConsensusLog.Encode(records[i]), ConsensusLog.Encode(log.Records[i]));
        }
        byte[] body = ConsensusLog.Encode(records[3]);
        Assert.Throws<InvalidDataException>(() => ConsensusLog.Decode([.. body, 0]));
        body[0] = 99;
        Assert.Throws<InvalidDataException>(() => ConsensusLog.Decode(body));
    }
}
