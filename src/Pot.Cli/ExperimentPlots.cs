using Pot.Protocol;
using ScottPlot;

namespace Pot.Cli;

/// <summary>PNG plots of the experiments (ScottPlot, rendered by SkiaSharp without a display).</summary>
public static class ExperimentPlots
{
    private const int Width = 900;
    private const int Height = 560;

    private static Plot NewPlot()
    {
        var plot = new Plot();
        plot.Font.Set("DejaVu Sans");
        return plot;
    }

    /// <summary>Held-out loss against total training steps: the centralized run and every protocol configuration.</summary>
    /// <param name="path">PNG path.</param>
    /// <param name="task">Task name (title).</param>
    /// <param name="central">Centralized curve.</param>
    /// <param name="runs">Protocol runs.</param>
    /// <param name="ablation">Single-miner ablation arms (dashed), if any.</param>
    /// <param name="largeBatch">Large-batch reference arms (dotted), if any.</param>
    public static void Quality(string path, string task, IReadOnlyList<CurvePoint> central, IReadOnlyList<QualityRun> runs, IReadOnlyList<AblationRun>? ablation = null, IReadOnlyList<LargeBatchRun>? largeBatch = null)
    {
        ArgumentNullException.ThrowIfNull(central);
        ArgumentNullException.ThrowIfNull(runs);
        var plot = NewPlot();
        var c = plot.Add.Scatter(central.Select(p => (double)p.Steps).ToArray(), central.Select(p => p.Loss).ToArray());
        c.LegendText = "centralized";
        c.LineWidth = 3;
        foreach (var run in runs)
        {
            var s = plot.Add.Scatter(run.Curve.Select(p => (double)p.Steps).ToArray(), run.Curve.Select(p => p.Loss).ToArray());
            s.LegendText = $"protocol N={run.Miners} H={run.InnerSteps}";
        }
        foreach (var arm in ablation ?? [])
        {
            var s = plot.Add.Scatter(arm.Curve.Select(p => (double)p.Steps).ToArray(), arm.Curve.Select(p => p.Loss).ToArray());
            s.LegendText = "ablation: " + arm.Label;
            s.LinePattern = LinePattern.Dashed;
        }
        foreach (var arm in largeBatch ?? [])
        {
            var s = plot.Add.Scatter(arm.Curve.Select(p => (double)p.Steps).ToArray(), arm.Curve.Select(p => p.Loss).ToArray());
            s.LegendText = $"{arm.Miners}× batch (exact averaging of N={arm.Miners})";
            s.LinePattern = LinePattern.Dotted;
        }
        plot.Title($"{task}: held-out loss at equal total compute");
        plot.XLabel("training steps (all miners together)");
        plot.YLabel("held-out loss (nats)");
        plot.ShowLegend(Alignment.UpperRight);
        plot.SavePng(path, Width, Height);
    }

    /// <summary>Verifier CPU per verification as a percentage of miner CPU per submission, per configuration.</summary>
    /// <param name="path">PNG path.</param>
    /// <param name="points">Points.</param>
    public static void VerificationCost(string path, IReadOnlyList<VerificationCostPoint> points)
    {
        ArgumentNullException.ThrowIfNull(points);
        var plot = NewPlot();
        double[] positions = Enumerable.Range(0, points.Count).Select(i => (double)i).ToArray();
        plot.Add.Bars(positions, points.Select(p => 100 * p.Ratio).ToArray());
        plot.Axes.Bottom.SetTicks(positions, points.Select(p => p.Label).ToArray());
        plot.Axes.Bottom.TickLabelStyle.Rotation = 90;
        plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleLeft;
        plot.Axes.Bottom.MinimumSize = 130;
        var goal = plot.Add.HorizontalLine(5);
        goal.LegendText = "5% goal";
        plot.Title("verifier CPU per verification / miner CPU per submission");
        plot.YLabel("%");
        plot.ShowLegend(Alignment.UpperLeft);
        plot.Axes.Margins(bottom: 0);
        plot.SavePng(path, Width, Height);
    }

    /// <summary>Measured catch rate per cell beside its formula (with the 3σ interval).</summary>
    /// <param name="path">PNG path.</param>
    /// <param name="cells">Cells.</param>
    public static void Cheating(string path, IReadOnlyList<CheatingCell> cells)
    {
        ArgumentNullException.ThrowIfNull(cells);
        var plot = NewPlot();
        double[] positions = Enumerable.Range(0, cells.Count).Select(i => (double)i).ToArray();
        var formula = plot.Add.ErrorBar(positions, cells.Select(c => c.Formula.Probability).ToArray(), cells.Select(c => double.IsNaN(c.HalfWidth) ? 0 : c.HalfWidth).ToArray());
        formula.LegendText = "formula ± 3σ (lower bound for replay-of-last-step and skip-steps)";
        var center = plot.Add.ScatterPoints(positions, cells.Select(c => c.Formula.Probability).ToArray());
        center.MarkerShape = MarkerShape.HorizontalBar;
        center.MarkerSize = 16;
        center.LegendText = "formula";
        var measured = plot.Add.ScatterPoints(positions, cells.Select(c => double.IsNaN(c.Rate) ? 0 : c.Rate).ToArray());
        measured.LegendText = "measured catch rate";
        measured.MarkerSize = 9;
        plot.Axes.Bottom.SetTicks(positions, cells.Select(c => $"{c.Strategy} {(c.Count is int m ? "m=" + m : "")} ρ={c.Probability}").ToArray());
        plot.Axes.Bottom.TickLabelStyle.Rotation = 90;
        plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleLeft;
        plot.Axes.Bottom.TickLabelStyle.FontSize = 11;
        plot.Axes.Bottom.MinimumSize = 190;
        plot.Axes.SetLimitsY(0, 1.1);
        plot.Title("catch rate per cheating round");
        plot.YLabel("probability");
        plot.ShowLegend(Alignment.LowerRight);
        plot.SavePng(path, Math.Max(Width, 34 * cells.Count), Height + 200);
    }
}
