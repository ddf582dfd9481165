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
    table.add_column("threshold", justify="right")
    table.add_column("solved", justify="center")
    table.add_column("solved at", justify="right")
    table.add_column("formula")
    for s in result["seeds"]:
        row = [str(s["seed"])]
        if result["restarts"] > 1:
            row.append(f"{s['restart']} ({s['restarts_solved']}/{result['restarts']} solved)")
        note = s["formula"] or "not discrete"
        if s["diverged_at"] is not None:
            note = f"diverged at step {s['diverged_at']}"
        row += [
            fmt_float(s["interpolation"]["mse"]),
            fmt_float(s["extrapolation"]["mse"]),
            fmt_float(s["extrapolation"]["threshold"]),
            _solved_text(s["solved"]),  # type: ignore[list-item]
            str(s["solved_at"]) if s["solved_at"] is not None else "-",
            note,
        ]
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
    for name in ("range", "MSE", "MAE", "rel. error", "threshold", "solved"):
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
                fmt_float(r["threshold"]),
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


def _weight_cell(value: float) -> Text:
    text = f"{value:+.3f}"
    if not math.isfinite(value):
        return Text(text, style="bold magenta")
    for target, style in ((1.0, "bold green"), (-1.0, "bold red"), (0.0, "dim")):
        if abs(value - target) <= 0.05:
            return Text(text, style=style)
    return Text(text, style="yellow")


def matrix_table(name: str, matrix: list[list[float]] | list[float], row_label: str = "out", col_label: str = "x") -> Table:
    """A weight matrix with values near +1 (green), -1 (red) and 0 (dim) marked; others yellow."""
    rows = matrix if matrix and isinstance(matrix[0], list) else [matrix]
    table = Table(title=name, title_justify="left", show_edge=True, padding=(0, 1))
    table.add_column("", style="bold")
    width = len(rows[0]) if rows else 0  # type: ignore[arg-type]
    for i in range(width):
        table.add_column(f"{col_label}{i}", justify="right")
    for j, row in enumerate(rows):
        table.add_row(f"{row_label}{j}", *[_weight_cell(float(v)) for v in row])  # type: ignore[union-attr]
    return table


def inspect_view(report: dict[str, Any]) -> Group:
    parts: list[Any] = [Text(f"nalu inspect-weights · {report['describe']}", style="bold")]
    for s in report["seeds"]:
        parts.append(Text(f"seed {s['seed']}" + (f" (restart {s['restart']})" if s.get("restart") else ""), style="bold underline"))
        for layer in s["layers"]:
            inputs = "x" if layer["index"] == 0 else "h"
            parts.append(Text(f"layer {layer['index'] + 1}: {layer['unit']} ({layer['in']} → {layer['out']})", style="bold"))
            for name, matrix in layer["weights"].items():
                label = name if name not in layer.get("raw", {}) else name
                parts.append(matrix_table(label, matrix, col_label=inputs))
            for name, matrix in layer.get("raw", {}).items():
                parts.append(matrix_table(f"{name} (raw)", matrix, col_label=inputs))
            if layer.get("gate_mean") is not None:
                gates = ", ".join(f"g{j} = {g:.3f}" for j, g in enumerate(layer["gate_mean"]))
                parts.append(Text(f"mean gate on a probe batch: {gates}  (1 = add path, 0 = multiply path)"))
        if s["formula"]:
            parts.append(Text(f"formula: {s['formula']}", style="bold green"))
        else:
            parts.append(Text(f"formula: not discrete — {s['reason']}", style="bold yellow"))
    parts.append(Text("legend: green ≈ +1, red ≈ −1, dim ≈ 0 (within 0.05), yellow = not discrete", style="dim"))
    return Group(*parts)


def benchmark_table(rows: list[dict[str, Any]], preset: str | None) -> Table:
    """One row per cell: success rate with its Wilson interval next to the published rate."""
    table = Table(title=f"nalu benchmark · {preset or 'custom'}", title_justify="left")
    for name in ("op", "unit", "range", "success", "95% CI", "published", "solved at (median)", "sparsity err", "steps", "time"):
        table.add_column(name, justify="left" if name in ("op", "unit", "range") else "right")
    for r in rows:
        published = "-" if r.get("published") is None else f"{100 * r['published']:.0f}%"
        table.add_row(
            r["op"],
            r["unit"],
            f"{r['interpolation']} → {r['extrapolation']}",
            f"{r['solved']}/{r['seeds']} ({100 * r['success_rate']:.0f}%)",
            f"{100 * r['ci_low']:.0f}–{100 * r['ci_high']:.0f}%",
            published,
            "-" if r["solved_at_median"] is None else f"{r['solved_at_median']:.0f}",
            "-" if r["sparsity_error_median"] is None else f"{r['sparsity_error_median']:.2g}",
            str(r["steps"]),
            f"{r['seconds']:.0f} s",
        )
    return table
