namespace Pot.Learning.Kernels;

/// <summary>
/// How many threads a kernel may use. Kernels only ever split <em>independent outputs</em> across
/// threads, so the thread count changes speed, never bits (docs/engine.md, "Determinism").
/// </summary>
public sealed class Parallelism
{
    private readonly ParallelOptions options;

    /// <summary>Creates a setting that uses up to <paramref name="threads"/> threads (at least one).</summary>
    /// <param name="threads">Maximum worker threads; values below 1 mean one.</param>
    public Parallelism(int threads)
    {
        Threads = Math.Max(1, threads);
        options = new ParallelOptions { MaxDegreeOfParallelism = Threads };
    }

    /// <summary>A single-threaded setting.</summary>
    public static Parallelism Single { get; } = new(1);

    /// <summary>The number of threads kernels may use.</summary>
    public int Threads { get; }

    /// <summary>
    /// Runs <paramref name="body"/> for every index in [0, count). The caller guarantees that the
    /// bodies write disjoint outputs, so their order of execution cannot change any result.
    /// </summary>
    /// <param name="count">Number of independent work items.</param>
    /// <param name="body">Work for one item.</param>
    public void For(int count, Action<int> body)
    {
        if (count <= 0)
        {
            return;
        }

        if (Threads == 1 || count == 1)
        {
            for (int i = 0; i < count; i++)
            {
                body(i);
            }

            return;
        }

        Parallel.For(0, count, options, body);
    }
}
