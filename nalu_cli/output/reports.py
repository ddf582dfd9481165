"""What the commands report, as plain data: train summaries, evaluations, ladders, weight readouts.

Each function rebuilds what it needs from a run (its checkpoint's own config) and returns a dict that
``render`` turns into tables and ``--json`` prints as it is.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch

from nalu_cli import rng
from nalu_cli.errors import ConfigError, NaluError
from nalu_cli.readouts.formula import formula_fields
from nalu_cli.readouts.sequence import read_any_formula
from nalu_cli.readouts.tokens import read_tokens
from nalu_cli.runs.run import Run
from nalu_cli.tasks.ops import Ranges, format_ranges
from nalu_cli.tasks.recurrent import RecurrentTask
from nalu_cli.training.build import PROBE_SAMPLES, resolve_device
from nalu_cli.training.evaluate import evaluate_range, ladder_ranges
from nalu_cli.training.report import outcome as outcome  # re-exported: callers and tests name it here
from nalu_cli.training.trainer import Trainer

T = TypeVar("T")


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


def _check_ranges(trainer: Trainer, ranges: list[Ranges]) -> None:
    problems = []
    for r in ranges:
        problems += trainer.task.kind.check_domain(trainer.task.op, r, f"--range {format_ranges(r)}")
    if problems:
        raise ConfigError(problems)


def _eval_ranges(
    trainer: Trainer, data: dict[str, Any], labelled: list[tuple[dict[str, Any], Ranges]], samples: int
) -> list[dict[str, Any]]:
    selected = _selected(trainer, data)
    labelled = [_with_length(trainer, label, r) for label, r in labelled]
    per_range = [
        (
            label,
            evaluate_range(
                trainer.model,
                _task_at(trainer, label),
                trainer.task_seeds,
                r,
                samples,
                trainer.config.eval.solved_eps,
                rng.STREAM_TEST,
                trainer.dtype,
            ),
        )
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


def _task_at(trainer: Trainer, label: dict[str, Any]) -> Any:
    """The run's task, at the sequence length the label names (recurrent mode)."""
    task = trainer.task
    return task.at_length(label["length"]) if "length" in label and isinstance(task, RecurrentTask) else task


def _with_length(trainer: Trainer, label: dict[str, Any], r: Ranges) -> tuple[dict[str, Any], Ranges]:
    """Recurrent runs: every row says its sequence length, in ``length`` and in the range text."""
    task = trainer.task
    if not isinstance(task, RecurrentTask):
        return label, r
    length = label.get("length", task.length_for(r))
    where = format_ranges(r) if task.kind.value_ranges else "test images"
    return label | {"length": length, "range": f"{where} · T={length}"}, r


def _length_ladder(trainer: Trainer, ladder: list[tuple[float, Ranges]]) -> list[tuple[dict[str, Any], Ranges]]:
    """Every ladder range at every length of ``eval.lengths`` (recurrent mode), else the ranges alone."""
    if not isinstance(trainer.task, RecurrentTask):
        return [({"factor": f}, r) for f, r in ladder]
    return [({"factor": f, "length": n}, r) for n in trainer.config.eval.lengths for f, r in ladder]


def eval_report(
    run: str | Path, ranges: list[Ranges] | None, samples: int | None, device: str = "cpu"
) -> dict[str, Any]:
    """Errors of a run on its own interpolation/extrapolation ranges or on the ``ranges`` given.

    ``device`` is ``cpu``, ``cuda``, ``cuda:N`` or ``auto``; a CUDA device that is not there is a ``ConfigError``.
    """
    chosen = resolve_device(device)
    trainer, data = Trainer.from_run(Run.open(run), chosen)
    digits = not trainer.task.kind.value_ranges  # digit images: no value range to name
    labelled: list[tuple[dict[str, Any], Ranges]]
    if ranges and digits:
        raise ConfigError("--range: a digits run reads images, not values from a range; eval shows its test images")
    if ranges:
        _check_ranges(trainer, ranges)
        labelled = [({"name": "custom"}, r) for r in ranges]
    elif digits:  # test images at the training length and at the extrapolation length
        t = trainer.config.task
        labelled = [
            ({"name": "interpolation", "length": t.length}, trainer.task.interpolation),
            ({"name": "extrapolation", "length": t.extrapolation_length}, trainer.task.extrapolation),
        ]
    else:
        labelled = [
            ({"name": "interpolation"}, trainer.task.interpolation),
            ({"name": "extrapolation"}, trainer.task.extrapolation),
        ]
    n = samples or trainer.config.eval.samples
    return {
        "command": "eval",
        "run": str(run),
        "describe": trainer.config.describe(),
        "step": data["step"],
        "samples": n,
        "device": str(chosen),
        "seeds": _eval_ranges(trainer, data, labelled, n),
    }


