"""Rich renderables for every command (the only module that builds tables) and JSON helpers.

Functions take plain data (the dicts the library returns) and return renderables; the CLI prints them.
"""

from __future__ import annotations

import math
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from nalu_cli.training.evaluate import fmt_float, wilson_interval


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
    from nalu_cli.tasks.ops import OPS

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
    if "solved_published" in result:  # a task Madsen & Johansen published rates for: their criterion beside ours
        lines.append(
            Text(
                f"By Madsen & Johansen's criterion (extrapolation MSE below {fmt_float(result['published_threshold'])},"
                f" their script's threshold): {success_line(int(result['solved_published']), n)}"
            )
        )
    caption = f"{_steps_trained(result)} in {result['elapsed']:.1f} s on {result['device']}"
    if result.get("seed_steps_per_second"):
        caption += f" ({result['seed_steps_per_second']:,.0f} seed-steps/s)"
    if result.get("run_dir"):
        caption += f" · run saved to {result['run_dir']}"
    lines.append(Text(caption, style="dim"))
    return Group(*lines)


def _steps_trained(result: dict[str, Any]) -> str:
    """'300 steps', or for a resumed run '100 steps (to step 40,100)': the steps this call trained, from the
    report's seed-steps per second × seconds over the members (seeds × restarts)."""
    steps = int(result["steps"])
    members = len(result["seeds"]) * max(1, int(result.get("restarts") or 1))
    rate = result.get("seed_steps_per_second")
    if not rate or not members:
        return f"{steps} steps"
    trained = round(rate * result["elapsed"] / members)
    return f"{steps} steps" if trained == steps else f"{trained} steps (to step {steps:,})"


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
    from nalu_cli.output.textplot import Series, line_plot

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

    from nalu_cli.output.textplot import Series, line_plot

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


def plot_summary(report: dict[str, Any], out: str) -> Text:
    """One line saying where the figure went and what it shows."""
    names = ", ".join(r["label"] for r in report["runs"])
    return Text(f"Saved plot of {len(report['runs'])} run{'s' if len(report['runs']) != 1 else ''} ({names}) to {out}")


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
            c["formula"] or (f"rejected: {c['rejected_formula']}" if c.get("rejected_formula") else "not discrete"),
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
        closed_form = str(chosen["stack"]).endswith("least squares")  # no weights to deviate
        deviation = (
            "" if closed_form else f"; largest weight deviation from the formula's values {chosen['deviation']:.3g}"
        )
        parts.append(
            Text(
                f"fit: {verdict} and {_rel_text(fe['heldout'])} on held-out rows (RMS error / RMS of the target)"
                + deviation
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


# -- nalu fit ---------------------------------------------------------------------------------------------


def _rel_text(errors: dict[str, Any] | None) -> str:
    return "-" if errors is None else fmt_float(errors["rel_err"])


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def token_view(s: dict[str, Any]) -> list[Any]:
    """A text run's seed (``inspect-weights``): each token's value alone (and through a linear path when the
    model has one), then the place values its outputs apply ("five hundred" / "five")."""
    if not s.get("tokens"):
        return []
    linear = any(t["last"] is not None for t in s["tokens"])
    title = "tokens: the output on the token alone" + (" (last: its exact share when read last)" if linear else "")
    table = Table()
    table.add_column("token")
    table.add_column("alone", justify="right")
    if linear:
        table.add_column("last", justify="right")
    for t in s["tokens"]:
        name = t["token"] if t["token"].isalnum() else repr(t["token"])
        table.add_row(name, _num(t["alone"]), *([_num(t["last"])] if linear else []))
    parts: list[Any] = [Text(title, style="bold"), table]
    if s.get("places"):
        places = Table()
        for column in ("text", "value", "of", "value", "ratio"):
            places.add_column(column, justify="left" if column in ("text", "of") else "right")
        for p in s["places"]:
            places.add_row(p["text"], _num(p["value"]), p["of"], _num(p["value_of"]), _num(p["ratio"]))
        parts += [Text("place values: the output on a text ÷ the output on the text it extends", style="bold"), places]
    return parts
