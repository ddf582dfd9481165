"""`nalu plot`: the plotted data, a real PNG/SVG on disk, and a clear error without matplotlib."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from nalu_cli.cli.core import app
from nalu_cli.config import resolve as config_resolve
from nalu_cli.errors import ConfigError
from nalu_cli.output.reports import plot_factors, plot_report
from nalu_cli.training.loop import train

torch.set_num_threads(1)
runner = CliRunner()
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def seeds_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three seeds of a unit that cannot multiply: a spread between seeds and a visible failure."""
    run_dir = tmp_path_factory.mktemp("plot") / "mul-nac-3seeds"
    cfg = config_resolve.resolve(
        overrides={
            "task.op": "mul",
            "model.unit": "nac_add",
            "train.seeds": [0, 1, 2],
            "train.steps": 200,
            "train.log_every": 50,
            "eval.samples": 256,
            "train.valid_samples": 128,
        }
    )
    train(cfg, run_dir)
    return run_dir


def test_plot_factors_span_the_ladder_log_evenly() -> None:
    factors = plot_factors([1.0, 10.0, 100.0, 1000.0])
    assert len(factors) == 13 and factors[0] == pytest.approx(1.0) and factors[-1] == pytest.approx(1000.0)
    ratios = [b / a for a, b in zip(factors, factors[1:], strict=False)]
    assert all(r == pytest.approx(10**0.25) for r in ratios)
    assert plot_factors([5.0]) == [pytest.approx(5.0)]


def test_plot_report_holds_history_and_error_curve(mul_run: Path, seeds_run: Path) -> None:
    report = plot_report([mul_run, seeds_run], samples=256)
    assert [r["label"] for r in report["runs"]] == ["mul", "mul-nac-3seeds"]
    mul, nac = report["runs"]
    steps = [h["step"] for h in mul["history"]]
    assert steps == sorted(steps) and steps[0] == 0 and steps[-1] == 600
    magnitudes = [p["magnitude"] for p in mul["ladder"]]
    assert magnitudes[0] == pytest.approx(10.0) and magnitudes[-1] == pytest.approx(10_000.0)  # U[1,10] × 1..1000
    assert all(a < b for a, b in zip(magnitudes, magnitudes[1:], strict=False))
    assert nac["seeds"] == 3 and all(p["min"] <= p["median"] <= p["max"] for p in nac["ladder"])
    assert nac["ladder"][-1]["median"] > nac["ladder"][0]["median"]  # a failed unit gets worse further out
    assert all(h["loss_min"] <= h["loss_median"] <= h["loss_max"] for h in nac["history"] if h["loss_min"] is not None)
    assert plot_report([mul_run], factors=[1.0, 2.0], samples=64)["runs"][0]["ladder"][1]["factor"] == 2.0
    with pytest.raises(ConfigError, match="did you mean 'rel_err'"):
        plot_report([mul_run], metric="relerr")


