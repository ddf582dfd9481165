"""Figures with matplotlib (the optional ``nalu[plot]`` extra): training curves and error against magnitude.

``save_figure`` takes the plain data of ``reports.plot_report`` and writes one PNG, SVG or PDF with two
panels: the training loss over steps (median over seeds, band from best to worst seed, extrapolation MSE
dashed) and the error against the largest input magnitude on log-log axes, with the edge of each
distinct training range marked and the solved threshold dotted; a title naming the runs, and one legend
below the panels (never over a curve) giving each run's solved count. matplotlib is imported here only, with the non-interactive Agg
backend, so the rest of nalu never needs it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from nalu_cli.errors import ConfigError, NaluError, install_hint

FORMATS = ("png", "svg", "pdf")
METRIC_LABELS = {"mse": "MSE", "mae": "mean absolute error", "rel_err": "relative error"}


def check_output(path: Path) -> str:
    """The file format from ``path``'s suffix; ``ConfigError`` for anything but png, svg or pdf."""
    fmt = Path(path).suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ConfigError(f"--out {str(path)!r} must end in .png, .svg or .pdf")
    parent = Path(path).parent
    if not parent.is_dir():
        raise ConfigError(f"--out {str(path)!r}: directory {str(parent)!r} does not exist")
    return fmt


def import_pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend, or a ``NaluError`` saying how to install it."""
    try:
        import matplotlib
    except ImportError:
        raise NaluError(
            f"plotting needs matplotlib, which is not installed; install it with: {install_hint('plot')}"
        ) from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _positive(values: list[Any]) -> list[float]:
    """Values drawable on a log axis; zero, negative, missing and non-finite become NaN (a gap)."""
    out = []
    for v in values:
        ok = isinstance(v, (int, float)) and math.isfinite(v) and v > 0
        out.append(float(v) if ok else math.nan)
    return out


def _mark_zeros(ax: Any, xs: list[float], ys: list[Any], colour: str) -> int:
    """Exact zeros cannot sit on a log axis: mark them with ▼ on the bottom edge instead. Returns how many."""
    from matplotlib.transforms import blended_transform_factory

    zeros = [x for x, y in zip(xs, ys, strict=True) if isinstance(y, (int, float)) and y == 0]
    if zeros:
        transform = blended_transform_factory(ax.transData, ax.transAxes)  # x in data, y in axes fraction
        ax.plot(
            zeros, [0.015] * len(zeros), ls="none", marker="v", ms=6, color=colour, transform=transform, clip_on=False
        )
    return len(zeros)


def _zero_handle() -> Any:
    from matplotlib.lines import Line2D

    return Line2D([], [], ls="none", marker="v", ms=6, color="0.3", label="error exactly 0 (bottom edge)")


def _run_entry(run: dict[str, Any]) -> str:
    """A run's legend entry: its name and how many of its seeds were solved when training finished."""
    if run.get("total"):
        return f"{run['label']} · solved {run['solved']}/{run['total']}"
    return f"{run['label']} · not finished"


def figure_title(report: dict[str, Any], limit: int = 110) -> str:
    """``nalu plot · run-a, run-b, ...``, shortened to ``limit`` characters with the number of runs."""
    labels = [r["label"] for r in report["runs"]]
    title = "nalu plot · " + ", ".join(labels)
    if len(title) <= limit:
        return title
    shown: list[str] = []
    for label in labels:
        if len("nalu plot · " + ", ".join([*shown, label])) > limit - 20:
            break
        shown.append(label)
    return f"nalu plot · {', '.join(shown)}, … ({len(labels)} runs)"


def training_edges(report: dict[str, Any]) -> list[tuple[float, list[str]]]:
    """Each distinct edge of a training range (largest |x|) with the runs trained on it, smallest first."""
    edges: dict[float, list[str]] = {}
    for run in report["runs"]:
        edges.setdefault(float(f"{run['train_magnitude']:.12g}"), []).append(run["label"])
    return sorted(edges.items())


