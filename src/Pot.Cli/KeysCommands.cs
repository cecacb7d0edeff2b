using System.CommandLine;
using Pot.Commitments;
using Pot.Commitments.Keys;
using Spectre.Console;

namespace Pot.Cli;

/// <summary>The <c>pot keys</c> commands: create and show passphrase-protected Ed25519 key files.</summary>
public static class KeysCommands
{
    /// <summary>Environment variable read for the passphrase when no --passphrase-file is given.</summary>
    public const string PassphraseVariable = "POT_PASSPHRASE";

    /// <summary>Creates the <c>keys</c> command with its subcommands.</summary>
    /// <returns>The command.</returns>
    public static Command Create()
    {
        var keys = new Command("keys", "Create and inspect Ed25519 key files (Argon2id + ChaCha20-Poly1305, see docs/commitments.md).");
        keys.Subcommands.Add(CreateNew());
        keys.Subcommands.Add(CreateShow());
        return keys;
    }

    private static Command CreateNew()
    {
        var output = new Option<FileInfo>("--out") { Description = "Key file to create.", Required = true };
        var passphraseFile = new Option<FileInfo?>("--passphrase-file")
        {
            Description = $"File whose first line is the passphrase. Without it the passphrase comes from ${PassphraseVariable}, or is asked for on the terminal.",
        };
        var memory = new Option<int>("--kdf-memory-kib")
        {
            Description = "Argon2id memory cost in KiB (1024 to 4194304).",
            DefaultValueFactory = _ => KeyFileKdfParameters.Default.MemoryKiB,
        };
        var passes = new Option<int>("--kdf-passes")
        {
            Description = "Argon2id passes (1 to 16).",
            DefaultValueFactory = _ => KeyFileKdfParameters.Default.Passes,
        };
        var force = new Option<bool>("--force") { Description = "Overwrite the key file if it exists." };
        var json = CliSupport.JsonOption();
        var command = new Command("new", "Generate a new Ed25519 key and write it to a passphrase-protected key file.")
        {
            output, passphraseFile, memory, passes, force, json,
        };
        command.SetAction(parse => CliSupport.Run(parse, () =>
        {
            FileInfo file = parse.GetValue(output)!;
            if (file.Exists && !parse.GetValue(force))
            {
                throw new CliUserException($"'{file.FullName}' already exists; pass --force to overwrite it");
            }
            string passphrase = ReadPassphrase(parse.GetValue(passphraseFile), confirm: true);
            using Ed25519Keys key = Ed25519Keys.Generate();
            byte[] contents = KeyFile.Create(key, passphrase, new KeyFileKdfParameters(parse.GetValue(memory), parse.GetValue(passes)));
            CliSupport.WriteOutput(file, contents, parse.GetValue(force));
            WriteInfo(parse, json, file, key.PublicKey, key.Address, KeyFile.ReadInfo(contents).Kdf);
            return 0;
        }));
        return command;
    }

    private static Command CreateShow()
    {
        var keyFile = new Option<FileInfo>("--key") { Description = "Key file to read.", Required = true };
        var check = new Option<bool>("--check-passphrase")
        {
            Description = $"Also decrypt the private key to prove the passphrase opens it (passphrase from --passphrase-file, else ${PassphraseVariable}, else a terminal prompt). A wrong passphrase exits with code 2.",
        };
        var passphraseFile = new Option<FileInfo?>("--passphrase-file") { Description = "With --check-passphrase: file whose first line is the passphrase." };
        var json = CliSupport.JsonOption();
        var command = new Command("show", "Print the public key, address and KDF costs of a key file (no passphrase needed unless --check-passphrase).")
        {
            keyFile, check, passphraseFile, json,
        };
        command.SetAction(parse => CliSupport.Run(parse, () =>
        {
            FileInfo file = parse.GetValue(keyFile)!;
            byte[] contents = CliSupport.ReadInput(file, "key file", KeyFile.MaxFileBytes);
            KeyFileInfo info = KeyFile.ReadInfo(contents);
            if (parse.GetValue(check))
            {
                // Throws PotFormatException ("the passphrase is wrong or the file was modified") on a bad passphrase.
                using Ed25519Keys opened = KeyFile.Open(contents, ReadPassphrase(parse.GetValue(passphraseFile), confirm: false));
            }
            else if (parse.GetValue(passphraseFile) is not null)
            {
                throw new CliUserException("--passphrase-file is only used with --check-passphrase");
            }
            WriteInfo(parse, json, file, info.PublicKey, info.Address, info.Kdf);
            return 0;
        }));
        return command;
    }

    private static void WriteInfo(ParseResult parse, Option<bool> json, FileInfo file, byte[] publicKey, string address, KeyFileKdfParameters kdf)
    {
        if (parse.GetValue(json))
        {
            CliSupport.WriteJson(parse, w =>
            {
                w.WriteStartObject();
                w.WriteString("file", file.FullName);
                w.WriteString("address", address);
                w.WriteString("publicKey", Hex.Encode(publicKey));
                w.WriteNumber("kdfMemoryKiB", kdf.MemoryKiB);
                w.WriteNumber("kdfPasses", kdf.Passes);
                w.WriteEndObject();
            });
            return;
        }
        var table = new Table().AddColumn("field").AddColumn("value");
        table.AddRow("file", Markup.Escape(file.FullName));
        table.AddRow("address", address);
        table.AddRow("public key", Hex.Encode(publicKey));
        table.AddRow("kdf", $"argon2id, {kdf.MemoryKiB} KiB, {kdf.Passes} passes");
        CliSupport.Console(parse).Write(table);
    }

    private static string ReadPassphrase(FileInfo? passphraseFile, bool confirm)
    {
        string? passphrase;
        if (passphraseFile is not null)
        {
            if (!passphraseFile.Exists)
            {
                throw new CliUserException($"passphrase file '{passphraseFile.FullName}' does not exist");
            }
            // The first line only, so a trailing newline written by an editor is not part of the passphrase.
            passphrase = File.ReadLines(passphraseFile.FullName).FirstOrDefault();
        }
        else
        {
            passphrase = Environment.GetEnvironmentVariable(PassphraseVariable);
            if (passphrase is null)
            {
                if (Console.IsInputRedirected)
                {
                    throw new CliUserException($"no passphrase: pass --passphrase-file or set {PassphraseVariable} (input is not a terminal, so it cannot be asked for)");
                }
                passphrase = AnsiConsole.Prompt(new TextPrompt<string>("Passphrase:").Secret());
                if (confirm && AnsiConsole.Prompt(new TextPrompt<string>("Repeat passphrase:").Secret()) != passphrase)
                {
                    throw new CliUserException("the two passphrases differ");
                }
            }
        }
        if (string.IsNullOrEmpty(passphrase))
        {
            throw new CliUserException("the passphrase is empty; an empty passphrase would leave the key unprotected");
        }
        return passphrase;
    }
}
