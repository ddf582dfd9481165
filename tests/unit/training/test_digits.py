"""Digits mode: sequences of scikit-learn's 8x8 digit images; the split, the model, training, CLI end to end."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

pytest.importorskip("sklearn", reason="digits mode needs scikit-learn (pip install -e '.[digits]')")

from nalu_cli import rng
from nalu_cli.cli.core import app
from nalu_cli.config import loading
from nalu_cli.config import resolve as config_resolve
from nalu_cli.config import schema as config
from nalu_cli.errors import ConfigError, NaluError  # noqa: E402
from nalu_cli.output.schema import SCHEMAS, check
from nalu_cli.tasks import digits
from nalu_cli.training.evaluate import evaluate_range
from nalu_cli.training.loop import train
from nalu_cli.training.trainer import Trainer
from tests.conftest import assert_error_line, assert_member_equals_alone  # noqa: E402

SMALL = {
    "task.mode": "digits",
    "task.length": 5,
    "task.extrapolation_length": 50,
    "train.batch_size": 32,
    "train.log_every": 1000,
    "train.valid_samples": 50,
    "eval.samples": 200,
    "eval.lengths": [1, 5, 50],
}


def digits_config(op: str = "add", **overrides: object) -> config.Config:
    product = {"task.length": 2, "task.extrapolation_length": 10, "eval.lengths": [1, 2, 10]} if op == "mul" else {}
    return config_resolve.resolve(overrides={"task.op": op, **SMALL, **product, "train.steps": 250, **overrides})


def accuracy_at(trainer: Trainer, length: int, samples: int = 300) -> tuple[float, float]:
    """(accuracy, MSE) of the first seed on test sequences of ``length``."""
    m = evaluate_range(
        trainer.model, trainer.task.at_length(length), trainer.task_seeds, trainer.task.interpolation, samples, 1e-5
    )
    assert m.accuracy is not None
    return float(m.accuracy[0]), float(m.mse[0])


def test_split_is_fixed_disjoint_and_test_sequences_use_test_images_only() -> None:
    train_images, train_labels = digits.split("train")
    test_images, test_labels = digits.split("test")
    assert train_images.shape == (1438, 64) and test_images.shape == (359, 64)
    assert float(train_images.min()) >= 0.0 and float(train_images.max()) <= 1.0
    # no test image is also a training image (the dataset has no exact duplicates across the split)
    same = (test_images[:, None, :] == train_images[None, :, :]).all(dim=-1)  # [359, 1438]
    assert not bool(same.any())
    trainer = Trainer(digits_config(), torch.device("cpu"))
    seeds = trainer.task_seeds
    images, labels = trainer.task.images_at(seeds, rng.STREAM_TEST, 3, 7, 500, torch.float64)  # type: ignore[attr-defined]
    found = (images[0][:, None, :] == test_images[None, :, :].to(images.dtype)).all(dim=-1)  # [500, 359]
    assert bool(found.any(dim=1).all())
    assert torch.equal(labels[0], test_labels[found.to(torch.int64).argmax(dim=1)])
    # training sequences come from training images (moved by up to a pixel: compare the unshifted ones too)
    assert set(test_labels.tolist()) == set(range(10)) and set(train_labels.tolist()) == set(range(10))


def test_targets_are_sum_product_and_count_of_the_labels() -> None:
    labels = torch.tensor([[[3, 0, 7, 7]]])  # [S, B, T]
    add = Trainer(digits_config("add"), torch.device("cpu")).task
    mul = Trainer(digits_config("mul"), torch.device("cpu")).task
    count = Trainer(digits_config("add", **{"task.count_digit": 7}), torch.device("cpu")).task
    assert float(add.label_target(labels)) == 17.0  # type: ignore[attr-defined]
    assert float(mul.label_target(labels)) == 0.0  # type: ignore[attr-defined]
    assert float(mul.label_target(labels[..., 2:])) == 49.0  # type: ignore[attr-defined]
    assert float(count.label_target(labels)) == 2.0  # type: ignore[attr-defined]


def test_streaming_evaluation_matches_whole_sequences() -> None:
    trainer = Trainer(digits_config(), torch.device("cpu"))
    task = trainer.task.at_length(6)  # type: ignore[attr-defined]
    x, labels = task.sequences(trainer.task_seeds, rng.STREAM_TEST, 0, digits.SEQUENCE_CHUNK, 6, torch.float32)
    with torch.no_grad():
        pred = trainer.model(x[:, :40]).to(torch.float64)  # [S, 40, 1]
    y = task.label_target(labels[:, :40])
    m = digits.evaluate_digits(trainer.model, task, trainer.task_seeds, 40, rng.STREAM_TEST, torch.float32)  # type: ignore[arg-type]
    assert torch.allclose(m.sq, ((pred - y) ** 2).sum(dim=(1, 2)), rtol=1e-5)
    assert torch.equal(m.correct, (pred.round() == y).to(torch.float64).sum(dim=(1, 2)))


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"model.unit": ["lstm", "mlp"], "model.hidden": [4]},
        {"model.image_channels": 4},
        {"task.op": "mul"},
    ],
)
def test_batched_seeds_are_bit_identical_to_training_alone(overrides: dict[str, object]) -> None:
    overrides = dict(overrides)
    op = str(overrides.pop("task.op", "add"))
    together = Trainer(digits_config(op, **overrides, **{"train.seeds": [4, 0, 9]}), torch.device("cpu"))
    alone = Trainer(digits_config(op, **overrides, **{"train.seeds": [0]}), torch.device("cpu"))
    for _ in range(8):
        together.train_step()
        alone.train_step()
    assert_member_equals_alone(together, alone, 1)


def test_accumulator_starts_exact_and_reads_as_a_running_sum() -> None:
    trainer = Trainer(digits_config(**{"train.seeds": [0]}), torch.device("cpu"))
    model = trainer.model
    assert torch.equal(model.accumulator.cell.W[0], torch.tensor([[1.0, 1.0]]))  # type: ignore[union-attr]
    result = train(digits_config(**{"train.seeds": [0], "train.steps": 5}))
    assert result.seeds[0]["formula"] == "h_t[0] = h_{t-1}[0] + d_t; y ≈ h_T[0]; i.e. y = Σ_t d_t"


def test_counting_trains_end_to_end_and_extrapolates_to_10x_longer_sequences() -> None:
    """Real training from sequence targets only (no image is labelled): count the zeros in sequences of 5;
    the count stays right on sequences of 50. An untrained model is tested too, so the test can fail."""
    cfg = digits_config(**{"task.count_digit": 0, "train.seeds": [0]})
    trainer = Trainer(cfg, torch.device("cpu"))
    before = accuracy_at(trainer, 50)
    for _ in range(cfg.train.steps):
        trainer.train_step()
    acc1, _ = accuracy_at(trainer, 1)
    acc5, mse5 = accuracy_at(trainer, 5)
    acc50, mse50 = accuracy_at(trainer, 50)
    assert acc1 >= 0.95 and acc5 >= 0.9, (acc1, acc5)
    # 10x the training length (measured: 49%, MSE 0.50; untrained 18%, MSE 3.9)
    assert acc50 >= before[0] + 0.2 and mse50 < before[1] / 3, (acc50, mse50, before)


def test_lstm_baseline_does_not_extrapolate() -> None:
    cfg = digits_config(
        **{"task.count_digit": 0, "train.seeds": [0], "model.unit": ["lstm", "mlp"], "model.hidden": [8],
           "train.steps": 120}
    )  # fmt: skip
    trainer = Trainer(cfg, torch.device("cpu"))
    for _ in range(cfg.train.steps):
        trainer.train_step()
    acc50, _ = accuracy_at(trainer, 50)
    assert acc50 < 0.3, acc50


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"task.length": 0}, "task.length"),
        ({"task.count_digit": 10}, "task.count_digit"),
        ({"task.op": "sub"}, "digits mode sums"),
        ({"task.op": "mul", "task.count_digit": 3}, "use it with task.op add"),
        ({"task.op": "mul", "eval.lengths": [1, 100]}, "a product of 100 digits"),
        ({"train.memory_budget_mb": 0.01}, "memory_budget_mb"),
        ({"model.unit": ["nau", "lstm"]}, "not an output unit"),
        ({"model.unit": ["nau", "nau", "nau"], "model.hidden": [1, 1]}, "accumulator cell and an output unit"),
    ],
)
def test_bad_digits_configs_are_refused(overrides: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        digits_config(**overrides)
    assert needle in str(err.value)


def test_count_digit_outside_digits_mode_is_refused() -> None:
    with pytest.raises(ConfigError, match="task.mode digits"):
        config_resolve.resolve(overrides={"task.op": "add", "task.count_digit": 3})


def test_missing_scikit_learn_is_one_error_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "sklearn", None)  # import sklearn now raises ImportError
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    digits._dataset.cache_clear()
    try:
        with pytest.raises(NaluError, match="nalu\\[digits\\]"):
            digits.require_sklearn()
        result = CliRunner().invoke(app, ["train", "--mode", "digits", "--op", "add", "--out", str(tmp_path / "r")])
        line = assert_error_line(result, codes=(1,))
        assert line == "Error: digits mode needs scikit-learn: pip install 'nalu[digits]'"
    finally:
        digits._dataset.cache_clear()


def test_cli_train_eval_extrapolate_inspect_resume_end_to_end(tmp_path: Path) -> None:
    runner = CliRunner()
    run = tmp_path / "digits"
    sets = ["--set=task.length=3", "--set=task.extrapolation_length=20", "--set=eval.lengths=[1,3,20]",
            "--set=train.valid_samples=20", "--set=eval.samples=50", "--set=train.log_every=10",
            "--set=train.batch_size=16"]  # fmt: skip
    result = runner.invoke(app, ["train", "--mode", "digits", "--op", "add", "--steps", "20", "--out", str(run),
                                 "--json", *sets])  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert check(report, SCHEMAS["train"]) == []
    assert "digit images, T=3→20" in report["describe"] and report["extrapolation"] == "test images · T=20"
    assert 0.0 <= report["seeds"][0]["extrapolation"]["accuracy"] <= 1.0
    result = runner.invoke(app, ["extrapolate", str(run), "--json"])
    assert result.exit_code == 0, result.output
    assert check(json.loads(result.stdout), SCHEMAS["extrapolate"]) == []
    rows = json.loads(result.stdout)["seeds"][0]["ranges"]
    assert [r["length"] for r in rows] == [1, 3, 20] and all("accuracy" in r and "mse" in r for r in rows)
    result = runner.invoke(app, ["eval", str(run), "--json"])
    assert result.exit_code == 0, result.output
    assert [r["length"] for r in json.loads(result.stdout)["seeds"][0]["ranges"]] == [3, 20]
    assert check(json.loads(result.stdout), SCHEMAS["eval"]) == []
    result = runner.invoke(app, ["inspect-weights", str(run), "--json"])
    assert result.exit_code == 0, result.output
    assert check(json.loads(result.stdout), SCHEMAS["inspect-weights"]) == []
    assert json.loads(result.stdout)["seeds"][0]["recurrent"][0]["from_x"] != []
    result = runner.invoke(app, ["train", "--resume", str(run), "--steps", "30", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["steps"] == 30
    assert "--factors" in assert_error_line(runner.invoke(app, ["extrapolate", str(run), "--factors", "1,10"]), (2,))
    assert "--range" in assert_error_line(runner.invoke(app, ["eval", str(run), "--range", "1,2"]), (2,))
    pytest.importorskip("matplotlib")
    result = runner.invoke(app, ["plot", str(run), "--out", str(tmp_path / "p.png"), "--samples", "10", "--json"])
    assert result.exit_code == 0, result.output
    plotted = json.loads(result.stdout[result.stdout.index("{") :])["runs"][0]
    assert plotted["x_axis"] == "sequence length" and plotted["ladder"][-1]["magnitude"] == 20


def test_resume_is_bit_identical(tmp_path: Path) -> None:
    cfg = digits_config(**{"train.seeds": [0, 1], "train.steps": 30, "train.log_every": 10})
    train(cfg, tmp_path / "a")
    calls = {"n": 0}

    def stop() -> bool:
        calls["n"] += 1
        return calls["n"] > 12

    assert train(cfg, tmp_path / "b", should_stop=stop).interrupted
    train(cfg, tmp_path / "b", resume=True)
    a = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=False)["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_sum_defaults_read_digits_from_sums_only() -> None:
    """The add defaults (6000 steps, one seed): most single test images read right, sums of 10 beat chance."""
    trainer = Trainer(config_resolve.resolve(overrides={"task.mode": "digits", "task.op": "add"}), torch.device("cpu"))
    for _ in range(trainer.config.train.steps):
        trainer.train_step()
    acc1, _ = accuracy_at(trainer, 1, 359)
    acc10, _ = accuracy_at(trainer, 10, 500)
    assert acc1 >= 0.7 and acc10 >= 0.15, (acc1, acc10)


# Benchmark and sweep cells in digits mode: counting zeros, trained at T = 5, solved at T = 10 (2 s a cell).
BENCH_SETS = ["task.mode=digits", "task.count_digit=0", "task.length=5", "task.extrapolation_length=10",
              "eval.lengths=[1,5,10]", "eval.samples=200", "train.valid_samples=50", "train.log_every=1000",
              "train.batch_size=32"]  # fmt: skip


def _sets(items: list[str]) -> list[str]:
    return [arg for item in items for arg in ("--set", item)]


def test_benchmark_digits_cells_are_the_train_configs() -> None:
    """One cell builder: a digits cell's config is exactly `nalu train --mode digits --op OP` (with the lstm
    column's model), with no preset's task or sizes mixed in."""
    from nalu_cli.sweeps import benchmark

    extra = {"task.mode": "digits"}
    for op in ("add", "mul"):
        cell = benchmark.cell_config(benchmark.Cell(op, "accumulator", "", ""), None, 2, None, None, True, extra)
        alone = config_resolve.resolve(overrides={"task.mode": "digits", "task.op": op, "train.seeds": [0, 1]})
        assert cell.to_dict() == alone.to_dict()
        lstm = benchmark.cell_config(benchmark.Cell(op, "lstm", "", ""), "madsen2020", 2, 30, None, True, extra)
        assert lstm.model.units() == ["lstm", "mlp"] and lstm.model.hidden == [16] and lstm.train.steps == 30
        # neither the preset's batch (128) nor its published optimiser settings
        assert (lstm.train.batch_size, lstm.train.lr, lstm.train.schedule) == (
            alone.train.batch_size, alone.train.lr, alone.train.schedule
        )  # fmt: skip
    assert config_resolve.resolve(overrides={"task.mode": "digits", "task.op": "mul"}).model.units() == ["nmu", "nau"]
    assert benchmark.default_grid(None, extra) == (["add", "mul"], ["accumulator", "lstm"])


def test_benchmark_cli_digits_json_matches_training_the_cell(tmp_path: Path) -> None:
    """`nalu benchmark --set task.mode=digits --json`: schema-valid, and each cell's success is the runs' own
    solved flag (accuracy >= 50% at the extrapolation length) and its accuracy_median their median accuracy."""
    from nalu_cli.sweeps import benchmark

    args = ["benchmark", "--ops", "add", "--seeds", "2", "--steps", "200", *_sets(BENCH_SETS), "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert not check(data, SCHEMAS["benchmark"]), check(data, SCHEMAS["benchmark"])
    assert data["preset"] is None
    cells = data["cells"]
    assert [(c["op"], c["unit"], c["layers"]) for c in cells] == [
        ("add", "accumulator", ["nau", "nau"]),
        ("add", "lstm", ["lstm", "mlp"]),
    ]
    assert cells[0]["interpolation"] == "images, T=5" and cells[0]["extrapolation"] == "T=10"
    extra = dict(loading.parse_assignment(a) for a in BENCH_SETS)
    for c in cells:
        cfg = benchmark.cell_config(benchmark.Cell("add", c["unit"], "", ""), None, 2, 200, None, True, extra)
        seeds = train(cfg, stop_on_divergence=False).seeds
        accuracy = [s["extrapolation"]["accuracy"] for s in seeds]
        assert [s["solved"] for s in seeds] == [a >= digits.SOLVED_ACCURACY for a in accuracy]
        assert c["solved"] == sum(s["solved"] for s in seeds)
        assert c["failed_seeds"] == [s["seed"] for s in seeds if not s["solved"]]
        assert c["accuracy_median"] == pytest.approx(sorted(accuracy)[0] / 2 + sorted(accuracy)[1] / 2)
    # measured 2026-11-30: the accumulator counts zeros right on every test sequence of 10 after 200 steps
    assert cells[0]["solved"] == 2 and cells[0]["accuracy_median"] >= 0.9


def test_benchmark_cli_digits_table_runs_the_default_grid() -> None:
    sets = ["task.mode=digits", "task.length=2", "task.extrapolation_length=3", "eval.lengths=[1,2,3]",
            "eval.samples=50", "train.valid_samples=20", "train.log_every=1000"]  # fmt: skip
    result = CliRunner().invoke(app, ["benchmark", "--seeds", "2", "--steps", "5", *_sets(sets)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "nalu benchmark · digits" in out and "accuracy" in out and "published" not in out
    rows = [[part.strip() for part in line.split("│")[1:4]] for line in out.splitlines() if "images, T=2" in line]
    assert [r[:2] for r in rows] == [["add", "accumulator"], ["add", "lstm"], ["mul", "accumulator"], ["mul", "lstm"]]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--ranges", "1,2:2,6"], "digit images have no value ranges"),
        (["--units", "nau"], "unknown digits column 'nau' (choose from accumulator, lstm)"),
        (["--units", "lstmm"], "did you mean 'lstm'"),
        (["--preset", "madsen2020"], "leave the preset out"),
        (["--ops", "sub"], "task.op"),
        (["--published-settings"], "no optimiser settings are published for digits mode"),
    ],
)
def test_benchmark_digits_usage_errors_are_one_line(args: list[str], needle: str) -> None:
    result = CliRunner().invoke(app, ["benchmark", "--seeds", "1", "--steps", "1", "--set", "task.mode=digits", *args])
    assert needle in assert_error_line(result, (2,))


def test_sweep_runs_a_digits_grid_as_the_benchmark_does(tmp_path: Path) -> None:
    """A grid with set: {task.mode: digits}, one seed per task: the same cells, and (seeds bit-identical
    alone) the same outcome as the benchmark's batched cell."""
    import yaml

    sets = dict(loading.parse_assignment(a) for a in BENCH_SETS)
    grid = {"ops": ["add"], "units": ["accumulator"], "seeds": 2, "seed_block": 1, "steps": 200, "set": sets}
    path = tmp_path / "digits.yaml"
    path.write_text(yaml.safe_dump(grid))
    result = CliRunner().invoke(app, ["sweep", str(path), "--out", str(tmp_path / "sw"), "--workers", "1", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    (cell,) = report["cells"]
    assert (cell["unit"], cell["layers"], cell["extrapolation"], cell["blocks"]) == (
        "accumulator",
        ["nau", "nau"],
        "T=10",
        2,
    )
    args = ["benchmark", "--ops", "add", "--units", "accumulator", "--seeds", "2", "--steps", "200", *_sets(BENCH_SETS)]
    bench = json.loads(CliRunner().invoke(app, [*args, "--json"]).stdout)["cells"][0]
    for key in ("solved", "failed_seeds", "accuracy_median", "solved_at_median", "sparsity_error_median"):
        assert cell[key] == bench[key], key
    for bad, needle in [
        ({"preset": "madsen2020"}, "leave the preset out"),
        ({"units": ["nau"]}, "unknown digits column 'nau'"),
        ({"ranges": "1,2:2,6"}, "digit images have no value ranges"),
        ({"tuned": False}, "no optimiser settings are published"),
    ]:
        path.write_text(yaml.safe_dump(grid | bad))
        result = CliRunner().invoke(app, ["sweep", str(path), "--out", str(tmp_path / "bad")])
        assert needle in assert_error_line(result, (2,)), bad


def test_sample_config_is_the_documented_sum_model() -> None:
    cfg = config_resolve.resolve(loading.load_yaml(Path(__file__).parents[3] / "sample_configs" / "digits_sum.yaml"))
    default = config_resolve.resolve(overrides={"task.mode": "digits", "task.op": "add", "train.seeds": [0, 1, 2]})
    assert cfg == default


def test_image_weight_decay_adds_the_squared_image_weights_to_the_regulariser() -> None:
    plain = Trainer(digits_config(**{"model.image_weight_decay": 0.0, "train.seeds": [0, 1]}), torch.device("cpu"))
    decayed = Trainer(digits_config(**{"model.image_weight_decay": 1e-3, "train.seeds": [0, 1]}), torch.device("cpu"))
    image = decayed.model.image  # type: ignore[union-attr]
    squares = (image.W1**2).sum(dim=(1, 2)) + (image.W2**2).sum(dim=(1, 2))  # [S]
    assert float(plain.model.regularizer().detach().abs().max()) == 0.0  # the exact accumulator: no sparsity penalty
    assert torch.allclose(decayed.model.regularizer(), 1e-3 * squares)
