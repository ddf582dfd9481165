"""Run directories as a collection: find them, summarise each from its checkpoint, sort, compare configs.

Summaries read the results stored in the checkpoint at the end of training (``Trainer.results``); they
never rebuild a model or re-evaluate, so listing a hundred runs costs a hundred small file reads. A
directory that looks like a run but cannot be read becomes a row with ``status: "broken"`` and the reason,
never an exception.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import os
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

from nalu_cli.errors import CheckpointError, ConfigError, NaluError
from nalu_cli.names import SORT_KEYS
from nalu_cli.runs.checkpoint import CHECKPOINT_NAME, CONFIG_NAME, METRICS_NAME
from nalu_cli.runs.run import FIT_JSON, Run, flatten

RUN_FILES = (CHECKPOINT_NAME, CONFIG_NAME, METRICS_NAME)
MAX_DEPTH = 4  # how deep `nalu runs DIR` looks for run directories below DIR


def is_run_dir(path: Path) -> bool:
    """A directory holding any file a training run writes."""
    return path.is_dir() and any(os.path.lexists(path / name) for name in (*RUN_FILES, FIT_JSON))


def find_run_dirs(directory: Path, max_depth: int = MAX_DEPTH) -> list[Path]:
    """Run directories at or below ``directory`` (not descending into a run directory), sorted by path."""
    directory = Path(directory)
    if not directory.exists():
        raise NaluError(
            f"no directory {str(directory)!r} (train a run with nalu train, or give the directory that holds runs)"
        )
    if not directory.is_dir():
        raise ConfigError(f"{str(directory)!r} is a file, not a directory of runs")
    if is_run_dir(directory):
        return [directory]
    found: list[Path] = []
    frontier = [directory]
    seen = {_identity(directory)}
    for _ in range(max_depth):
        children: list[Path] = []
        for parent in frontier:
            try:
                # Symbolic links are never followed: they could lead out of the tree, or back into it (loops).
                entries = sorted(
                    p for p in parent.iterdir() if not p.name.startswith(".") and not p.is_symlink() and p.is_dir()
                )
            except OSError:
                continue  # unreadable directory: nothing to list there
            for entry in entries:
                identity = _identity(entry)
                if identity in seen:
                    continue  # a bind mount or hard-linked directory seen before
                seen.add(identity)
                (found if is_run_dir(entry) else children).append(entry)
        frontier = children
    return sorted(found)


def _identity(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except OSError:
        return (-1, id(path))
    return (st.st_dev, st.st_ino)


def _median(values: list[float]) -> float:
    """Median with NaN counted as +inf (a failed seed must not make the median look better)."""
    if not values:
        return math.nan
    return float(statistics.median(math.inf if math.isnan(v) else v for v in values))


def _section(config: dict[str, Any], name: str) -> dict[str, Any]:
    value = config.get(name)
    return value if isinstance(value, dict) else {}


def _units(config: dict[str, Any]) -> list[str]:
    model = _section(config, "model")
    unit = model.get("unit", "?")
    hidden = model.get("hidden") or []
    if isinstance(unit, list):
        return [str(u) for u in unit]
    return [str(unit)] * (len(hidden) + 1 if isinstance(hidden, list) else 1)


def _float(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


def _mse(result: dict[str, Any], key: str) -> float:
    section = result.get(key)
    return _float(section.get("mse")) if isinstance(section, dict) else math.nan


def malformed_results(results: Any) -> str | None:
    """Why stored per-seed results cannot be summarised (None when they can)."""
    if not isinstance(results, list):
        return "its stored results are not a list"
    for r in results:
        if not isinstance(r, dict):
            return "a stored result is not a mapping"
        for key in ("interpolation", "extrapolation"):
            section = r.get(key)
            if not isinstance(section, dict):
                return f"a stored result has no {key} errors"
            mse = section.get("mse")
            if not isinstance(mse, (int, float)) or isinstance(mse, bool):
                return f"a stored {key} error is {type(mse).__name__}, not a number"
        if r.get("solved_at") is not None and (not isinstance(r["solved_at"], int) or isinstance(r["solved_at"], bool)):
            return "a stored solved-at step is not a whole number"
        if not isinstance(r.get("formula"), (str, type(None))):
            return "a stored formula is not text"
    return None


def summarize_results(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Aggregate per-seed result dicts: median errors, solved count, median solved-at, common formula."""
    results = [r for r in results if isinstance(r, dict)]
    interp = [_mse(r, "interpolation") for r in results]
    extrap = [_mse(r, "extrapolation") for r in results]
    solved_at = [r["solved_at"] for r in results if isinstance(r.get("solved_at"), int)]
    formulas = Counter(r.get("formula") if isinstance(r.get("formula"), str) else None for r in results)
    formula, count = formulas.most_common(1)[0] if formulas else (None, 0)
    return {
        "interp_mse": _median(interp),
        "extrap_mse": _median(extrap),
        "solved": sum(1 for r in results if r.get("solved") is True),
        "total": len(results),
        "solved_at": float(statistics.median(solved_at)) if solved_at else None,
        "formula": formula,
        "formula_count": count,
    }


