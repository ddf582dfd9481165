"""Rich tables: weight matrices, gates, run lists, comparisons and benchmark tables."""

from __future__ import annotations

import math
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from nalu_cli.output.render import _accuracy, _solved_text, formula_line, token_view
from nalu_cli.training.evaluate import fmt_float

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
        parts += token_view(s)  # text runs: what each token is worth
        if s["formula"]:
            parts.append(formula_line(s))
        else:
            parts.append(Text(f"formula: not discrete — {s['reason']}", style="bold yellow"))
    parts.append(Text("legend: green ≈ +1, red ≈ −1, dim ≈ 0 (within 0.05), yellow = not discrete", style="dim"))
    return Group(*parts)


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
    # the madsen2020 task: also solved by Madsen & Johansen's own criterion, beside the rate they published
    judged = any("solved_published" in r for r in rows)
    names[5:5] = ["success (M&J criterion)"] if judged else []
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
            *([_published_criterion(r)] if judged else []),
            _accuracy(r.get("accuracy_median")) if digits else published,
            "-" if r["solved_at_median"] is None else f"{r['solved_at_median']:.0f}",
            "-" if r["sparsity_error_median"] is None else f"{r['sparsity_error_median']:.2g}",
            str(r["steps"]),
            f"{r['seconds']:.0f} s",
            *(extra if relative else []),
        )
    return table


def _published_criterion(row: dict[str, Any]) -> str:
    """A cell solved by Madsen & Johansen's criterion: count, rate and 95% interval ("-" where not judged)."""
    if "solved_published" not in row:
        return "-"
    lo, hi = row["ci_low_published"], row["ci_high_published"]
    return f"{row['solved_published']}/{row['seeds']} ({100 * lo:.0f}–{100 * hi:.0f}%)"


def _percent(value: Any) -> str:
    if not isinstance(value, (int, float)) or math.isnan(value):
        return "-"
    return "inf" if math.isinf(value) else f"{value:.3g}"
