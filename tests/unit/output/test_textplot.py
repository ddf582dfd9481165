"""Unicode text plots: geometry, log axes, gaps for undrawable points, and their rich rendering."""

from __future__ import annotations

import math
from io import StringIO

from rich.console import Console

from nalu_cli.output.render import extrapolate_text_plot, text_plot, train_text_plot
from nalu_cli.output.textplot import BRAILLE_BASE, Series, format_tick, line_plot


def _braille_columns(line: str) -> list[int]:
    return [i for i, ch in enumerate(line) if BRAILLE_BASE < ord(ch) <= BRAILLE_BASE + 0xFF]


def render(renderable: object, width: int = 100) -> str:
    console = Console(width=width, file=StringIO(), color_system=None)
    console.print(renderable)
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_plot_has_requested_size_and_axes() -> None:
    plot = line_plot([Series("loss", [0, 1, 2, 3], [1e3, 1e1, 1e-1, 1e-3])], width=40, height=6, xlabel="step")
    assert plot is not None
    rows = plot.plain().splitlines()
    assert len(rows) == 6 + 2 + 1  # plot rows, x axis, x labels, legend
    widths = {len(r) for r in rows[:6]}
    assert len(widths) == 1  # every plot row is the same width
    assert rows[0].lstrip().startswith("1e3") and rows[5].lstrip().startswith("0.001")
    assert "└" + "─" * 40 in rows[6]
    assert rows[7].split()[:2] == ["0", "3"] and rows[7].endswith("step")
    assert rows[8] == "─ loss"


def test_decreasing_line_goes_from_top_left_to_bottom_right() -> None:
    plot = line_plot([Series("loss", list(range(10)), [10.0**-i for i in range(10)])], width=30, height=8)
    assert plot is not None
    rows = plot.plain().splitlines()[:8]
    first, last = _braille_columns(rows[0]), _braille_columns(rows[-1])
    assert first and last
    assert min(first) < min(last)  # top row is drawn on the left, bottom row on the right
    assert all(_braille_columns(r) for r in rows)  # a connected line crosses every row


def test_undrawable_points_leave_gaps_not_crashes() -> None:
    assert line_plot([Series("zeros", [1, 2, 3], [0.0, 0.0, -1.0])], logy=True) is None
    assert line_plot([Series("nan", [1, 2], [math.nan, math.inf])]) is None
    plot = line_plot([Series("mixed", [1, 10, 100, 1000], [1e-3, 0.0, math.nan, 1e2])], logx=True, logy=True)
    assert plot is not None and _braille_columns(plot.plain())
    flat = line_plot([Series("flat", [0, 1, 2], [5.0, 5.0, 5.0])], logy=False)
    assert flat is not None and "5" in flat.plain()


def test_dotted_series_draws_fewer_dots() -> None:
    xs, ys = list(range(50)), [float(i) for i in range(50)]
    solid = line_plot([Series("a", xs, ys)], logy=False)
    dotted = line_plot([Series("a", xs, ys, dotted=True)], logy=False)
    assert solid is not None and dotted is not None

    def dots(text: str) -> int:
        return sum(
            bin(ord(ch) - BRAILLE_BASE).count("1") for ch in text if BRAILLE_BASE < ord(ch) <= BRAILLE_BASE + 0xFF
        )

    assert dots(dotted.plain()) < dots(solid.plain()) / 2
    assert "┈ a" in dotted.plain()


def test_tick_labels_are_compact() -> None:
    assert format_tick(3.0, log=True) == "1e3"
    assert format_tick(-12.0, log=True) == "1e-12"
    assert format_tick(0.0, log=True) == "1"
    assert format_tick(600.0, log=False) == "600"
    assert format_tick(0.05, log=False) == "0.05"


def test_rendered_plots_on_a_fixed_width_console() -> None:
    history = [
        {"step": 0, "loss_median": math.nan, "extrap_mse_median": 1e7},
        {"step": 100, "loss_median": 1e-2, "extrap_mse_median": 1e-1},
        {"step": 200, "loss_median": 1e-9, "extrap_mse_median": 1e-8},
    ]
    text = render(train_text_plot(history, width=40))
    assert "training curve (median over seeds, log scale)" in text
    assert "── training loss" in text and "┈┈ extrapolation MSE" in text
    assert _braille_columns(text) and "\x1b" not in text
    assert max(len(line) for line in text.splitlines()) <= 100

    ranges = [
        {"factor": f, "mse": m, "threshold": t} for f, m, t in [(1, 1e-9, 1e-6), (10, 1e-7, 1e-2), (100, 0.0, 1e2)]
    ]
    report = {"seeds": [{"seed": 0, "ranges": ranges}]}
    text = render(extrapolate_text_plot(report, width=40))
    assert "error against input scale" in text and "× training range" in text
    assert "── MSE" in text and "┈┈ solved threshold" in text


def test_text_plot_colours_series_only_when_colour_is_on() -> None:
    plot = line_plot([Series("a", [0, 1], [1.0, 2.0])], logy=False)
    console = Console(width=80, file=StringIO(), color_system="truecolor", force_terminal=True)
    console.print(text_plot(plot))
    assert "\x1b[36m" in console.file.getvalue()  # type: ignore[attr-defined]  # cyan series