def summarize_run(path: Path, root: Path | None = None) -> dict[str, Any]:
    """One row for ``nalu runs``: config facts and stored results of the run at ``path``.

    Unreadable runs come back with ``status: "broken"`` and an ``error`` message instead of raising.
    """
    path = Path(path)
    name = str(path.relative_to(root)) if root is not None and path != root and path.is_relative_to(root) else path.name
    row: dict[str, Any] = {
        "name": name,
        "path": str(path),
        "status": "broken",
        "error": None,
        "op": None,
        "mode": None,
        "units": [],
        "seeds": [],
        "restarts": None,
        "steps": None,
        "total_steps": None,
        "interp_mse": math.nan,
        "extrap_mse": math.nan,
        "solved": None,
        "total": None,
        "solved_at": None,
        "formula": None,
        "date": None,
    }
    ckpt = path / CHECKPOINT_NAME if path.is_dir() else path
    if path.is_dir() and not os.path.lexists(ckpt) and os.path.lexists(path / FIT_JSON):
        return _summarize_fit(path / FIT_JSON, row)
    with contextlib.suppress(OSError):  # no date for a missing or unreadable checkpoint
        row["date"] = dt.datetime.fromtimestamp(ckpt.stat().st_mtime).astimezone().isoformat(timespec="seconds")
    if not ckpt.exists():
        row["error"] = f"no {CHECKPOINT_NAME} (training never saved a checkpoint, or it was deleted)"
        return row
    try:
        opened = Run.open(path)
        data = opened.data()
        opened.config()  # valid, and agreeing with config.yaml
        config = data["config"]
        task, train = _section(config, "task"), _section(config, "train")
        seeds = data["seeds"]
        row.update(
            op=task.get("op"),
            mode=task.get("mode"),
            units=_units(config),
            seeds=[int(s) for s in seeds.get("seeds", [])],
            restarts=int(seeds.get("restarts", 1)),
            steps=int(data["step"]),
            total_steps=int(train["steps"]) if isinstance(train.get("steps"), int) else None,
        )
        stored = data.get("results") or []
        problem = malformed_results(stored)
        if problem is not None:
            raise CheckpointError(f"checkpoint is malformed: {problem}")
        results = list(stored)
    except CheckpointError as err:
        row["error"] = str(err)
        return row
    except (KeyError, TypeError, ValueError, AttributeError):
        row["error"] = "checkpoint has a malformed config or seeds entry"
        return row
    if results:
        row.update(summarize_results(results))
    if data.get("finished") is True:
        row["status"] = "finished"
    elif results:
        row["status"] = "interrupted"
    else:
        row["status"] = "unfinished"  # a periodic checkpoint: still training, or killed before the end
    return row