def test_plot_writes_a_real_png(mul_run: Path, seeds_run: Path, tmp_path: Path) -> None:
    image = pytest.importorskip("matplotlib.image", reason="matplotlib is not installed (pip install 'nalu[plot]')")
    out = tmp_path / "runs.png"
    result = runner.invoke(app, ["plot", str(mul_run), str(seeds_run), "--out", str(out), "--samples", "256"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Saved plot of 2 runs (mul, mul-nac-3seeds) to ")
    data = out.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > 20_000  # two panels with curves, text and legends, not an empty canvas
    pixels = image.imread(str(out))  # [H, W, 4] floats
    height, width = pixels.shape[:2]
    assert (height, width) == (672, 1440)  # 12 × 5.6 inches at 120 dpi
    flat = pixels.reshape(-1, pixels.shape[2])
    colours = {tuple(px) for px in flat[:: max(1, len(flat) // 50_000)].round(2).tolist()}
    assert len(colours) > 50  # anti-aliased lines in several colours, not a blank or single-colour image
    assert (pixels[..., :3].mean() > 0.7) and (pixels[..., :3].min() < 0.3)  # mostly white, with dark ink


def test_plot_svg_and_json(mul_run: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="matplotlib is not installed (pip install 'nalu[plot]')")
    out = tmp_path / "mul.svg"
    result = runner.invoke(
        app, ["plot", str(mul_run), "-o", str(out), "--factors", "1,10,100", "--samples", "64", "--json"]
    )
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text and "Extrapolation" in text
    data = json.loads(result.stdout)
    assert data["command"] == "plot" and data["out"] == str(out)
    assert [p["factor"] for p in data["runs"][0]["ladder"]] == [1.0, 10.0, 100.0]
    for point in data["runs"][0]["ladder"]:
        assert isinstance(point["median"], float) or point["median"] in ("nan", "inf")


def test_plot_usage_errors(mul_run: Path, tmp_path: Path) -> None:
    bad = runner.invoke(app, ["plot", str(mul_run), "--out", str(tmp_path / "x.jpg")])
    assert (
        bad.exit_code == 2
        and bad.stderr == f"Error: --out {str(tmp_path / 'x.jpg')!r} must end in .png, .svg or .pdf\n"
    )
    nodir = runner.invoke(app, ["plot", str(mul_run), "--out", str(tmp_path / "nope" / "x.png")])
    assert nodir.exit_code == 2 and "does not exist" in nodir.stderr
    missing = runner.invoke(app, ["plot", str(tmp_path / "no-run"), "--out", str(tmp_path / "x.png")])
    assert missing.exit_code == 1 and missing.stderr.startswith("Error: no run directory")


def test_plot_without_matplotlib_says_how_to_install(
    mul_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now raises ImportError
    result = runner.invoke(app, ["plot", str(mul_run), "--out", str(tmp_path / "x.png")])
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: plotting needs matplotlib, which is not installed; install it with: pip install 'nalu[plot]'"
        " (from a source checkout: pip install -e '.[plot]')\n"
    )
    assert not (tmp_path / "x.png").exists()


def test_figure_handles_empty_history_and_zero_errors(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="matplotlib is not installed (pip install 'nalu[plot]')")
    from nalu_cli.output.plot import save_figure

    ladder = [
        {"factor": f, "magnitude": 10 * f, "median": m, "min": m, "max": m, "threshold": 1e-3 * f, "solved": 1}
        for f, m in [(1, 1e-9), (10, 0.0), (100, math.inf)]
    ]
    report = {
        "metric": "mse",
        "runs": [{"label": "r", "seeds": 1, "history": [], "ladder": ladder, "train_magnitude": 10.0}],
    }
    save_figure(report, tmp_path / "edge.png")
    assert (tmp_path / "edge.png").read_bytes()[:8] == PNG_SIGNATURE


def test_figure_legend_outside_title_solved_counts_and_one_edge_per_range(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="matplotlib is not installed (pip install 'nalu[plot]')")
    from nalu_cli.output.plot import build_figure, import_pyplot

    def run(label: str, top: float, solved: int, total: int) -> dict[str, object]:
        ladder = [
            {
                "factor": f,
                "magnitude": top * f,
                "median": 1e-3 * f,
                "min": 1e-3,
                "max": f,
                "threshold": 1e-2,
                "solved": 0,
            }
            for f in (1.0, 10.0, 100.0)
        ]
        history = [{"step": s, "loss_median": 1.0 / (s + 1), "extrap_mse_median": 2.0 / (s + 1)} for s in (0, 50, 100)]
        return {"label": label, "seeds": total, "solved": solved, "total": total, "history": history,
                "ladder": ladder, "train_magnitude": top}  # fmt: skip

    report = {"metric": "mse", "runs": [run("a", 10.0, 1, 1), run("b", 10.0, 0, 3), run("c", 2.0, 2, 5)]}
    fig = build_figure(report)
    try:
        assert fig._suptitle.get_text() == "nalu plot · a, b, c"
        assert all(ax.get_legend() is None for ax in fig.axes)  # no legend inside a panel
        (legend,) = fig.legends
        labels = [t.get_text() for t in legend.get_texts()]
        assert labels[:3] == ["a · solved 1/1", "b · solved 0/3", "c · solved 2/5"]
        edges = [label for label in labels if label.startswith("edge of training range")]
        assert edges == ["edge of training range (|x| ≤ 2): c", "edge of training range (|x| ≤ 10): a, b"]
        fig.canvas.draw()
        box = legend.get_window_extent()
        for ax in fig.axes:
            assert not box.overlaps(ax.get_window_extent()), "the legend covers a panel"
    finally:
        import_pyplot().close(fig)