def extrapolate_report(
    run: str | Path, factors: list[float] | None, samples: int | None, device: str = "cpu"
) -> dict[str, Any]:
    """Errors on the interpolation range scaled by each factor (×1, ×10, ×100, ×1000 by default)."""
    chosen = resolve_device(device)
    trainer, data = Trainer.from_run(Run.open(run), chosen)
    if not trainer.task.kind.value_ranges:  # digit images: no value range to scale
        if factors:
            raise ConfigError(
                "--factors: a digits run has no value range to scale; extrapolate walks the sequence lengths"
                " of eval.lengths (set them with --set eval.lengths=[1,10,100,1000] when training)"
            )
        factors = [1.0]
    ladder = ladder_ranges(trainer.task, factors or trainer.config.eval.ladder)
    _check_ranges(trainer, [r for _, r in ladder])
    n = samples or trainer.config.eval.samples
    labelled = _length_ladder(trainer, ladder)
    return {
        "command": "extrapolate",
        "run": str(run),
        "describe": trainer.config.describe(),
        "step": data["step"],
        "samples": n,
        "device": str(chosen),
        "seeds": _eval_ranges(trainer, data, labelled, n),
    }


def _matrix(t: torch.Tensor) -> list[Any]:
    return t.to(torch.float64).tolist()


def inspect_report(run: str | Path, raw: bool = False, seeds: list[int] | None = None) -> dict[str, Any]:
    """Effective weights (and raw parameters with ``raw``), mean gates and the formula per seed."""
    trainer, data = Trainer.from_run(Run.open(run))
    selected = _selected(trainer, data)
    if seeds is not None:
        unknown = [s for s in seeds if s not in trainer.members.seeds]
        if unknown:
            raise ConfigError(
                f"seed {unknown[0]} is not in this run (it has {', '.join(map(str, trainer.members.seeds))})"
            )
        selected = [t for t in selected if t[0] in seeds]
    probe = trainer.probe()  # [M, B, I], from the training range
    inputs = trainer.model.forward_with_inputs(probe)
    far = trainer.task.sample_inputs(
        trainer.task_seeds, rng.STREAM_PROBE, 0, PROBE_SAMPLES, trainer.task.extrapolation, trainer.dtype
    )  # [M, B, I], from the extrapolation range
    far_inputs = trainer.model.forward_with_inputs(far)
    stored = {r["seed"]: r for r in data.get("results") or [] if isinstance(r, dict) and "seed" in r}
    target = trainer.task.kind.target_expression(trainer.task.op)
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
            gate = unit.gate(inputs[index])  # [M, B, O] or None
            far_gate = unit.gate(far_inputs[index])  # [M, B, O] or None
            # the mean gate per output on a probe batch from each range: a gate that is 1 on the training
            # range and drifts on the extrapolation range explains a run that fits but does not extrapolate
            layer["gate_mean"] = gate[member].mean(dim=0).tolist() if gate is not None else None
            layer["gate_mean_extrapolation"] = far_gate[member].mean(dim=0).tolist() if far_gate is not None else None
            layers.append(layer)
        readout = read_any_formula(trainer.model, member, probe, inputs)
        solved = bool(stored.get(seed, {}).get("solved", False))
        fields = formula_fields(readout, solved, target)
        entry = {
            "seed": seed,
            "restart": restart,
            "layers": layers,
            "solved": solved,
            **fields,
            "exact": fields["formula_exact"],
            "reason": readout.reason,
        }
        if getattr(readout, "wiring", None):
            entry["recurrent"] = readout.wiring  # per hidden unit: weights from h_{t-1} and from x_t
        tokens = read_tokens(trainer.model, trainer.task, member)  # text kinds: what each token is worth
        if tokens is not None:
            entry["tokens"], entry["places"] = tokens["tokens"], tokens["places"]
        out_seeds.append(entry)
    return {
        "command": "inspect-weights",
        "run": str(run),
        "describe": trainer.config.describe(),
        "step": data["step"],
        "interpolation": format_ranges(trainer.task.interpolation),
        "extrapolation": format_ranges(trainer.task.extrapolation),
        "seeds": out_seeds,
    }


FLAG_VALUES = ("true", "false", "yes", "no", "on", "off", "1", "0")  # what someone may write after a flag


def runs_report(directory: str | Path, sort: str = "name", reverse: bool = False) -> dict[str, Any]:
    """Every run directory under ``directory`` with its stored results (no re-evaluation)."""
    from nalu_cli.runs.catalogue import find_run_dirs, sort_rows, summarize_run

    root = Path(directory)
    if not root.exists() and str(directory).lower() in FLAG_VALUES:
        raise ConfigError(
            f"no directory {str(directory)!r}: --json and --reverse are flags and take no value"
            " (nalu runs --json, or nalu runs DIR --json)"
        )
    rows = [summarize_run(p, root) for p in find_run_dirs(root)]
    return {
        "command": "runs",
        "directory": str(root),
        "sort": sort,
        "reverse": reverse,
        "broken": sum(1 for r in rows if r["status"] == "broken"),
        "runs": sort_rows(rows, sort, reverse),
    }