def _summarize_fit(report_path: Path, row: dict[str, Any]) -> dict[str, Any]:
    """A row for a ``nalu fit`` run: mode ``fit``, op ``fit TARGET``, the chosen stack and formula, and the
    chosen formula's (or, without one, its model's) MSE on the validation rows (interp) and held-out rows."""
    with contextlib.suppress(OSError):
        row["date"] = dt.datetime.fromtimestamp(report_path.stat().st_mtime).astimezone().isoformat(timespec="seconds")
    try:
        import json

        from nalu_cli.config.limits import MAX_REPORT_BYTES
        from nalu_cli.files import read_bounded

        report = json.loads(read_bounded(report_path, "fit report", MAX_REPORT_BYTES, CheckpointError))
        chosen = report["candidates"][report["chosen"]]
        errors = chosen["formula_errors"] if chosen["formula_errors"]["valid"] is not None else chosen["model"]
        row.update(
            op=f"fit {report['target']}",
            mode="fit",
            units=[str(u) for u in chosen["units"]],
            steps=int(chosen["steps"]) if isinstance(chosen.get("steps"), int) else None,
            interp_mse=_float(errors["valid"]["mse"]),
            extrap_mse=_float(errors["heldout"]["mse"]),
            formula=chosen["formula"] if isinstance(chosen["formula"], str) else None,
            status="finished",
        )
    except CheckpointError as err:
        row["error"] = str(err)
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        row["error"] = f"{FIT_JSON} cannot be read as a fit report"
    return row


def _has_value(row: dict[str, Any], key: str) -> bool:
    """Whether ``row`` can be placed by ``key`` (a run without stored results has no errors to sort by)."""
    if row["status"] == "broken":
        return False
    if key in ("interp", "extrap"):
        return (bool(row["total"]) or row["mode"] == "fit") and not math.isnan(row[f"{key}_mse"])
    if key == "solved":
        return bool(row["total"])
    return True


def sort_key(key: str) -> Any:
    """A key function for rows that have a value for ``key`` (see ``sort_rows``); ties go by name."""
    if key == "name":
        return lambda r: r["name"]
    if key == "date":
        return lambda r: (r["date"] or "", r["name"])
    if key == "op":
        return lambda r: (r["op"] or "", r["name"])
    if key == "unit":
        return lambda r: ("+".join(r["units"]), r["name"])
    if key == "steps":
        return lambda r: (r["steps"] or 0, r["name"])
    if key in ("interp", "extrap"):
        return lambda r: (r[f"{key}_mse"], r["name"])
    if key == "solved":
        return lambda r: (-r["solved"] / r["total"], r["name"])  # best success rate first
    raise ValueError(key)


def sort_rows(rows: list[dict[str, Any]], key: str = "name", reverse: bool = False) -> list[dict[str, Any]]:
    """Rows sorted by ``key`` (one of ``SORT_KEYS``); rows without that value follow, broken rows last."""
    if key not in SORT_KEYS:
        from nalu_cli.config.schema import did_you_mean

        raise ConfigError(
            f"unknown sort key {key!r}{did_you_mean(key, SORT_KEYS)} (choose from {', '.join(SORT_KEYS)})"
        )
    placed = sorted((r for r in rows if _has_value(r, key)), key=sort_key(key), reverse=reverse)
    unplaced = sorted((r for r in rows if not _has_value(r, key) and r["status"] != "broken"), key=lambda r: r["name"])
    broken = sorted((r for r in rows if r["status"] == "broken"), key=lambda r: r["name"])
    return placed + unplaced + broken


MISSING = "(unset)"


def config_differences(configs: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """The dotted config keys whose values are not all equal, with each config's value (in key order)."""
    flat = [flatten(c) for c in configs]
    keys = list(dict.fromkeys(k for f in flat for k in f))
    return {
        k: [f.get(k, MISSING) for f in flat]
        for k in keys
        if any(f.get(k, MISSING) != flat[0].get(k, MISSING) for f in flat)
    }
