"""Figures with matplotlib (the optional ``nalu[plot]`` extra): training curves and error against magnitude.

``save_figure`` takes the plain data of ``reports.plot_report`` and writes one PNG, SVG or PDF with two
panels: the training loss over steps (median over seeds, band from best to worst seed, extrapolation MSE
dashed) and the error against the largest input magnitude on log-log axes, with the edge of the
training range marked and the solved threshold dotted. matplotlib is imported here only, with the non-interactive Agg
backend, so the rest of nalu never needs it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from nalu_cli.errors import ConfigError, NaluError

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
            "plotting needs matplotlib, which is not installed; install it with: pip install 'nalu[plot]'"
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


def save_figure(report: dict[str, Any], out: Path, dpi: int = 120) -> None:
    """Draw the runs of ``report`` (from ``reports.plot_report``) and save to ``out`` (png, svg or pdf)."""
    fmt = check_output(out)
    plt = import_pyplot()
    from matplotlib.lines import Line2D

    fig, (ax_loss, ax_ext) = plt.subplots(1, 2, figsize=(12, 4.8), layout="constrained")
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    metric = report["metric"]
    any_history = False
    zeros = {"loss": 0, "ext": 0}
    for i, run in enumerate(report["runs"]):
        colour = colours[i % len(colours)]
        history = run["history"]
        steps = [h["step"] for h in history]
        if steps:
            any_history = True
            ax_loss.plot(
                steps, _positive([h["loss_median"] for h in history]), color=colour, lw=1.8, label=run["label"]
            )
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
        ax_ext.plot(
            mags,
            _positive([p["median"] for p in run["ladder"]]),
            color=colour,
            lw=1.8,
            marker="o",
            ms=3.5,
            label=run["label"],
        )
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
    for top in sorted({run["train_magnitude"] for run in report["runs"]}):
        # right of this line every input lies outside the training range (or is longer than any training sequence)
        edge = f"training length (T = {top:g})" if by_length else f"edge of training range (|x| ≤ {top:g})"
        ax_ext.axvline(top, color="0.55", lw=1.0, ls="-.", label=edge)

    ax_loss.set_title("Training")
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("MSE (median over seeds)")
    ax_loss.set_yscale("log")
    ax_loss.grid(True, which="major", alpha=0.3)
    if any_history:
        handles, labels = ax_loss.get_legend_handles_labels()
        styles = [
            Line2D([], [], color="0.3", lw=1.8, label="training loss"),
            Line2D([], [], color="0.3", lw=1.2, ls="--", label="extrapolation MSE"),
        ]
        if zeros["loss"]:
            styles.append(_zero_handle())
        ax_loss.legend(handles + styles, labels + [h.get_label() for h in styles], fontsize="small", loc="best")
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
    handles, labels = ax_ext.get_legend_handles_labels()
    if metric == "mse":
        handles.append(Line2D([], [], color="0.3", lw=1.0, ls=":"))
        labels.append("solved threshold")
    if zeros["ext"]:
        handles.append(_zero_handle())
        labels.append(handles[-1].get_label())
    ax_ext.legend(handles, labels, fontsize="small", loc="best")
    try:
        fig.savefig(out, format=fmt, dpi=dpi)
    except OSError as err:
        raise NaluError(f"cannot write {str(out)!r}: {err.strerror or err}") from None
    finally:
        plt.close(fig)
