"""What the commands report, as plain data: train summaries, evaluations, ladders, weight readouts.

Each function rebuilds what it needs from a run (its checkpoint's own config) and returns a dict that
``render`` turns into tables and ``--json`` prints as it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from nalu_cli import rng
from nalu_cli.errors import ConfigError
from nalu_cli.evaluate import evaluate_range, ladder_ranges
from nalu_cli.formula import read_formula
from nalu_cli.tasks import Ranges, check_domain, format_ranges
from nalu_cli.train import Trainer, TrainResult, load_run


def _selected(trainer: Trainer, data: dict[str, Any]) -> list[tuple[int, int, int]]:
    """(seed, member, restart) of each reported seed: the selected restart when a run has several."""
    by_seed = {r["seed"]: r for r in data.get("results") or [] if isinstance(r, dict)}
    k = trainer.members.restarts
    out = []
    for i, seed in enumerate(trainer.members.seeds):
        member = by_seed.get(seed, {}).get("member", i * k)
        if not isinstance(member, int) or not i * k <= member < (i + 1) * k:
            member = i * k
        out.append((seed, member, member - i * k))
    return out


def train_report(result: TrainResult) -> dict[str, Any]:
    """The summary of a training run (what ``nalu train`` prints)."""
    cfg = result.config
    return {
        "command": "train",
        "describe": cfg.describe(),
        "op": cfg.task.op,
        "units": cfg.model.units(),
        "interpolation": format_ranges(cfg.task.interpolation),
        "extrapolation": format_ranges(cfg.task.extrapolation),
        "steps": result.step,
        "restarts": cfg.train.restarts,
        "interrupted": result.interrupted,
        "device": result.device,
        "elapsed": result.elapsed,
        "run_dir": str(result.run_dir) if result.run_dir else None,
        "solved": result.solved_count,
        "total": len(result.seeds),
        "seeds": result.seeds,
        "warnings": result.warnings,
    }


def _check_ranges(trainer: Trainer, ranges: list[Ranges]) -> None:
    problems = []
    for r in ranges:
        problems += check_domain(trainer.task.op, trainer.task.mode, r, f"--range {format_ranges(r)}")
    if problems:
        raise ConfigError(problems)


def _eval_ranges(trainer: Trainer, data: dict[str, Any], labelled: list[tuple[dict[str, Any], Ranges]], samples: int) -> list[dict[str, Any]]:
    selected = _selected(trainer, data)
    per_range = [
        (label, evaluate_range(trainer.model, trainer.task, trainer.task_seeds, r, samples, trainer.config.eval.solved_eps, rng.STREAM_TEST, trainer.dtype))
        for label, r in labelled
    ]
    seeds = []
    for seed, member, restart in selected:
        seeds.append(
            {
                "seed": seed,
                "restart": restart,
                "ranges": [metrics.row(member) | label for label, metrics in per_range],
            }
        )
    return seeds


def eval_report(run: str | Path, ranges: list[Ranges] | None, samples: int | None) -> dict[str, Any]:
    """Errors of a run on its own interpolation/extrapolation ranges or on the ``ranges`` given."""
    trainer, data = load_run(run)
    if ranges:
        _check_ranges(trainer, ranges)
        labelled = [({"name": "custom"}, r) for r in ranges]
    else:
        labelled = [({"name": "interpolation"}, trainer.task.interpolation), ({"name": "extrapolation"}, trainer.task.extrapolation)]
    n = samples or trainer.config.eval.samples
    return {
        "command": "eval",
        "run": str(run),
        "describe": trainer.config.describe(),
        "step": data["step"],
        "samples": n,
        "seeds": _eval_ranges(trainer, data, labelled, n),
    }


def extrapolate_report(run: str | Path, factors: list[float] | None, samples: int | None) -> dict[str, Any]:
    """Errors on the interpolation range scaled by each factor (×1, ×10, ×100, ×1000 by default)."""
    trainer, data = load_run(run)
    ladder = ladder_ranges(trainer.task, factors or trainer.config.eval.ladder)
    _check_ranges(trainer, [r for _, r in ladder])
    n = samples or trainer.config.eval.samples
    labelled = [({"factor": f}, r) for f, r in ladder]
    return {
        "command": "extrapolate",
        "run": str(run),
        "describe": trainer.config.describe(),
        "step": data["step"],
        "samples": n,
        "seeds": _eval_ranges(trainer, data, labelled, n),
    }


def _matrix(t: torch.Tensor) -> list[Any]:
    return t.to(torch.float64).tolist()


def inspect_report(run: str | Path, raw: bool = False, seeds: list[int] | None = None) -> dict[str, Any]:
    """Effective weights (and raw parameters with ``raw``), mean gates and the formula per seed."""
    trainer, data = load_run(run)
    selected = _selected(trainer, data)
    if seeds is not None:
        unknown = [s for s in seeds if s not in trainer.members.seeds]
        if unknown:
            raise ConfigError(f"seed {unknown[0]} is not in this run (it has {', '.join(map(str, trainer.members.seeds))})")
        selected = [t for t in selected if t[0] in seeds]
    probe = trainer.probe()
    inputs = trainer.model.forward_with_inputs(probe)
    out_seeds = []
    for seed, member, restart in selected:
        layers = []
        for index, unit in enumerate(trainer.model.units):
            layer: dict[str, Any] = {
                "index": index,
                "unit": type(unit).__name__,
                "in": unit.in_features,
                "out": unit.out_features,
                "weights": {k: _matrix(v[member]) for k, v in unit.effective_weights().items()},
            }
            if raw:
                layer["raw"] = {k: _matrix(p.detach()[member]) for k, p in unit.named_parameters()}
            gate = unit.gate(inputs[index])
            layer["gate_mean"] = gate[member].mean(dim=0).tolist() if gate is not None else None
            layers.append(layer)
        readout = read_formula(trainer.model, member, probe)
        out_seeds.append(
            {"seed": seed, "restart": restart, "layers": layers, "formula": readout.formula, "reason": readout.reason}
        )
    return {
        "command": "inspect-weights",
        "run": str(run),
        "describe": trainer.config.describe(),
        "step": data["step"],
        "seeds": out_seeds,
    }
