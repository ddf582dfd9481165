"""What scripts rely on: --device refused when absent, --check exit codes, flags without values, install hints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from nalu_cli.cli.core import app
from nalu_cli.errors import ConfigError
from nalu_cli.output.reports import outcome
from nalu_cli.training.build import device_note, resolve_device
from tests.conftest import assert_error_line, run_nalu

runner = CliRunner()
TINY = ["--steps", "300", "--set", "eval.samples=256", "--set", "train.valid_samples=128"]


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """NAC+ on mul over two seeds: trains fine and solves nothing (what --check must catch)."""
    out = tmp_path_factory.mktemp("check") / "nac"
    result = runner.invoke(app, ["train", "--op", "mul", "--unit", "nac_add", "--seeds", "2", "--out", str(out), *TINY])
    assert result.exit_code == 0, result.output
    return out


# -- --device ---------------------------------------------------------------------------------------------


def test_resolve_device_refuses_what_is_not_there(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("cpu") == torch.device("cpu") and resolve_device("auto") == torch.device("cpu")
    for name in ("cuda", "cuda:0", "cuda:1"):
        with pytest.raises(ConfigError, match="is not available: this machine has no CUDA GPU"):
            resolve_device(name)
    with pytest.raises(ConfigError, match="must be auto, cpu, cuda or cuda:N"):
        resolve_device("tpu")
    assert device_note("auto", "cpu") == "device: cpu (auto: no CUDA GPU is available)"


def test_cuda_index_accepted_when_it_exists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    assert resolve_device("cuda") == torch.device("cuda") and resolve_device("auto") == torch.device("cuda")
    with pytest.raises(ConfigError, match=r"has 2 CUDA devices \(cuda:0\.\.cuda:1\)"):
        resolve_device("cuda:2")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without a GPU")
def test_device_cuda_without_gpu_is_one_error_line_exit_2(mul_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "r"
    train = runner.invoke(app, ["train", "--op", "mul", "--device", "cuda", "--out", str(out), *TINY])
    assert "no CUDA GPU" in assert_error_line(train, (2,))
    assert not out.exists()  # refused before anything was written
    for command in (["eval", str(mul_run)], ["extrapolate", str(mul_run)]):
        for device in ("cuda", "cuda:1"):
            result = runner.invoke(app, [*command, "--device", device])
            assert f"device {device!r} is not available" in assert_error_line(result, (2,), command)
    bad = runner.invoke(app, ["eval", str(mul_run), "--device", "gpu"])
    assert "must be auto, cpu, cuda or cuda:N" in assert_error_line(bad, (2,))
    sub = run_nalu("train", "--op", "mul", "--device", "cuda:0", "--out", str(out), *TINY)
    assert sub.returncode == 2 and sub.stderr.startswith("Error: device 'cuda:0' is not available")
    assert sub.stderr.count("\n") == 1 and sub.stdout == ""


def test_device_auto_says_what_it_chose_with_verbose(mul_run: Path) -> None:
    chosen = "cuda" if torch.cuda.is_available() else "cpu"
    for command in ("eval", "extrapolate"):
        result = runner.invoke(app, ["-v", command, str(mul_run), "--device", "auto", "--samples", "128"])
        assert result.exit_code == 0, result.output
        assert f"device: {chosen} (auto: " in result.stderr
        quiet = runner.invoke(app, [command, str(mul_run), "--device", "auto", "--samples", "128"])
        assert "device:" not in quiet.stderr
    data = json.loads(runner.invoke(app, ["eval", str(mul_run), "--json", "--samples", "128"]).stdout)
    assert data["device"] == "cpu"  # eval defaults to the CPU: the numbers of the README on any machine


# -- --check and exit codes ---------------------------------------------------------------------------------


def test_check_passes_a_solved_run_and_fails_an_unsolved_one(mul_run: Path, mixed_run: Path) -> None:
    for command in ("eval", "extrapolate"):
        ok = runner.invoke(app, [command, str(mul_run), "--check", "--samples", "256"])
        assert ok.exit_code == 0, ok.output
        bad = runner.invoke(app, [command, str(mixed_run), "--check", "--samples", "256"])
        assert bad.exit_code == 3, bad.output
        assert bad.stderr.startswith("Error: --check: 2 of 2 seeds not solved") and bad.stderr.count("\n") == 1
        assert "┃" in bad.stdout  # the table is printed before the verdict
        plain = runner.invoke(app, [command, str(mixed_run), "--samples", "256"])
        assert plain.exit_code == 0  # without --check an unsolved run is a result, not a failure


def test_train_check_exit_code_as_a_subprocess(tmp_path: Path) -> None:
    solved = run_nalu("train", "--op", "mul", "--check", "--out", str(tmp_path / "a"), *TINY)
    assert solved.returncode == 0, solved.stderr
    unsolved = run_nalu(
        "train", "--op", "mul", "--unit", "nac_add", "--check", "--json", "--out", str(tmp_path / "b"), *TINY
    )
    assert unsolved.returncode == 3, unsolved.stderr
    report = json.loads(unsolved.stdout)
    assert report["solved"] == 0  # the JSON is still printed, whole
    assert report["warnings"][0].startswith("nac_add cannot represent mul")  # the warning printed before training
    warning, error = unsolved.stderr.strip().splitlines()  # the recipe book's warning, then the verdict
    assert warning.startswith("Warning: nac_add cannot represent mul exactly")
    assert error == "Error: --check: 1 of 1 seeds not solved on U[10,100] (seed 0)"


def test_every_seed_diverged_exits_1(tmp_path: Path) -> None:
    args = ["train", "--op", "add", "--unit", "nac_add", "--interpolation", "1e25,1e30", "--lr", "100"]
    result = runner.invoke(app, [*args, "--seeds", "3", "--steps", "50", "--out", str(tmp_path / "r")])
    err = assert_error_line(result, (1,))
    assert err.startswith("Error: training diverged: all 3 seeds produced NaN/Inf")
    assert "diverged at step" in result.stdout  # the table says where each seed diverged


def test_outcome_rules() -> None:
    def seed(solved: bool, diverged: int | None = None) -> dict[str, object]:
        return {"seed": 0, "solved": solved, "diverged_at": diverged}

    train = {"command": "train", "extrapolation": "U[10,100]"}
    assert outcome(train | {"seeds": [seed(True)]}, check=True) == (0, None)
    assert outcome(train | {"seeds": [seed(False), seed(False, 5)]})[0] == 0  # one seed trained on
    assert outcome(train | {"seeds": [seed(False, 5), seed(False, 9)]})[0] == 1
    assert outcome(train | {"seeds": [seed(True), seed(False)]}, check=True)[0] == 3
    ranges = {"command": "extrapolate", "seeds": [{"seed": 0, "ranges": [{"solved": True}, {"solved": False}]}]}
    assert outcome(ranges)[0] == 0 and outcome(ranges, check=True)[0] == 3


def test_exit_codes_are_documented() -> None:
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert "3 --check found an unsolved seed" in result.stdout
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert "| 3 |" in readme and "--check" in readme


# -- flags, hints -------------------------------------------------------------------------------------------


def test_flags_show_no_metavar() -> None:
    for command in (["runs"], ["train"], ["inspect-weights"], []):
        result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
        assert result.exit_code == 0
        assert "<bool>" not in result.stdout, command
        assert "<path>" in result.stdout or not command or command == ["train"]


def test_runs_json_true_is_not_a_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["runs", "--json", "true"])
    assert "--json and --reverse are flags and take no value" in assert_error_line(result, (2,))


def test_install_hints_name_the_extras() -> None:
    for command, extra in (("plot", "plot"), ("export-tb", "tb")):
        text = run_nalu(command, "--help").stdout
        flat = " ".join(text.replace("│", " ").split())
        assert f"pip install 'nalu[{extra}]'" in flat, flat
        assert f"pip install -e '.[{extra}]'" in flat, flat
    sweep = " ".join(run_nalu("sweep", "--help").stdout.replace("│", " ").split())
    assert "pip install 'nalu[ray]'" in sweep