# the results of a run that has none yet (unfinished): the same keys as ``summarize_results``, for stable JSON
NO_RESULTS: dict[str, Any] = {
    "interp_mse": math.nan,
    "extrap_mse": math.nan,
    "solved": 0,
    "total": 0,
    "solved_at": None,
    "formula": None,
    "formula_count": 0,
}


def _compare_config(run: Run) -> tuple[dict[str, Any], dict[str, Any]]:
    """(config as stored, with the effective seeds and restarts; raw checkpoint data), for ``compare``.

    The whole checkpoint is checked (config valid and matching config.yaml, weights matching it and
    finite), as ``eval`` would: a comparison never shows a run that could not be loaded.
    """
    _, data = Trainer.from_run(run)
    config = {k: dict(v) if isinstance(v, dict) else v for k, v in data["config"].items()}
    train = dict(config.get("train") or {})
    # train.seed / train.seeds are two spellings of one thing; compare the effective list.
    train.pop("seed", None)
    train["seeds"] = list(data["seeds"].get("seeds", []))
    config["train"] = train
    return config, data


def compare_report(runs: list[str | Path]) -> dict[str, Any]:
    """The config keys that differ between ``runs`` and each run's stored results, side by side."""
    from nalu_cli.errors import CheckpointError
    from nalu_cli.runs.catalogue import config_differences, malformed_results, summarize_results

    if len(runs) < 2:
        raise ConfigError("compare needs at least two runs")

    def one(run: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
        config, data = _compare_config(Run.open(run))
        problem = malformed_results(data.get("results") or [])
        if problem is not None:
            raise CheckpointError(f"{str(run)!r}: checkpoint is malformed: {problem}")
        return config, data

    configs, rows = [], []
    readable, skipped = each_run(runs, one, need=2)
    for run, (config, data) in readable:
        configs.append(_units_as_list(config))
        results = [r for r in data.get("results") or [] if isinstance(r, dict)]
        rows.append(
            {
                "run": str(run),
                "name": Path(run).name if Path(run).is_dir() else Path(run).parent.name,
                "describe": _describe_config(config),
                "steps": data["step"],
                "finished": bool(data.get("finished")),
                "seeds": list(data["seeds"].get("seeds", [])),
                **(summarize_results(results) if results else NO_RESULTS),
            }
        )
    names = [r["name"] for r in rows]
    for r in rows:  # two runs with one directory name (a/run, b/run) need their paths to be told apart
        if names.count(r["name"]) > 1:
            r["name"] = r["run"]
    return {"command": "compare", "differences": config_differences(configs), "runs": rows, "skipped": skipped}


def each_run(
    runs: list[Any], fn: Callable[[Any], T], need: int = 1
) -> tuple[list[tuple[Any, T]], list[dict[str, str]]]:
    """``fn(run)`` for each run, skipping runs that cannot be read (broken checkpoint, disagreeing files).

    Returns ((run, result) pairs, skipped runs as ``{"run", "error"}``). When fewer than ``need`` runs could
    be read, nothing can be done: the first failure is raised as it is. Usage errors are never skipped.
    """
    done: list[tuple[Any, T]] = []
    skipped: list[dict[str, str]] = []
    first: NaluError | None = None
    for run in runs:
        try:
            done.append((run, fn(run)))
        except ConfigError:
            raise
        except NaluError as err:
            first = first or err
            skipped.append({"run": str(run), "error": str(err)})
    if len(done) < need and first is not None:
        raise first
    return done, skipped


def _units_as_list(config: dict[str, Any]) -> dict[str, Any]:
    """``model.unit`` as one name per layer, whether the config wrote ``nmu`` or ``[nau, nmu]`` (stable JSON)."""
    from nalu_cli.config.resolve import validate

    model = config.get("model")
    if not isinstance(model, dict):
        return config
    try:
        units: Any = validate(config).model.units()
    except ConfigError:
        unit = model.get("unit")
        units = unit if isinstance(unit, list) else [unit]
    return {**config, "model": {**model, "unit": units}}


def _describe_config(config: dict[str, Any]) -> str:
    from nalu_cli.config.resolve import validate

    try:
        return validate(config).describe()
    except ConfigError:
        return "(config not readable by this nalu)"


PLOT_METRICS = ("mse", "mae", "rel_err")


def plot_factors(ladder: list[float], per_decade: int = 4) -> list[float]:
    """Log-spaced factors from the smallest to the largest ladder factor (``per_decade`` per power of 10)."""
    lo, hi = math.log10(min(ladder)), math.log10(max(ladder))
    n = max(2, round((hi - lo) * per_decade) + 1)
    return [10 ** (lo + (hi - lo) * i / (n - 1)) for i in range(n)] if hi > lo else [10**lo]


def _stats(values: list[float]) -> dict[str, float]:
    finite = [v for v in values if math.isfinite(v)]
    return {
        # NaN counts as +inf so a failed seed never makes the median look better
        "median": float(statistics.median(math.inf if math.isnan(v) else v for v in values)) if values else math.nan,
        "min": min(finite) if finite else math.nan,
        "max": max(finite) if finite else math.nan,
    }


def plot_report(
    runs: list[str | Path], factors: list[float] | None = None, samples: int | None = None, metric: str = "mse"
) -> dict[str, Any]:
    """Data for ``nalu plot``: each run's training history (metrics log) and error against input magnitude.

    The error curve evaluates the run on its interpolation range scaled by many factors (log-spaced across
    the run's ladder unless ``factors`` are given); magnitude is the largest |input| of each scaled range.
    """
    if metric not in PLOT_METRICS:
        from nalu_cli.config.schema import did_you_mean

        raise ConfigError(
            f"unknown metric {metric!r}{did_you_mean(metric, PLOT_METRICS)} (choose from {', '.join(PLOT_METRICS)})"
        )

    def one(run: str | Path) -> dict[str, Any]:
        opened = Run.open(run)
        trainer, data = Trainer.from_run(opened)
        run_factors = factors or plot_factors(trainer.config.eval.ladder)
        ladder = ladder_ranges(trainer.task, run_factors)
        _check_ranges(trainer, [r for _, r in ladder])
        n = samples or min(trainer.config.eval.samples, 2000)
        top = max(max(abs(lo), abs(hi)) for lo, hi in trainer.task.interpolation)
        x_axis = "magnitude"
        if isinstance(trainer.task, RecurrentTask):
            # recurrent runs: error against sequence length, on the training range (1 → the longest eval length)
            lengths = sorted({max(1, round(v)) for v in plot_factors([1, max(trainer.config.eval.lengths)], 3)})
            labelled = [({"factor": 1.0, "length": L}, trainer.task.interpolation) for L in lengths]
            seeds = _eval_ranges(trainer, data, labelled, n)
            ladder = [(float(L), trainer.task.interpolation) for L in lengths]
            top, x_axis = float(trainer.task.length), "sequence length"
        else:
            seeds = _eval_ranges(trainer, data, [({"factor": f}, r) for f, r in ladder], n)
        points = []
        for i, (f, _) in enumerate(ladder):
            point: dict[str, Any] = {"factor": f, "magnitude": top * f if x_axis == "magnitude" else f}
            point |= _stats([s["ranges"][i][metric] for s in seeds])
            point["threshold"] = (
                _stats([s["ranges"][i]["threshold"] for s in seeds])["median"] if metric == "mse" else None
            )
            point["solved"] = sum(1 for s in seeds if s["ranges"][i]["solved"])
            points.append(point)
        history = []
        for line in opened.metrics():
            if "loss_median" not in line:
                continue  # e.g. the line a diverged run writes
            item = {k: line.get(k) for k in ("step", "loss_median", "valid_mse_median", "extrap_mse_median")}
            if isinstance(line.get("loss"), list) and line["loss"]:
                losses = [float(v) for v in line["loss"] if isinstance(v, (int, float))]
                finite = [v for v in losses if math.isfinite(v)]
                item["loss_min"] = min(finite) if finite else None
                item["loss_max"] = max(finite) if finite else None
            history.append(item)
        stored = [r for r in data.get("results") or [] if isinstance(r, dict)]
        return {
            "run": str(run),
            "label": opened.name,
            "describe": trainer.config.describe(),
            "step": data["step"],
            "solved": sum(1 for r in stored if r.get("solved") is True),  # as stored when training finished
            "total": len(stored),
            "seeds": len(seeds),
            "samples": n,
            "interpolation": [list(iv) for iv in trainer.task.interpolation],
            "train_magnitude": top,
            "x_axis": x_axis,  # what "magnitude" measures: input magnitude, or sequence length (recurrent)
            "history": history,
            "ladder": points,
        }

    readable, skipped = each_run(runs, one)
    out = [r for _, r in readable]
    labels = [r["label"] for r in out]
    for r in out:  # two runs with one directory name (a/run, b/run) need their paths to be told apart
        if labels.count(r["label"]) > 1:
            r["label"] = r["run"]
    return {"command": "plot", "metric": metric, "runs": out, "skipped": skipped}
