namespace Pot.Learning.Data;

/// <summary>
/// The registry of built-in tasks by name: "addition" (2-digit, the embedded default),
/// "addition3", "kjv" (token tasks) and "fashion-mnist" (image task).
/// </summary>
public static class Tasks
{
    /// <summary>Names of the token tasks.</summary>
    public static IReadOnlyList<string> TokenTaskNames { get; } = ["addition", "addition3", "kjv"];

    /// <summary>Names of the image tasks.</summary>
    public static IReadOnlyList<string> ImageTaskNames { get; } = ["fashion-mnist"];

    /// <summary>All task names, token tasks first.</summary>
    public static IReadOnlyList<string> Names { get; } = ["addition", "addition3", "kjv", "fashion-mnist"];

    /// <summary>Creates a token task by name, or returns false when the name is not a token task.</summary>
    /// <param name="name">A name from <see cref="TokenTaskNames"/>.</param>
    /// <param name="task">The task, or null.</param>
    /// <returns>True when the name is a token task.</returns>
    /// <exception cref="DataSetUnavailableException">The name is known but its data set is not installed.</exception>
    public static bool TryCreateToken(string name, out ITokenTask? task)
    {
        task = name switch
        {
            "addition" => new AdditionTask(2),
            "addition3" => new AdditionTask(3),
            "kjv" => new KjvTask(),
            _ => null,
        };
        return task is not null;
    }

    /// <summary>Creates an image task by name, or returns false when the name is not an image task.</summary>
    /// <param name="name">A name from <see cref="ImageTaskNames"/>.</param>
    /// <param name="task">The task, or null.</param>
    /// <returns>True when the name is an image task.</returns>
    /// <exception cref="DataSetUnavailableException">The name is known but its data set is not installed.</exception>
    public static bool TryCreateImage(string name, out IImageTask? task)
    {
        task = name switch
        {
            "fashion-mnist" => new FashionMnistTask(),
            _ => null,
        };
        return task is not null;
    }

    /// <summary>Creates a token task by name.</summary>
    /// <param name="name">A name from <see cref="TokenTaskNames"/>.</param>
    /// <returns>The task.</returns>
    /// <exception cref="ArgumentException">The name is not a token task; the message lists the valid names.</exception>
    public static ITokenTask CreateToken(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return TryCreateToken(name, out var task) ? task! : throw Unknown(name, "token", TokenTaskNames);
    }

    /// <summary>Creates an image task by name.</summary>
    /// <param name="name">A name from <see cref="ImageTaskNames"/>.</param>
    /// <returns>The task.</returns>
    /// <exception cref="ArgumentException">The name is not an image task; the message lists the valid names.</exception>
    public static IImageTask CreateImage(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return TryCreateImage(name, out var task) ? task! : throw Unknown(name, "image", ImageTaskNames);
    }

    /// <summary>Creates any task by name: an <see cref="ITokenTask"/> or an <see cref="IImageTask"/>.</summary>
    /// <param name="name">A name from <see cref="Names"/>.</param>
    /// <returns>The task.</returns>
    /// <exception cref="ArgumentException">The name is unknown; the message lists the valid names.</exception>
    public static object Create(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (TryCreateToken(name, out var token))
        {
            return token!;
        }

        if (TryCreateImage(name, out var image))
        {
            return image!;
        }

        throw Unknown(name, "", Names);
    }

    private static ArgumentException Unknown(string name, string kind, IReadOnlyList<string> valid)
    {
        string what = kind.Length == 0 ? "task" : kind + " task";
        string hint = kind.Length != 0 && Names.Contains(name) ? $" ('{name}' is a task of another kind)" : "";
        return new ArgumentException($"unknown {what} '{name}'{hint}; valid names: {string.Join(", ", valid)}", nameof(name));
    }
}
