"""``train.dtype: float64``: the guarantees float32 runs have hold in float64 too.

A seed trained in a batch of seeds equals the same seed trained alone, bit for bit; a stopped run resumed
ends where the uninterrupted run ends; two processes give the same floats. And the run really is float64:
weights, optimiser state and checkpoint (a float32 run would pass the equalities above as well).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from nalu_cli.runs.checkpoint import CHECKPOINT_NAME, load_checkpoint
from nalu_cli.training.loop import train
from nalu_cli.training.trainer import Trainer
from tests.conftest import assert_member_equals_alone, run_nalu, tiny_config

F64 = {"train.dtype": "float64", "train.restarts": 1}

CASES = [
    ("div", {"model.unit": "nmru", "model.hidden": [], "task.mode": "pair"}),  # NMRU with clip_grad (recipe)
    ("mul", {"model.unit": ["nau", "nmu"], "model.hidden": [2], "task.mode": "static"}),
    ("div", {"model.unit": ["nau", "nmru"], "model.hidden": [2], "task.mode": "static"}),
    ("add", {"model.unit": ["nac_add", "nac_add"], "model.hidden": [2], "task.mode": "static"}),
    ("div", {"model.unit": "nac_mul", "model.hidden": [], "task.mode": "pair"}),
]


def run_steps(op: str, overrides: dict[str, object], seeds: list[int], n: int) -> Trainer:
    trainer = Trainer(tiny_config(op, **F64, **overrides, **{"train.seeds": seeds}), torch.device("cpu"))
    for _ in range(n):
        trainer.train_step()
    return trainer


@pytest.mark.parametrize(("op", "overrides"), CASES)
def test_float64_batched_seeds_are_bit_identical_to_training_alone(op: str, overrides: dict[str, object]) -> None:
    together = run_steps(op, overrides, [4, 0, 9], 60)
    alone = run_steps(op, overrides, [0], 60)
    assert all(p.dtype == torch.float64 for p in together.model.parameters())
    assert all(m.dtype == torch.float64 for m in together.optimizer.m)
    assert_member_equals_alone(together, alone, 1)
    for m_all, m_one in zip(together.optimizer.m, alone.optimizer.m, strict=True):
        assert torch.equal(m_all[1], m_one[0])


def test_float64_resume_is_bit_identical(tmp_path: Path) -> None:
    cfg = tiny_config(
        "div",
        **F64,
        **{"model.unit": ["nau", "nmru"], "model.hidden": [2], "task.mode": "static", "train.seeds": [0, 1]},
        **{"train.steps": 150, "train.log_every": 50},
    )
    straight = train(cfg, tmp_path / "a")
    calls = {"n": 0}

    def stop() -> bool:
        calls["n"] += 1
        return calls["n"] > 70

    first = train(cfg, tmp_path / "b", should_stop=stop)
    assert first.interrupted and first.step < 150
    resumed = train(cfg, tmp_path / "b", resume=True)
    a = load_checkpoint(tmp_path / "a" / CHECKPOINT_NAME)["model"]
    b = load_checkpoint(tmp_path / "b" / CHECKPOINT_NAME)["model"]
    assert a.keys() == b.keys()
    assert all(a[k].dtype == torch.float64 and torch.equal(a[k], b[k]) for k in a)
    assert [s["extrapolation"]["mse"] for s in straight.seeds] == [s["extrapolation"]["mse"] for s in resumed.seeds]


def test_float64_runs_are_deterministic_across_processes(tmp_path: Path) -> None:
    args = ["train", "--op", "div", "--unit", "nmru", "--seeds", "0-2", "--steps", "200", "--json"]
    args += ["--set", "train.dtype=float64"]
    a = run_nalu(*args, "--out", str(tmp_path / "a"))
    b = run_nalu(*args, "--out", str(tmp_path / "b"))
    assert a.returncode == 0 and b.returncode == 0, (a.stderr, b.stderr)
    ja, jb = json.loads(a.stdout), json.loads(b.stdout)
    assert ja["seeds"] == jb["seeds"]
    ca, cb = (load_checkpoint(tmp_path / r / CHECKPOINT_NAME)["model"] for r in ("a", "b"))
    for key, tensor in ca.items():
        assert tensor.dtype == torch.float64 and torch.equal(tensor, cb[key]), key
