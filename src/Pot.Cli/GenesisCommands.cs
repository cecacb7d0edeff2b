using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using Pot.Chain;
using Pot.Chain.Genesis;
using Pot.Commitments;
using Pot.Commitments.Keys;
using Spectre.Console;

namespace Pot.Cli;

/// <summary><c>pot genesis new</c> and <c>pot genesis check</c>: write and inspect genesis files.</summary>
public static class GenesisCommands
{
    /// <summary>Creates <c>pot genesis</c> with its subcommands.</summary>
    /// <returns>The command.</returns>
    public static Command Create()
    {
        var genesis = new Command("genesis", "Create and inspect chain genesis files (chain id, validators, accounts, tasks, parameters; format in docs/chain.md).");
        genesis.Subcommands.Add(CreateNew());
        genesis.Subcommands.Add(CreateCheck());
        return genesis;
    }

    private static Command CreateNew()
    {
        var validators = new Option<int>("--validators") { Description = "Number of validators (1 to 256; a PBFT network tolerates f = (n - 1) / 3 faults).", Required = true };
        var output = new Option<string>("--out") { Description = "Path of the genesis JSON file to write.", Required = true };
        var keysDir = new Option<string?>("--keys-dir") { Description = "Directory to write each validator's encrypted key file (validator-<i>.key.json) to; without it the private keys are discarded." };
        var chainId = new Option<string>("--chain-id") { Description = "Chain id: 1 to 64 characters of a-z, 0-9 and '-'.", DefaultValueFactory = _ => "pot-devnet" };
        var stake = new Option<ulong>("--stake") { Description = "Stake of each validator.", DefaultValueFactory = _ => 100_000UL };
        var balance = new Option<ulong>("--balance") { Description = "Spendable balance of each validator.", DefaultValueFactory = _ => 1_000_000_000UL };
        var timeMs = new Option<ulong?>("--time-ms") { Description = "Genesis time in Unix milliseconds (default: now)." };
        var passphraseEnv = new Option<string>("--passphrase-env") { Description = "Environment variable holding the key-file passphrase (needed with --keys-dir).", DefaultValueFactory = _ => "POT_PASSPHRASE" };
        var kdfMemory = new Option<int>("--kdf-memory-kib") { Description = "Argon2id memory of the key files in KiB (1024 to 4194304).", DefaultValueFactory = _ => KeyFileKdfParameters.Default.MemoryKiB };
        var force = new Option<bool>("--force") { Description = "Overwrite existing files." };
        var json = new Option<bool>("--json") { Description = "Print one JSON object with the chain id, genesis hash, state root, validators and files." };
        var command = new Command("new", "Write a valid genesis for a local network: N validators with fresh Ed25519 keys, default parameters, no other accounts or tasks.")
        {
            validators, output, keysDir, chainId, stake, balance, timeMs, passphraseEnv, kdfMemory, force, json,
        };
        command.SetAction(r => CliErrors.Run(() => Wrap(() =>
        {
            int n = r.GetValue(validators);
            if (n < 1 || n > ChainLimits.MaxValidators)
            {
                throw new ArgumentException($"--validators {n}: expected 1 to {ChainLimits.MaxValidators}");
            }
            string outPath = r.GetValue(output)!;
            string? dir = r.GetValue(keysDir);
            bool overwrite = r.GetValue(force);
            if (File.Exists(outPath) && !overwrite)
            {
                throw new IOException($"{outPath} already exists; pass --force to overwrite it");
            }
            string? passphrase = null;
            if (dir is not null)
            {
                string env = r.GetValue(passphraseEnv)!;
                passphrase = Environment.GetEnvironmentVariable(env);
                if (string.IsNullOrEmpty(passphrase))
                {
                    throw new ArgumentException($"--keys-dir needs a passphrase for the key files: set the environment variable {env} (or name another with --passphrase-env)");
                }
            }
            var kdf = new KeyFileKdfParameters(r.GetValue(kdfMemory), KeyFileKdfParameters.Default.Passes);
            var keys = Enumerable.Range(0, n).Select(_ => Ed25519Keys.Generate()).ToArray();
            try
            {
                var doc = new GenesisDocument(r.GetValue(chainId)!, r.GetValue(timeMs) ?? (ulong)DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), new ChainParameters(),
                    keys.Select(k => new GenesisValidator(k.PublicKey, r.GetValue(stake), r.GetValue(balance))).ToArray(), [], []);
                if (doc.Check() is string error)
                {
                    throw new ArgumentException($"the options give an invalid genesis: {error}");
                }
                var (state, header) = doc.Build();
                var keyFiles = new List<string>();
                if (dir is not null)
                {
                    Directory.CreateDirectory(dir);
                    for (int i = 0; i < n; i++)
                    {
                        string path = Path.Combine(dir, $"validator-{i}.key.json");
                        if (File.Exists(path) && !overwrite)
                        {
                            throw new IOException($"{path} already exists; pass --force to overwrite it");
                        }
                        File.WriteAllBytes(path, KeyFile.Create(keys[i], passphrase!, kdf));
                        keyFiles.Add(Path.GetFullPath(path));
                    }
                }
                else
                {
                    Console.Error.WriteLine("warning: no --keys-dir given; the validators' private keys are discarded and this genesis can only be inspected");
                }
                string? parent = Path.GetDirectoryName(Path.GetFullPath(outPath));
                if (parent is not null)
                {
                    Directory.CreateDirectory(parent);
                }
                File.WriteAllBytes(outPath, doc.ToJson());
                Report(doc, header.Hash(), state.Root, Path.GetFullPath(outPath), keyFiles, r.GetValue(json));
                return 0;
            }
            finally
            {
                foreach (var k in keys)
                {
                    k.Dispose();
                }
            }
        })));
        return command;
    }

    private static Command CreateCheck()
    {
        var file = new Argument<string>("file") { Description = "Genesis JSON file." };
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of a table." };
        var command = new Command("check", "Parse a genesis file strictly and print its chain id, genesis hash and state root.") { file, json };
        command.SetAction(r => CliErrors.Run(() => Wrap(() =>
        {
            string path = r.GetValue(file)!;
            var doc = GenesisDocument.Parse(File.ReadAllBytes(path));
            var (state, header) = doc.Build();
            Report(doc, header.Hash(), state.Root, Path.GetFullPath(path), [], r.GetValue(json));
            return 0;
        })));
        return command;
    }

    // The chain library reports bad input as PotFormatException; CliErrors turns FormatException into a one-line error.
    private static int Wrap(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (PotFormatException ex)
        {
            throw new FormatException(ex.Message, ex);
        }
    }

    private static void Report(GenesisDocument doc, byte[] genesisHash, byte[] stateRoot, string file, IReadOnlyList<string> keyFiles, bool json)
    {
        var addresses = doc.Validators.Select(v => AccountAddress.FromPublicKey(v.PublicKey)).ToArray();
        if (json)
        {
            var o = new JsonObject
            {
                ["chainId"] = doc.ChainId,
                ["genesisHash"] = Hex.Encode(genesisHash),
                ["stateRoot"] = Hex.Encode(stateRoot),
                ["genesisTimeMs"] = doc.GenesisTimeMs,
                ["validators"] = new JsonArray(addresses.Select(a => (JsonNode)a).ToArray()),
                ["accounts"] = doc.Accounts.Count,
                ["tasks"] = doc.Tasks.Count,
                ["file"] = file,
                ["keyFiles"] = new JsonArray(keyFiles.Select(k => (JsonNode)k).ToArray()),
            };
            Console.WriteLine(o.ToJsonString());
            return;
        }
        var table = new Table().AddColumn("genesis").AddColumn("value");
        table.AddRow("chain id", Markup.Escape(doc.ChainId));
        table.AddRow("genesis hash", Hex.Encode(genesisHash));
        table.AddRow("state root", Hex.Encode(stateRoot));
        table.AddRow("time (ms)", doc.GenesisTimeMs.ToString(CultureInfo.InvariantCulture));
        table.AddRow("validators", string.Join("\n", addresses));
        table.AddRow("accounts / tasks", $"{doc.Accounts.Count} / {doc.Tasks.Count}");
        table.AddRow("file", Markup.Escape(file));
        foreach (string k in keyFiles)
        {
            table.AddRow("key file", Markup.Escape(k));
        }
        AnsiConsole.Write(table);
    }
}