def build_figure(report: dict[str, Any]) -> Any:
    """The matplotlib figure for ``report`` (from ``reports.plot_report``): two panels, a title naming the
    runs, and one legend below both panels (never over a curve) with each run's solved count."""
    plt = import_pyplot()
    from matplotlib.lines import Line2D

    fig, (ax_loss, ax_ext) = plt.subplots(1, 2, figsize=(12, 5.6), layout="constrained")
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    metric = report["metric"]
    any_history = False
    zeros = {"loss": 0, "ext": 0}
    run_handles = []
    for i, run in enumerate(report["runs"]):
        colour = colours[i % len(colours)]
        run_handles.append(Line2D([], [], color=colour, lw=1.8, marker="o", ms=3.5, label=_run_entry(run)))
        history = run["history"]
        steps = [h["step"] for h in history]
        if steps:
            any_history = True
            ax_loss.plot(steps, _positive([h["loss_median"] for h in history]), color=colour, lw=1.8)
            if any(h.get("loss_min") is not None for h in history) and run["seeds"] > 1:
                ax_loss.fill_between(
                    steps,
                    _positive([h.get("loss_min") for h in history]),
                    _positive([h.get("loss_max") for h in history]),
                    color=colour,
                    alpha=0.15,
                    lw=0,
                )
            ax_loss.plot(steps, _positive([h["extrap_mse_median"] for h in history]), color=colour, lw=1.2, ls="--")
            zeros["loss"] += _mark_zeros(ax_loss, steps, [h["loss_median"] for h in history], colour)
        mags = [p["magnitude"] for p in run["ladder"]]
        ax_ext.plot(mags, _positive([p["median"] for p in run["ladder"]]), color=colour, lw=1.8, marker="o", ms=3.5)
        if run["seeds"] > 1:
            ax_ext.fill_between(
                mags,
                _positive([p["min"] for p in run["ladder"]]),
                _positive([p["max"] for p in run["ladder"]]),
                color=colour,
                alpha=0.15,
                lw=0,
            )
        if metric == "mse":
            ax_ext.plot(mags, _positive([p["threshold"] for p in run["ladder"]]), color=colour, lw=1.0, ls=":")
        zeros["ext"] += _mark_zeros(ax_ext, mags, [p["median"] for p in run["ladder"]], colour)

    by_length = any(run.get("x_axis") == "sequence length" for run in report["runs"])
    edges = training_edges(report)
    edge_styles = ["-.", (0, (5, 2, 1, 2, 1, 2)), (0, (8, 3)), (0, (1, 3))]
    edge_handles = []
    for k, (top, names) in enumerate(edges):
        # right of this line every input lies outside the training range (or is longer than any training sequence)
        style = edge_styles[k % len(edge_styles)]
        ax_ext.axvline(top, color="0.55", lw=1.0, ls=style)
        label = f"training length (T = {top:g})" if by_length else f"edge of training range (|x| ≤ {top:g})"
        if len(edges) > 1:
            label += ": " + ", ".join(names)
        edge_handles.append(Line2D([], [], color="0.55", lw=1.0, ls=style, label=label))

    fig.suptitle(figure_title(report), fontsize="medium")
    ax_loss.set_title("Training")
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("MSE (median over seeds)")
    ax_loss.set_yscale("log")
    ax_loss.grid(True, which="major", alpha=0.3)
    styles: list[Any] = []
    if any_history:
        styles += [
            Line2D([], [], color="0.3", lw=1.8, label="training loss (left)"),
            Line2D([], [], color="0.3", lw=1.2, ls="--", label="extrapolation MSE (left)"),
        ]
    else:
        ax_loss.text(0.5, 0.5, "no metrics log", transform=ax_loss.transAxes, ha="center", va="center", color="0.4")

    ax_ext.set_title("Extrapolation")
    ax_ext.set_xscale("log")
    ax_ext.set_yscale("log")
    ax_ext.set_xlabel("sequence length" if by_length else "largest |input| (training range × factor)")
    ax_ext.set_ylabel(f"{METRIC_LABELS[metric]} (median over seeds)")
    ax_ext.grid(True, which="major", alpha=0.3)
    broken = sum(1 for run in report["runs"] for p in run["ladder"] if not math.isfinite(p["median"]))
    if broken:  # inf/nan (a diverged or overflowing model) has no place on the axis: say so, never silently
        note = f"{broken} point{'s' if broken > 1 else ''} not drawn: error not finite"
        ax_ext.text(
            0.99, 0.06, note, transform=ax_ext.transAxes, ha="right", va="bottom", fontsize="small", color="0.35"
        )
    if metric == "mse":
        styles.append(Line2D([], [], color="0.3", lw=1.0, ls=":", label="solved threshold (right)"))
    styles += edge_handles
    if zeros["loss"] or zeros["ext"]:
        styles.append(_zero_handle())
    handles = run_handles + styles
    fig.legend(
        handles=handles,
        labels=[h.get_label() for h in handles],
        loc="outside lower center",
        ncol=min(3, len(handles)),
        fontsize="small",
        frameon=False,
    )
    return fig


def save_figure(report: dict[str, Any], out: Path, dpi: int = 120) -> None:
    """Draw the runs of ``report`` (from ``reports.plot_report``) and save to ``out`` (png, svg or pdf)."""
    fmt = check_output(out)
    plt = import_pyplot()
    fig = build_figure(report)
    try:
        fig.savefig(out, format=fmt, dpi=dpi)
    except OSError as err:
        raise NaluError(f"cannot write {str(out)!r}: {err.strerror or err}") from None
    finally:
        plt.close(fig)
