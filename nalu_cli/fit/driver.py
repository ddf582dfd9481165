"""nalu fit's driver: read the table, split rows, run the ladder and baselines, pick the answer, save the run."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nalu_cli import rng
from nalu_cli.errors import CheckpointError, ConfigError, NaluError
from nalu_cli.files import atomic_write_bytes
from nalu_cli.fit.answer import Judge
from nalu_cli.fit.baselines import _err, _linear_text, linear_baseline, linear_predict, mlp_baseline
from nalu_cli.fit.candidates import (
    EQUAL_ERROR,
    MAX_STEPS,
    PATIENCE,
    POSITIVE_UNITS,
    RETRY_PATIENCE,
    Candidate,
    _formula_eval,
    _mse,
    _predict,
    _valid_mse,
    ladder,
    rename,
    train_candidate,
)
from nalu_cli.fit.closed import Proposal, proposals
from nalu_cli.fit.table import Table, holdout_split, load_table
from nalu_cli.models.arithmetic import ArithmeticModel
from nalu_cli.readouts.formula import read_formula
from nalu_cli.runs.checkpoint import load_checkpoint, save_checkpoint
from nalu_cli.runs.run import FIT_JSON, FIT_WEIGHTS, RUN_FILES
from nalu_cli.units.base import UnitOptions

Progress = Callable[[str, int, int], None]  # (stage, done, total)
MLP_ROWS = 2_000  # training rows the MLP baseline sees at most (a fixed sample of a larger table)
READ_ROWS = 4_096  # training rows that feed gates for the formula readout at most
VALID_ROWS = 20_000  # validation rows that steer training at most (every row still scores the answer)
CLOSED_LABELS = {
    "product": "log-space least squares",
    "linear": "linear least squares",
    "quadratic": "quadratic least squares",
    "sum": "sparse least squares",
    "ratio": "ratio least squares",
}


def fit(
    data: str | Path,
    target: str,
    *,
    inputs: list[str] | None = None,
    test: str | Path | None = None,
    holdout: float = 0.2,
    units: list[str] | None = None,
    hidden: list[int] | None = None,
    members: int = 8,
    steps: int | None = None,
    seed: int = 0,
    out: Path | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Fit ``target`` from the other columns of ``data``; returns the report (and writes ``out`` if given).

    ``progress(stage, done, total)`` is called as the fit moves on (reading, baselines, closed-form answers,
    each candidate), for a progress bar."""
    started = time.perf_counter()
    note = progress or _silent
    note("reading the table", 0, 1)
    table = load_table(data, target, inputs)
    warnings = list(table.warnings)
    if test is not None:
        held = load_table(test, target, like=table)
        kept_table = table
    else:
        kept, out_rows = holdout_split(table, holdout)
        held, kept_table = table.select(out_rows), table.select(kept)
    positive = bool(np.all(kept_table.x > 0) and np.all(held.x > 0))
    if units is not None:
        cands = [
            Candidate(units if len(units) == len(hidden or []) + 1 else units * (len(hidden or []) + 1), hidden or [])
        ]
        if any(u in POSITIVE_UNITS for u in cands[0].units) and not positive:
            col, row = _first_non_positive(kept_table, held)
            raise ConfigError(
                f"unit {'/'.join(u for u in cands[0].units if u in POSITIVE_UNITS)} needs positive inputs, but column {col!r} is {row}"
            )
    else:
        cands = ladder(len(table.inputs), positive)
        if not positive:
            warnings.append("some inputs are 0 or negative: ratio stacks (NAC•, which take log |x|) are not tried")
    rs = np.random.default_rng(seed)
    order = rs.permutation(len(kept_table.y))
    n_valid = max(1, len(order) // 5)
    tr, va = np.sort(order[n_valid:]), np.sort(order[:n_valid])
    x_tr, y_tr = kept_table.x[tr], kept_table.y[tr]
    x_va, y_va = kept_table.x[va], kept_table.y[va]
    splits = {"train": (x_tr, y_tr), "valid": (x_va, y_va), "heldout": (held.x, held.y)}
    names = table.inputs
    note("baselines", 0, 1)
    coef = linear_baseline(x_tr, y_tr)
    mlp = mlp_baseline(*_sample(x_tr, y_tr, MLP_ROWS, seed), seed)
    mlp_valid = _mse(mlp(x_va), y_va)
    yardstick = mlp_valid if units is None else None
    x_vs, y_vs = _sample(x_va, y_va, VALID_ROWS, seed + 3)  # validation rows that steer training (all, if few)
    judge = Judge(x_tr, y_tr, x_va, y_va, mlp_valid, seed)
    entries: list[tuple[int, int, dict[str, Any], ArithmeticModel | None, int, float]] = []
    closed_closest: tuple[float, Proposal] | None = None
    if units is None:
        note("closed-form answers", 0, 1)
        t0 = time.perf_counter()
        hit = None
        for prop in proposals(x_tr, y_tr, seed):
            verdict = judge.verdict(prop.predict)
            if verdict is not None:
                hit = (prop, verdict)
                break
            rel = judge.valid_rel(prop.predict)
            if closed_closest is None or rel < closed_closest[0]:
                closed_closest = (rel, prop)
        if hit is not None:
            prop, verdict = hit
            entry = _closed_entry(prop, verdict, target, names, splits, time.perf_counter() - t0)
            entries.append((0, 0, entry, None, 0, _mse(prop.predict(x_va), y_va)))
            what = "an exact formula" if verdict == "exact" else "a formula whose residuals are only noise"
            warnings.append(f"{what} was found by {entry['stack']}; the ladder of unit stacks was not tried")
            warnings += _constant_warnings(prop, entry["formula"])
            cands = []
    # Pass 1 is quick (stop at the first plateau); only when no candidate reaches an exact or noise-level
    # formula does pass 2 train every candidate again with new members and RETRY_PATIENCE.
    passes: list[tuple[int, int, int | None]] = [(seed, PATIENCE, MAX_STEPS)]
    if steps is None:
        passes.append((seed + 1, RETRY_PATIENCE, None))
    for round_, (member_seed, patience, cap) in enumerate(passes):
        if round_ and any(e[2]["stop"] in ("exact", "noise") for e in entries):
            break
        if round_:
            warnings.append(
                "no candidate reached an exact or noise-level formula on the quick pass; every candidate was"
                f" trained again with new members and a patience of {RETRY_PATIENCE} steps"
            )
        for index, cand in enumerate(cands):
            t0 = time.perf_counter()
            note(f"candidate {cand.label}" + (" (retry)" if round_ else ""), index, len(cands))
            trained = train_candidate(
                cand, x_tr, y_tr, x_vs, y_vs, members, steps, member_seed, yardstick, patience, cap
            )
            model, best, valid = trained.model, trained.best, trained.valid
            if len(y_vs) < len(y_va):  # training saw a sample of the validation rows: score on all of them
                valid = _valid_mse(model, x_va, y_va, torch.from_numpy(np.isfinite(valid)))
                best = int(np.argmin(valid))
            readout = read_formula(model, best, torch.from_numpy(x_tr[:READ_ROWS])[None].expand(valid.shape[0], -1, -1))
            model_err = {k: _err(_predict(model, best, x), y) for k, (x, y) in splits.items()}
            formula_err = {k: _err(_formula_eval(readout.formula, x), y) for k, (x, y) in splits.items()}
            formula = readout.formula
            entry = {
                "stack": cand.label + (" (retry)" if round_ else ""),
                "units": cand.units,
                "hidden": cand.hidden,
                "formula": rename(formula, names).replace("y =", f"{target} =", 1) if formula else None,
                "formula_x": formula,
                "reason": readout.reason,
                "deviation": readout.deviation if readout.discrete else None,
                "model": model_err,
                "formula_errors": formula_err,
                "members_valid_mse": [float(v) for v in valid],
                "steps": trained.steps,
                "stop": trained.stop,
                "seconds": time.perf_counter() - t0,
            }
            # A candidate's validation error: its formula's (evaluated exactly) or its weights', whichever is lower.
            fv = formula_err["valid"]
            score = min(float(valid[best]), fv["mse"] if fv is not None else math.inf)
            entries.append((index, round_, entry, model, best, score))
            if trained.stop in ("exact", "noise") and units is None:
                skipped = [c.label for c in cands[index + 1 :]]
                if skipped:
                    found = (
                        "an exact formula" if trained.stop == "exact" else "a formula whose residuals are only noise"
                    )
                    verb = "were not tried again" if round_ else "were not tried"
                    warnings.append(f"{found} was found; the larger candidates ({', '.join(skipped)}) {verb}")
                break
    entries.sort(key=lambda e: (e[0], e[1]))  # simplest first; a retry right after its first attempt
    results = [e[2] for e in entries]
    models = [(e[3], e[4]) for e in entries]
    valid_mse = [e[5] for e in entries]
    finite = [v for v in valid_mse if math.isfinite(v)]
    if not finite:
        raise NaluError("every candidate diverged (NaN/Inf); check the table's scale")
    best_valid = min(finite)
    chosen = next(i for i, v in enumerate(valid_mse) if v <= best_valid * EQUAL_ERROR + 1e-300)
    chosen, closest = _answer(results, chosen, judge, closed_closest, target, names, splits)
    baselines = {
        "linear": {
            "formula": _linear_text(target, names, coef),
            **{k: _err(linear_predict(coef, x), y) for k, (x, y) in splits.items()},
        },
        "mlp": {"formula": None, **{k: _err(mlp(x), y) for k, (x, y) in splits.items()}},
    }
    note("done", 1, 1)
    report: dict[str, Any] = {
        "command": "fit",
        "data": str(data),
        "test": str(test) if test is not None else None,
        "target": target,
        "inputs": names,
        "rows": {"train": len(y_tr), "valid": len(y_va), "heldout": len(held.y)},
        "heldout": f"rows of {test}" if test is not None else f"the {holdout:g} of rows with the largest inputs",
        "candidates": results,
        "chosen": chosen,
        "formula": results[chosen]["formula"],
        "closest": closest,
        "baselines": baselines,
        "warnings": warnings,
        "elapsed": time.perf_counter() - started,
        "run_dir": str(out) if out is not None else None,
    }
    if out is not None:
        saved, best = models[chosen]
        _save(out, report, saved, best, coef)
    return report


def _silent(stage: str, done: int, total: int) -> None:
    """The default progress callback: nothing."""


def _sample(x: np.ndarray, y: np.ndarray, limit: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``limit`` rows (a fixed random sample of a larger table; every row of a smaller one)."""
    if len(y) <= limit:
        return x, y
    keep = np.sort(np.random.default_rng(seed).choice(len(y), limit, replace=False))
    return x[keep], y[keep]


def _closed_entry(
    prop: Proposal, verdict: str, target: str, names: list[str], splits: dict[str, Any], seconds: float
) -> dict[str, Any]:
    """A closed-form answer as a row of the candidates table (its model is its formula)."""
    formula_x = prop.formula
    errors = {k: _err(prop.predict(x), y) for k, (x, y) in splits.items()}
    return {
        "stack": CLOSED_LABELS[prop.method],
        "units": [CLOSED_LABELS[prop.method]],  # what `nalu runs` shows in its unit column; no unit trains
        "hidden": [],
        "formula": rename(formula_x, names).replace("y =", f"{target} =", 1),
        "formula_x": formula_x,
        "reason": None,
        "deviation": 0.0,
        "model": errors,
        "formula_errors": errors,
        "members_valid_mse": [],
        "steps": 0,
        "stop": verdict,
        "seconds": seconds,
    }


def _constant_warnings(prop: Proposal, formula: str) -> list[str]:
    loose = [c.text.strip("()") for c in prop.constants if not c.pinned]
    if not loose:
        return []
    return [
        f"the constant{'s' if len(loose) > 1 else ''} {', '.join(loose)} in {formula} {'are' if len(loose) > 1 else 'is'}"
        " printed with only the digits the data supports (too few rows or too much noise to pin down more)"
    ]


def _answer(
    results: list[dict[str, Any]],
    chosen: int,
    judge: Judge,
    closed_closest: tuple[float, Proposal] | None,
    target: str,
    names: list[str],
    splits: dict[str, Any],
) -> tuple[int, dict[str, Any] | None]:
    """(the chosen candidate, the closest formula or None): a formula is the answer only when it fits to the
    noise level (``Judge``). When the chosen candidate's does not, the simplest candidate whose formula does is
    chosen; when none does, the chosen candidate's formula is withdrawn (kept as ``rejected_formula``) and the
    closest formula, from any candidate or closed-form search, is returned as such."""
    ok = [
        i
        for i, r in enumerate(results)
        if r["formula_x"]
        and (r["stop"] in ("exact", "noise") and r["stack"] in CLOSED_LABELS.values() or _accepted(r, judge))
    ]
    if chosen in ok:
        return chosen, None
    if ok:
        return ok[0], None
    best: tuple[float, str, str] | None = None  # (validation error, formula, found by)
    for r in results:
        if r["formula_x"]:
            rel = judge.valid_rel(_evaluator(r["formula_x"]))
            if best is None or rel < best[0]:
                best = (rel, r["formula"], r["stack"])
    if closed_closest is not None and (best is None or closed_closest[0] < best[0]):
        prop = closed_closest[1]
        best = (
            closed_closest[0],
            rename(prop.formula, names).replace("y =", f"{target} =", 1),
            CLOSED_LABELS[prop.method],
        )
    entry = results[chosen]
    if entry["formula"]:
        entry["rejected_formula"], entry["formula"] = entry["formula"], None
    if best is None:
        entry["reason"] = f"no formula fits the validation rows to their noise level ({entry['reason'] or 'none read'})"
        return chosen, None
    rel, formula, by = best
    entry["reason"] = (
        f"no formula fits the validation rows to their noise level; the closest, {formula} (from {by}), is off by"
        f" {rel:.3g} there (RMS error / RMS of the target)"
    )
    return chosen, {"formula": formula, "found_by": by, "valid_rel_err": rel}


def _accepted(result: dict[str, Any], judge: Judge) -> bool:
    return judge.verdict(_evaluator(result["formula_x"])) is not None


def _evaluator(formula: str) -> Callable[[np.ndarray], np.ndarray | None]:
    return lambda x: _formula_eval(formula, x)


def _first_non_positive(*tables: Table) -> tuple[str, str]:
    for t in tables:
        bad = np.argwhere(t.x <= 0)
        if len(bad):
            r, c = bad[0]
            return t.inputs[c], f"{t.x[r, c]:g} on line {t.rows[r]} of {t.path}"
    return "?", "?"


def _save(out: Path, report: dict[str, Any], model: ArithmeticModel | None, best: int, coef: np.ndarray) -> None:
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise NaluError(f"cannot create run directory {str(out)!r}: {err.strerror}") from None
    from nalu_cli.runs.lock import RunLock

    lock = RunLock(out).acquire()
    try:
        for name in RUN_FILES:  # --force over a training run: the directory holds the fit alone afterwards
            (out / name).unlink(missing_ok=True)
        _write(out, report, model, best, coef)
    finally:
        lock.release()


def _write(out: Path, report: dict[str, Any], model: ArithmeticModel | None, best: int, coef: np.ndarray) -> None:
    chosen = report["candidates"][report["chosen"]]
    spec = {
        "target": report["target"],
        "inputs": report["inputs"],
        "units": chosen["units"] if model is not None else [],
        "hidden": chosen["hidden"],
        "formula_x": chosen["formula_x"],
        "linear": [float(c) for c in coef],
    }
    # A closed-form answer has no weights: its model is its formula.
    state = {} if model is None else {k: v.detach()[best : best + 1].clone() for k, v in model.state_dict().items()}
    save_checkpoint(
        out / FIT_WEIGHTS, {"config": spec, "model": state, "step": 0, "seeds": {"seeds": [0], "restarts": 1}}
    )
    atomic_write_bytes(out / FIT_JSON, (json.dumps(report, indent=2, default=_json_default) + "\n").encode())


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    raise TypeError(type(value).__name__)


def eval_fit(run: str | Path, data: str | Path) -> dict[str, Any]:
    """Errors of a fitted run (its model, its formula, its linear baseline) on another table."""
    run = Path(run)
    path = run / FIT_WEIGHTS
    if not path.exists():
        raise ConfigError(f"{str(run)!r} is not a fit run (no {FIT_WEIGHTS}); --data evaluates runs made by nalu fit")
    ckpt = load_checkpoint(path)
    spec = ckpt["config"]
    model: ArithmeticModel | None = None
    try:
        if spec["units"]:
            model = ArithmeticModel(
                rng.seed_tensor([0]), len(spec["inputs"]), list(spec["units"]), list(spec["hidden"]), UnitOptions()
            ).to(torch.float64)
            model.load_state_dict(ckpt["model"], strict=True)
        coef = np.asarray(spec["linear"], dtype=np.float64)
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"{str(path)!r} does not match its own description: {str(err).splitlines()[0]}") from None
    like = Table("", list(spec["inputs"]), spec["target"], np.zeros((0, 0)), np.zeros(0), np.zeros(0))
    table = load_table(data, spec["target"], like=like)
    formula = spec.get("formula_x")
    return {
        "command": "eval",
        "run": str(run),
        "data": str(data),
        "rows": len(table.y),
        "formula": rename(formula, list(spec["inputs"])).replace("y =", f"{spec['target']} =", 1) if formula else None,
        "model": _err(_predict(model, 0, table.x) if model is not None else _formula_eval(formula, table.x), table.y),
        "formula_errors": _err(_formula_eval(formula, table.x), table.y),
        "linear": _err(linear_predict(coef, table.x), table.y),
    }
