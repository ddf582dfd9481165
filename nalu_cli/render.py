"""Rich renderables for every command (the only module that builds tables) and JSON helpers.

Functions take plain data (the dicts the library returns) and return renderables; the CLI prints them.
"""

from __future__ import annotations

import math
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from nalu_cli.evaluate import fmt_float, wilson_interval


def json_safe(value: Any) -> Any:
    """Replace NaN/Inf floats (not valid JSON) by the strings "nan", "inf", "-inf", recursively."""
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def _solved_text(solved: bool) -> Text:
    return Text("yes", style="bold green") if solved else Text("no", style="bold red")


def _accuracy(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def success_line(solved: int, total: int) -> str:
    lo, hi = wilson_interval(solved, total)
    return f"solved {solved}/{total} ({100 * solved / total:.0f}%, 95% CI {100 * lo:.0f}–{100 * hi:.0f}%)"


def train_summary(result: dict[str, Any]) -> Group:
    """Summary table after training: one row per seed, then the verdict."""
    table = Table(title=f"nalu train · {result['describe']}", title_justify="left")
    table.add_column("seed", justify="right")
    if result["restarts"] > 1:
        table.add_column("restart", justify="right")
    table.add_column("interp MSE", justify="right")
    table.add_column("extrap MSE", justify="right")
    # digits mode: solved is by the rounded output's accuracy, not by an MSE threshold
    by_accuracy = any("accuracy" in s["extrapolation"] for s in result["seeds"])
    if by_accuracy:
        table.add_column("interp acc.", justify="right")
        table.add_column("extrap acc.", justify="right")
    else:
        table.add_column("threshold", justify="right")
    table.add_column("solved", justify="center")
    table.add_column("solved at", justify="right")
    table.add_column("formula")
    # For an expression op, whether the formula read back equals the target; a named op's formula column
    # already says it (and the JSON has `recovered` for every op).
    from nalu_cli.tasks import OPS

    show_recovered = result["op"] not in OPS and any(s.get("recovered") is not None for s in result["seeds"])
    if show_recovered:
        table.add_column("recovered", justify="center")
    for s in result["seeds"]:
        row = [str(s["seed"])]
        if result["restarts"] > 1:
            row.append(f"{s['restart']} ({s['restarts_solved']}/{result['restarts']})")
        note = s["formula"] or "not discrete"
        if s["diverged_at"] is not None:
            note = f"diverged at step {s['diverged_at']}"
        row += [
            fmt_float(s["interpolation"]["mse"]),
            fmt_float(s["extrapolation"]["mse"]),
            *(
                [_accuracy(s["interpolation"].get("accuracy")), _accuracy(s["extrapolation"].get("accuracy"))]
                if by_accuracy
                else [fmt_float(s["extrapolation"]["threshold"])]
            ),
            _solved_text(s["solved"]),  # type: ignore[list-item]
            str(s["solved_at"]) if s["solved_at"] is not None else "-",
            note,
        ]
        if show_recovered:
            row.append("yes" if s.get("recovered") else "no")
        table.add_row(*row)
    n = len(result["seeds"])
    solved = sum(1 for s in result["seeds"] if s["solved"])
    lines: list[Any] = [table]
    verdict = (
        f"Extrapolates: yes — solved on {result['extrapolation']}"
        if solved == n
        else f"Extrapolates: {'partly' if solved else 'no'} — {success_line(solved, n)} on {result['extrapolation']}"
    )
    lines.append(Text(verdict, style="bold green" if solved == n else "bold yellow" if solved else "bold red"))
    caption = f"{result['steps']} steps in {result['elapsed']:.1f} s on {result['device']}"
    if result.get("seed_steps_per_second"):
        caption += f" ({result['seed_steps_per_second']:,.0f} seed-steps/s)"
    if result.get("run_dir"):
        caption += f" · run saved to {result['run_dir']}"
    lines.append(Text(caption, style="dim"))
    return Group(*lines)


def eval_table(report: dict[str, Any], title: str) -> Group:
    """Errors per range (and per seed when the run has several)."""
    many = len(report["seeds"]) > 1
    table = Table(title=title, title_justify="left")
    if many:
        table.add_column("seed", justify="right")
    by_accuracy = any("accuracy" in r for s in report["seeds"] for r in s["ranges"])
    last = "accuracy" if by_accuracy else "threshold"  # digits mode: solved is by accuracy
    for name in ("range", "MSE", "MAE", "rel. error", last, "solved"):
        table.add_column(name, justify="right" if name != "range" else "left")
    if "factor" in report["seeds"][0]["ranges"][0]:
        table.add_column("×", justify="right")
    for s in report["seeds"]:
        for r in s["ranges"]:
            row = [str(s["seed"])] if many else []
            row += [
                r["range"],
                fmt_float(r["mse"]),
                fmt_float(r["mae"]),
                fmt_float(r["rel_err"]),
                _accuracy(r.get("accuracy")) if by_accuracy else fmt_float(r["threshold"]),
                _solved_text(r["solved"]),  # type: ignore[list-item]
            ]
            if "factor" in r:
                row.append(f"{r['factor']:g}")
            table.add_row(*row)
    parts: list[Any] = [table]
    if many:
        for i, name in enumerate(report["seeds"][0]["ranges"]):
            solved = sum(1 for s in report["seeds"] if s["ranges"][i]["solved"])
            parts.append(Text(f"{name['range']}: {success_line(solved, len(report['seeds']))}"))
    return Group(*parts)


def extrapolate_view(report: dict[str, Any]) -> Group:
    parts: list[Any] = [eval_table(report, f"nalu extrapolate · {report['describe']}")]
    for s in report["seeds"]:
        broken = next((r for r in s["ranges"] if not r["solved"]), None)
        who = f"seed {s['seed']}: " if len(report["seeds"]) > 1 else ""
        if broken is None:
            parts.append(Text(f"{who}extrapolates on every range up to ×{s['ranges'][-1]['factor']:g}", style="green"))
        else:
            parts.append(Text(f"{who}stops extrapolating at ×{broken['factor']:g} ({broken['range']})", style="yellow"))
    return Group(*parts)


NEAR = 0.05  # a weight within this of +1, -1 or 0 is marked as that value (the formula readout's tolerance)
CELL_WIDTH = 9  # "+1.000" plus padding and a rule, in a matrix table


def _weight_style(value: float) -> str:
    if not math.isfinite(value):
        return "bold magenta"
    for target, style in ((1.0, "bold green"), (-1.0, "bold red"), (0.0, "dim")):
        if abs(value - target) <= NEAR:
            return style
    return "yellow"


def _weight_cell(value: float) -> Text:
    return Text(f"{value:+.3f}", style=_weight_style(value))


def _rows(matrix: list[list[float]] | list[float]) -> list[list[float]]:
    """A matrix as a list of rows of floats; a vector becomes one row."""
    if matrix and isinstance(matrix[0], list):
        return [[float(v) for v in row] for row in matrix]  # type: ignore[union-attr]
    return [[float(v) for v in matrix]]  # type: ignore[arg-type]


def matrix_table(
    name: str,
    matrix: list[list[float]] | list[float],
    row_label: str = "out",
    col_label: str = "x",
    columns: range | None = None,
) -> Table:
    """A weight matrix (or the ``columns`` of it) with values near +1 (green), -1 (red) and 0 (dim) marked."""
    rows = _rows(matrix)
    cols = columns if columns is not None else range(len(rows[0]) if rows else 0)
    table = Table(title=name, title_justify="left", show_edge=True, padding=(0, 1))
    table.add_column("", style="bold", no_wrap=True)
    for i in cols:
        table.add_column(f"{col_label}{i}", justify="right", no_wrap=True)
    for j, row in enumerate(rows):
        table.add_row(f"{row_label}{j}", *[_weight_cell(row[i]) for i in cols])
    return table


def _span(col_label: str, first: int, last: int) -> str:
    return f"{col_label}{first}" if first == last else f"{col_label}{first}..{col_label}{last}"


def compact_row(row: list[float], col_label: str = "x") -> list[Text]:
    """One matrix row as groups: runs of neighbouring weights marked alike (near +1, near -1, or not discrete
    and of one sign) as ``x3..x27: +1.000`` (or ``+0.367…+0.638``: the smallest and largest), and the weights
    within 0.05 of 0 summed up as ``others: 0 (max |w| 0.003)``."""
    items: list[Text] = []
    i, n = 0, len(row)
    zeros = [abs(v) for v in row if math.isfinite(v) and abs(v) <= NEAR]
    while i < n:
        v = row[i]
        style = _weight_style(v)
        if style == "dim":
            i += 1
            continue
        j = i  # extend over neighbours marked alike (and of one sign, for weights that are not discrete)
        while j + 1 < n and _weight_style(row[j + 1]) == style and (row[j + 1] > 0) == (v > 0):
            j += 1
        run = row[i : j + 1]
        lo, hi = f"{min(run):+.3f}", f"{max(run):+.3f}"
        value = lo if lo == hi else f"{lo}…{hi}"
        items.append(Text.assemble((_span(col_label, i, j), "bold"), ": ", (value, style)))
        i = j + 1
    if zeros:
        label = "others" if items else "all"
        items.append(Text(f"{label}: 0 (max |w| {max(zeros):.3f})", style="dim"))
    return items


class WeightMatrix:
    """A weight matrix that fits the console: the whole table when it fits, else each row compactly
    (``compact_row``); with ``full`` the whole matrix as tables of as many columns as fit, one after another."""

    def __init__(
        self, name: str, matrix: list[list[float]] | list[float], col_label: str = "x", full: bool = False
    ) -> None:
        self.name, self.rows, self.col_label, self.full = name, _rows(matrix), col_label, full

    def fitting_columns(self, width: int) -> int:
        label = max(len(f"out{len(self.rows) - 1}"), 4) + 3
        return max(1, (width - label - 1) // CELL_WIDTH)

    def __rich_console__(self, console: Any, options: Any) -> Any:
        n = len(self.rows[0]) if self.rows else 0
        per_table = self.fitting_columns(options.max_width)
        if n <= per_table:
            yield matrix_table(self.name, self.rows, col_label=self.col_label)
            return
        if self.full:
            for start in range(0, n, per_table):
                cols = range(start, min(n, start + per_table))
                yield matrix_table(
                    f"{self.name} (columns {self.col_label}{cols[0]}..{self.col_label}{cols[-1]} of {n})",
                    self.rows,
                    col_label=self.col_label,
                    columns=cols,
                )
            return
        yield Text(f"{self.name} ({len(self.rows)} × {n}; grouped, --full for every value)")
        for j, row in enumerate(self.rows):
            yield from _wrapped(f"  out{j}: ", compact_row(row, self.col_label), options.max_width)


def _wrapped(head: str, items: list[Text], width: int) -> list[Text]:
    """``head`` then the items joined by `` · ``, broken between items (never inside one) to fit ``width``."""
    lines: list[Text] = []
    line = Text(head)
    indent = " " * len(head)
    for k, item in enumerate(items):
        sep = "" if k == 0 else " · "
        if k and len(line) + len(sep) + len(item) > width:
            lines.append(line)
            line = Text(indent)
            sep = ""
        line.append(sep)
        line.append_text(item)
    lines.append(line)
    return lines


def _gate_lines(report: dict[str, Any], layer: dict[str, Any]) -> list[Text]:
    """The mean gate per output on a probe batch from the training range and one from the extrapolation range."""
    if layer.get("gate_mean") is None:
        return []

    def gates(values: list[float]) -> str:
        return ", ".join(f"g{j} = {g:.3f}" for j, g in enumerate(values))

    lines = [
        Text("mean gate (1 = add path, 0 = multiply path)"),
        Text(f"  on the training range {report.get('interpolation', '')}: {gates(layer['gate_mean'])}"),
    ]
    if layer.get("gate_mean_extrapolation") is not None:
        far = (
            f"  on the extrapolation range {report.get('extrapolation', '')}: {gates(layer['gate_mean_extrapolation'])}"
        )
        lines.append(Text(far))
    return lines


def inspect_view(report: dict[str, Any], full: bool = False) -> Group:
    """Each seed's layers: weight matrices fitted to the console (``WeightMatrix``), gates on both ranges,
    and the formula; ``full`` shows every value of wide matrices."""
    parts: list[Any] = [Text(f"nalu inspect-weights · {report['describe']}", style="bold")]
    for s in report["seeds"]:
        parts.append(
            Text(
                f"seed {s['seed']}" + (f" (restart {s['restart']})" if s.get("restart") else ""), style="bold underline"
            )
        )
        for layer in s["layers"]:
            inputs = "x" if layer["index"] == 0 else "h"
            parts.append(
                Text(f"layer {layer['index'] + 1}: {layer['unit']} ({layer['in']} → {layer['out']})", style="bold")
            )
            for name, matrix in layer["weights"].items():
                parts.append(WeightMatrix(name, matrix, inputs, full))
            for name, matrix in layer.get("raw", {}).items():
                parts.append(WeightMatrix(f"{name} (raw)", matrix, inputs, full))
            parts += _gate_lines(report, layer)
        if s["formula"]:
            parts.append(formula_line(s))
        else:
            parts.append(Text(f"formula: not discrete — {s['reason']}", style="bold yellow"))
    parts.append(Text("legend: green ≈ +1, red ≈ −1, dim ≈ 0 (within 0.05), yellow = not discrete", style="dim"))
    return Group(*parts)


def formula_line(s: dict[str, Any]) -> Text:
    """``formula (exact): y = x0 * x1``, or approximate with the largest deviation; ``recovered`` when known."""
    recovered = s.get("recovered")
    tail = "" if recovered is None else f"  (recovered: {'yes' if recovered else 'no'})"
    if s.get("formula_exact"):
        return Text(f"formula (exact): {s['formula']}{tail}", style="bold green")
    dev, at = s.get("formula_deviation"), s.get("formula_deviation_at")
    why = f"largest deviation {dev:.3g} at {at}" if dev is not None and at else "the run is not solved"
    return Text(f"formula (approximate; {why}): {s['formula']}{tail}", style="bold yellow")


# -- run history, comparisons, text plots ---------------------------------------------------------------

PLOT_STYLES = ("cyan", "magenta", "yellow", "green", "blue", "red")


def text_plot(plot: Any, title: str | None = None) -> Group:
    """A ``textplot.TextPlot`` as rich text: series coloured, axes dim, legend under the plot."""
    parts: list[Any] = []
    if title:
        parts.append(Text(title, style="bold"))
    for line in plot.lines:
        text = Text()
        for segment, role in line:
            if role.startswith("series"):
                text.append(segment, style=PLOT_STYLES[int(role[6:]) % len(PLOT_STYLES)])
            else:
                text.append(segment, style="dim")
        parts.append(text)
    legend = Text()
    for label, role, dotted in plot.legend:
        if legend:
            legend.append("   ")
        legend.append("┈┈ " if dotted else "── ", style=PLOT_STYLES[int(role[6:]) % len(PLOT_STYLES)])
        legend.append(label)
    parts.append(legend)
    return Group(*parts)


def train_text_plot(history: list[dict[str, Any]], width: int = 56) -> Group | None:
    """Training loss and extrapolation MSE over steps (log y) from a run's metrics log."""
    from nalu_cli.textplot import Series, line_plot

    rows = [h for h in history if "loss_median" in h]
    steps = [h["step"] for h in rows]
    plot = line_plot(
        [
            Series("training loss", steps, [h.get("loss_median") for h in rows]),
            Series("extrapolation MSE", steps, [h.get("extrap_mse_median") for h in rows], dotted=True),
        ],
        width=width,
        height=8,
        logy=True,
        xlabel="step",
    )
    return text_plot(plot, "training curve (median over seeds, log scale)") if plot else None


def extrapolate_text_plot(report: dict[str, Any], width: int = 56) -> Group | None:
    """MSE against the ladder factor (log-log), median over seeds, with the solved threshold dotted."""
    import statistics

    from nalu_cli.textplot import Series, line_plot

    seeds = report["seeds"]
    factors = [r["factor"] for r in seeds[0]["ranges"]]

    def median(i: int, key: str) -> float:
        return float(
            statistics.median(math.inf if math.isnan(s["ranges"][i][key]) else s["ranges"][i][key] for s in seeds)
        )

    plot = line_plot(
        [
            Series("MSE", factors, [median(i, "mse") for i in range(len(factors))]),
            Series("solved threshold", factors, [median(i, "threshold") for i in range(len(factors))], dotted=True),
        ],
        width=width,
        height=8,
        logx=True,
        logy=True,
        xlabel="× training range",
    )
    return (
        text_plot(plot, "error against input scale (log-log; zero and non-finite values not drawn)") if plot else None
    )


def _seeds_text(seeds: list[int]) -> str:
    if not seeds:
        return "-"
    if len(seeds) == 1:
        return str(seeds[0])
    if seeds == list(range(seeds[0], seeds[0] + len(seeds))):
        return f"{seeds[0]}–{seeds[-1]}"
    text = ",".join(map(str, seeds))
    return text if len(text) <= 12 else f"{len(seeds)} seeds"


def _solved_cell(row: dict[str, Any]) -> Text:
    if row.get("status") == "broken":
        return Text("broken", style="bold red")
    if not row.get("total"):
        return Text("-", style="dim")
    if row["total"] == 1:
        return _solved_text(row["solved"] == 1)
    style = "bold green" if row["solved"] == row["total"] else "bold yellow" if row["solved"] else "bold red"
    return Text(f"{row['solved']}/{row['total']}", style=style)


def _steps_text(row: dict[str, Any]) -> str:
    if row.get("steps") is None:
        return "-"
    if row.get("status") != "finished" and row.get("total_steps"):
        return f"{row['steps']}/{row['total_steps']}"
    return str(row["steps"])


def _mse_text(row: dict[str, Any], key: str) -> str:
    return fmt_float(row[key]) if row.get("total") or row.get("mode") == "fit" else "-"


def runs_table(report: dict[str, Any]) -> Group:
    """``nalu runs``: one row per run directory; broken ones flagged, with the reason under the table."""
    title = f"nalu runs · {report['directory']} · {len(report['runs'])} run{'s' if len(report['runs']) != 1 else ''}"
    table = Table(title=title, title_justify="left")
    table.add_column("run", overflow="fold")
    table.add_column("op")
    table.add_column("unit")
    table.add_column("seeds", justify="right")
    table.add_column("steps", justify="right")
    table.add_column("interp MSE", justify="right")
    table.add_column("extrap MSE", justify="right")
    table.add_column("solved", justify="center")
    table.add_column("date")
    for row in report["runs"]:
        date = (row.get("date") or "")[:16].replace("T", " ")
        table.add_row(
            Text(row["name"]),  # Text, not a string: a directory name is never read as rich markup
            Text(row.get("op") or "?"),
            Text("+".join(row.get("units") or []) or "?"),
            _seeds_text(row.get("seeds") or []),
            _steps_text(row),
            _mse_text(row, "interp_mse"),
            _mse_text(row, "extrap_mse"),
            _solved_cell(row),
            date,
        )
    parts: list[Any] = [table]
    for row in report["runs"]:
        if row["status"] == "broken":
            parts.append(Text(f"broken: {row['name']}: {row['error']}", style="red"))
    unfinished = [r["name"] for r in report["runs"] if r["status"] in ("unfinished", "interrupted")]
    if unfinished:
        parts.append(Text(f"not finished (steps done/planned): {', '.join(unfinished)}", style="dim"))
    return Group(*parts)


def _config_value(value: Any) -> str:
    if isinstance(value, list) and value and all(isinstance(v, list) and len(v) == 2 for v in value):
        return " ∪ ".join(f"U[{lo:g},{hi:g}]" for lo, hi in value)  # a range, as the papers write it
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return " → ".join(value)  # model.unit: one unit per layer
    if isinstance(value, list):
        return _seeds_text(value) if all(isinstance(v, int) for v in value) and value else str(value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def compare_table(report: dict[str, Any]) -> Group:
    """``nalu compare``: differing config keys, then results, one column per run."""
    runs = report["runs"]
    table = Table(title=f"nalu compare · {len(runs)} runs", title_justify="left")
    table.add_column("", style="bold")
    for r in runs:
        table.add_column(Text(r["name"]), justify="right", overflow="fold")
    diffs = report["differences"]
    for key, values in diffs.items():
        table.add_row(Text(key), *[Text(_config_value(v)) for v in values])
    if diffs:
        table.add_section()
    many = any(r.get("total", 0) > 1 for r in runs)
    median = " (median)" if many else ""

    def cell(r: dict[str, Any], key: str) -> str:
        return fmt_float(r[key]) if r.get("total") else "-"

    table.add_row("steps", *[str(r["steps"]) + ("" if r["finished"] else " (unfinished)") for r in runs])
    table.add_row(f"interp MSE{median}", *[cell(r, "interp_mse") for r in runs])
    table.add_row(f"extrap MSE{median}", *[cell(r, "extrap_mse") for r in runs])
    table.add_row("solved", *[_solved_cell(r) for r in runs])  # type: ignore[arg-type]
    table.add_row(
        f"solved at{median}", *[f"{r['solved_at']:g}" if r.get("solved_at") is not None else "-" for r in runs]
    )
    formulas = []
    for r in runs:
        if not r.get("total"):
            formulas.append("-")
            continue
        text = r["formula"] or "not discrete"
        formulas.append(text if r["total"] == 1 else f"{text} ({r['formula_count']}/{r['total']})")
    table.add_row("formula", *formulas)
    parts: list[Any] = [table]
    if not diffs:
        parts.append(Text("the configs are identical (seeds included)", style="dim"))
    return Group(*parts)


def plot_summary(report: dict[str, Any], out: str) -> Text:
    """One line saying where the figure went and what it shows."""
    names = ", ".join(r["label"] for r in report["runs"])
    return Text(f"Saved plot of {len(report['runs'])} run{'s' if len(report['runs']) != 1 else ''} ({names}) to {out}")


def benchmark_table(
    rows: list[dict[str, Any]], preset: str | None, command: str = "benchmark", mode: str | None = None
) -> Table:
    """One row per cell: success rate with its Wilson interval next to the published rate (digits mode: next
    to the median accuracy at the extrapolation length; no rate is published for this task). The title names
    the preset, else the task mode (``task.mode`` set on the command line), else "custom"."""
    digits = any(r.get("accuracy_median") is not None for r in rows)
    label = preset or mode or ("digits" if digits else "custom")
    table = Table(title=f"nalu {command} · {label}", title_justify="left")
    names = ["op", "unit", "range", "success", "95% CI", "accuracy (median)" if digits else "published"]
    names += ["solved at (median)", "sparsity err", "steps", "time"]
    for name in names:
        table.add_column(name, justify="left" if name in ("op", "unit", "range") else "right")
    relative = any("interp_percent_of_random" in r for r in rows)
    if relative:  # Trask et al.'s measure: % of a randomly initialised model's error (0 perfect, 100 random)
        table.add_column("interp % of random", justify="right")
        table.add_column("extrap % of random", justify="right")
    for r in rows:
        published = "-" if r.get("published") is None else f"{100 * r['published']:.0f}%"
        extra = [_percent(r.get("interp_percent_of_random")), _percent(r.get("extrap_percent_of_random"))]
        table.add_row(
            r["op"],
            r["unit"],
            f"{r['interpolation']} → {r['extrapolation']}",
            f"{r['solved']}/{r['seeds']} ({100 * r['success_rate']:.0f}%)",
            f"{100 * r['ci_low']:.0f}–{100 * r['ci_high']:.0f}%",
            _accuracy(r.get("accuracy_median")) if digits else published,
            "-" if r["solved_at_median"] is None else f"{r['solved_at_median']:.0f}",
            "-" if r["sparsity_error_median"] is None else f"{r['sparsity_error_median']:.2g}",
            str(r["steps"]),
            f"{r['seconds']:.0f} s",
            *(extra if relative else []),
        )
    return table


def _percent(value: Any) -> str:
    if not isinstance(value, (int, float)) or math.isnan(value):
        return "-"
    return "inf" if math.isinf(value) else f"{value:.3g}"


# -- nalu fit ---------------------------------------------------------------------------------------------


def _rel_text(errors: dict[str, Any] | None) -> str:
    return "-" if errors is None else fmt_float(errors["rel_err"])


def fit_view(report: dict[str, Any]) -> Group:
    """Each candidate's formula with interpolation and held-out errors, the chosen one, and the baselines."""
    rows = report["rows"]
    table = Table(
        title=f"nalu fit · {report['target']} from {', '.join(report['inputs'])} · "
        f"{rows['train']} train / {rows['valid']} validation / {rows['heldout']} held-out rows",
        title_justify="left",
        caption="errors: RMS error / RMS of the target; held-out = " + report["heldout"] + " (never trained on)",
        caption_justify="left",
    )
    table.add_column("", justify="center")
    table.add_column("model")
    table.add_column("formula")
    table.add_column("valid", justify="right")
    table.add_column("held-out", justify="right")
    table.add_column("formula held-out", justify="right")
    for i, c in enumerate(report["candidates"]):
        mark = "→" if i == report["chosen"] else ""
        table.add_row(
            mark,
            c["stack"],
            c["formula"] or "not discrete",
            _rel_text(c["model"]["valid"]),
            _rel_text(c["model"]["heldout"]),
            _rel_text(c["formula_errors"]["heldout"]),
            style="bold" if mark else None,
        )
    for name, b in report["baselines"].items():
        label = "least squares" if name == "linear" else "MLP 32-32"
        table.add_row("", f"[dim]{label}[/]", b["formula"] or "-", _rel_text(b["valid"]), _rel_text(b["heldout"]), "-")
    chosen = report["candidates"][report["chosen"]]
    parts: list[Any] = [table]
    if chosen["formula"]:
        fe = chosen["formula_errors"]
        exact = fe["valid"] is not None and fe["valid"]["rel_err"] < 1e-7
        verdict = (
            "it reproduces the validation rows exactly"
            if exact
            else f"its error is {_rel_text(fe['valid'])} on validation rows"
        )
        parts.append(Text(f"formula: {chosen['formula']}", style="bold green"))
        parts.append(
            Text(
                f"fit: {verdict} and {_rel_text(fe['heldout'])} on held-out rows (RMS error / RMS of the target);"
                f" largest weight deviation from the formula's values {chosen['deviation']:.3g}"
            )
        )
    else:
        parts.append(Text(f"formula: none read — {chosen['reason']}", style="bold yellow"))
    return Group(*parts)


def fit_eval_view(report: dict[str, Any]) -> Group:
    table = Table(
        title=f"nalu eval · {report['run']} on {report['data']} ({report['rows']} rows)", title_justify="left"
    )
    for name in ("model", "MSE", "rel. error"):
        table.add_column(name, justify="left" if name == "model" else "right")
    for label, key in (("fitted model", "model"), ("its formula", "formula_errors"), ("least squares", "linear")):
        e = report[key]
        table.add_row(label, "-" if e is None else fmt_float(e["mse"]), _rel_text(e))
    parts: list[Any] = [table]
    if report["formula"]:
        parts.append(Text(f"formula: {report['formula']}"))
    return Group(*parts)
