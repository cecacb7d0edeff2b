using System.CommandLine;
using System.Globalization;
using System.Text;

namespace Pot.Cli;

/// <summary>
/// <c>pot docs cli</c> (hidden): writes docs/cli.md from the System.CommandLine tree, so the reference
/// cannot drift from the code (a test compares the committed file with <see cref="Generate"/>).
/// Regenerate after changing any command: <c>dotnet run --project src/Pot.Cli -c Release -- docs cli --out docs/cli.md</c>.
/// </summary>
public static class DocsCommands
{
    /// <summary>The command that regenerates the file, quoted in it and in the drift test's message.</summary>
    public const string RegenerateCommand = "dotnet run --project src/Pot.Cli -c Release -- docs cli --out docs/cli.md";

    // Defaults that depend on the machine are described, not printed (the file must be the same everywhere).
    private static readonly Dictionary<string, string> MachineDependentDefaults = new(StringComparer.Ordinal)
    {
        ["--threads"] = "the machine's processor count",
    };

    /// <summary>Creates <c>pot docs</c> (hidden from help and from the generated reference).</summary>
    /// <returns>The command.</returns>
    public static Command Create()
    {
        var output = new Option<string?>("--out") { Description = "File to write (default: standard output)." };
        var cli = new Command("cli", "Write the command-line reference (Markdown) generated from the command tree.") { output };
        cli.SetAction(r =>
        {
            string text = Generate(PotCommand.Build());
            if (r.GetValue(output) is { } path)
            {
                File.WriteAllText(path, text);
                Console.Error.WriteLine($"wrote {path} ({text.Length} characters)");
            }
            else
            {
                Console.Write(text);
            }
            return 0;
        });
        return new Command("docs", "Generate documentation from the code (maintainers).") { Hidden = true, Subcommands = { cli } };
    }

    /// <summary>Renders the reference: one section per visible command, depth first in declaration order, with its arguments and options.</summary>
    /// <param name="root">The root command.</param>
    /// <returns>Markdown text (LF line ends).</returns>
    public static string Generate(RootCommand root)
    {
        ArgumentNullException.ThrowIfNull(root);
        var sb = new StringBuilder();
        sb.Append("# `pot` command-line reference\n\n");
        sb.Append("<!-- Generated from the System.CommandLine tree by `pot docs cli`; do not edit by hand. -->\n");
        sb.Append("<!-- Regenerate: ").Append(RegenerateCommand).Append(" -->\n\n");
        sb.Append(Escape(root.Description ?? "")).Append("\n\n");
        sb.Append("Every command accepts `-h`/`--help`. Exit codes: 0 ok, 2 usage or input error, 1 internal failure. ");
        sb.Append("Long-running commands take `--json` (the last line of standard output is a JSON object).\n\n");
        sb.Append("## Commands\n\n");
        foreach (var (path, command) in Walk(root, "pot")) sb.Append("- [`").Append(path).Append("`](#").Append(Anchor(path)).Append(") — ").Append(FirstSentence(command.Description)).Append('\n');
        sb.Append('\n');
        foreach (var (path, command) in Walk(root, "pot")) Section(sb, path, command);
        return sb.ToString();
    }

    private static IEnumerable<(string Path, Command Command)> Walk(Command command, string path)
    {
        foreach (var sub in command.Subcommands)
        {
            if (sub.Hidden) continue;
            string p = path + " " + sub.Name;
            yield return (p, sub);
            foreach (var x in Walk(sub, p)) yield return x;
        }
    }

    private static void Section(StringBuilder sb, string path, Command command)
    {
        sb.Append("## ").Append(path).Append("\n\n");
        sb.Append(Escape(command.Description ?? "")).Append("\n\n");
        var visibleSubs = command.Subcommands.Where(s => !s.Hidden).ToList();
        var args = command.Arguments.Where(a => !a.Hidden).ToList();
        var options = command.Options.Where(o => !o.Hidden && o is not System.CommandLine.Help.HelpOption && o is not VersionOption).ToList();
        var usage = new StringBuilder(path);
        if (visibleSubs.Count > 0) usage.Append(" <command>");
        foreach (var a in args) usage.Append(" <").Append(a.HelpName ?? a.Name).Append('>');
        if (options.Count > 0) usage.Append(" [options]");
        sb.Append("```\n").Append(usage).Append("\n```\n\n");
        if (visibleSubs.Count > 0)
        {
            sb.Append("Subcommands: ").Append(string.Join(", ", visibleSubs.Select(s => $"[`{s.Name}`](#{Anchor(path + " " + s.Name)})"))).Append(".\n\n");
        }
        if (args.Count > 0)
        {
            sb.Append("| Argument | Description |\n|---|---|\n");
            foreach (var a in args) sb.Append("| `").Append(a.HelpName ?? a.Name).Append("` | ").Append(Cell(a.Description)).Append(" |\n");
            sb.Append('\n');
        }
        if (options.Count > 0)
        {
            sb.Append("| Option | Type | Default | Description |\n|---|---|---|---|\n");
            foreach (var o in options)
            {
                var names = new[] { o.Name }.Concat(o.Aliases.Order(StringComparer.Ordinal)).Distinct();
                sb.Append("| ").Append(string.Join(", ", names.Select(n => "`" + n + "`"))).Append(" | ").Append(TypeName(o.ValueType)).Append(" | ")
                    .Append(Default(o)).Append(" | ").Append(Cell(o.Description)).Append(" |\n");
            }
            sb.Append('\n');
        }
    }

    private static string Default(Option o)
    {
        if (o.Required) return "required";
        if (MachineDependentDefaults.TryGetValue(o.Name, out var text)) return text;
        if (!o.HasDefaultValue) return o.ValueType == typeof(bool) ? "false" : "—";
        object? value = o.GetDefaultValue();
        return value switch
        {
            null => "—",
            string { Length: 0 } => "(empty)",
            string s => "`" + s.Replace("|", "\\|", StringComparison.Ordinal) + "`",
            bool b => b ? "true" : "false",
            IFormattable f => "`" + f.ToString(null, CultureInfo.InvariantCulture) + "`",
            System.Collections.IEnumerable e => "`" + string.Join(" ", e.Cast<object>()) + "`",
            _ => "`" + value + "`",
        };
    }

    private static string TypeName(Type t)
    {
        if (Nullable.GetUnderlyingType(t) is { } u) return TypeName(u);
        if (t.IsArray) return TypeName(t.GetElementType()!) + "…";
        if (t.IsEnum) return string.Join(" \\| ", Enum.GetNames(t).Select(n => n.ToLowerInvariant()));
        return t == typeof(string) ? "text" : t == typeof(bool) ? "flag" : t == typeof(int) || t == typeof(long) || t == typeof(uint) || t == typeof(ulong) ? "integer"
            : t == typeof(float) || t == typeof(double) ? "number" : t == typeof(FileInfo) ? "file" : t == typeof(DirectoryInfo) ? "directory" : t.Name;
    }

    private static string FirstSentence(string? text)
    {
        text = Escape(text ?? "");
        int dot = text.IndexOf(". ", StringComparison.Ordinal);
        return dot > 0 ? text[..(dot + 1)] : text;
    }

    private static string Cell(string? text) => Escape(text ?? "").Replace("|", "\\|", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);

    private static string Escape(string text) => text.Replace("\r", "", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal).Replace(">", "&gt;", StringComparison.Ordinal);

    private static string Anchor(string path) => path.Replace(' ', '-');
}
