"""Sweeps: a benchmark grid cut into tasks that run anywhere, written as they finish, resumable.

A grid (a YAML file, ``load_grid``) names ops × units × range pairs and a number of seeds (in digits mode,
``set: {task.mode: digits}``, ops × digits columns without ranges or preset, as ``nalu benchmark``). Each
cell's seeds are cut into blocks of ``seed_block``; one (cell, block) is one *task*: one process trains the
block's seeds as one batched model (``train.train``), exactly as ``nalu benchmark`` trains a whole cell.

Tasks are independent and deterministic, so they may run in any order and on any machine:
- ``LocalExecutor`` uses this machine's cores (a process pool, spawn start method);
- ``sweep_ray.RayExecutor`` (optional dependency ``nalu[ray]``) submits them to a Ray cluster with retries.

The driver (``run_sweep``) writes every finished task atomically to ``OUT/tasks/KEY.json``; KEY is derived
from the task's resolved config (sha256 of its canonical JSON). A re-run skips the tasks already written,
so killing the driver loses only the tasks in flight, a failed task is retried by running the same command
again, and raising ``seeds`` reuses the blocks already trained. A cell is summarised
(``benchmark.summarise``) from the union of its blocks' per-seed results once every block is in; the
summary goes to ``OUT/results.json`` and ``OUT/results.csv``. Never prints.
"""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import os
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from nalu_cli import __version__, budget
from nalu_cli import config as cfgmod
from nalu_cli.benchmark import (
    DIGITS_COLUMNS,
    RANGE_SETS,
    STACKS,
    Cell,
    cell_config,
    columns,
    mode_of,
    parse_range_sets,
    preset_for,
    range_text,
    summarise,
    to_csv,
    union_of_blocks,
)
from nalu_cli.benchmark import grid as cells_of
from nalu_cli.checkpoint import atomic_write_bytes
from nalu_cli.errors import ConfigError, NaluError
from nalu_cli.tasks import OPS, parse_ranges

TASK_FORMAT = "nalu-sweep-task"
TASK_VERSION = 1  # part of every task key: bump it when a task's results would change for the same config
TASKS_DIR = "tasks"
FAILED_DIR = "failed"
RESULTS_JSON = "results.json"
RESULTS_CSV = "results.csv"

GRID_DEFAULTS: dict[str, Any] = {
    "preset": "madsen2020",
    "ranges": None,
    "seeds": 10,
    "seed_block": 25,  # capped at seeds
    "steps": 5000,
    "restarts": 1,
    "tuned": True,
    "set": {},
}
GRID_KEYS = (
    "preset", "ops", "units", "ranges", "seeds", "seed_block", "steps", "restarts", "tuned", "set", "max_tasks",
)  # fmt: skip
# Keys the grid itself decides in every task; `set:` may not change them.
GRID_OWNED = {
    "task.op": "ops",
    "model.unit": "units",
    "model.hidden": "units",
    "train.steps": "steps",
    "train.seed": "seeds",
    "train.seeds": "seeds",
    "train.restarts": "restarts",
    "task.interpolation": "ranges",
    "task.extrapolation": "ranges",
}


# -- the grid ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grid:
    """A validated sweep grid. ``ranges`` None means the preset's own range pair."""

    ops: list[str]
    units: list[str]
    preset: str | None = "madsen2020"
    ranges: list[tuple[str, str]] | None = None
    seeds: int = 10
    seed_block: int = 10
    steps: int = 5000
    restarts: int = 1
    tuned: bool = True
    overrides: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain data in the YAML file's own keys."""
        return {
            "preset": self.preset,
            "ops": list(self.ops),
            "units": list(self.units),
            "ranges": None if self.ranges is None else [list(p) for p in self.ranges],
            "seeds": self.seeds,
            "seed_block": self.seed_block,
            "steps": self.steps,
            "restarts": self.restarts,
            "tuned": self.tuned,
            "set": dict(self.overrides),
        }

    def blocks(self) -> list[list[int]]:
        """Seeds 0..seeds-1 cut into blocks of ``seed_block`` (the last one may be shorter)."""
        return [list(range(s, min(s + self.seed_block, self.seeds))) for s in range(0, self.seeds, self.seed_block)]


def load_grid(path: str | Path) -> Grid:
    """Read and validate a grid YAML file (``ConfigError`` listing every problem)."""
    p = Path(path)
    data = cfgmod.load_yaml_file(p, "grid file")  # size, depth and alias bounds (budget)
    if data is None:
        raise ConfigError(f"grid file {str(p)!r} is empty")
    if not isinstance(data, dict):
        raise ConfigError(f"grid file {str(p)!r} must be a mapping with keys such as ops, units, seeds")
    return validate_grid(data)


def _whole(value: Any, low: int, high: int) -> int:
    """A whole number in [low, high]; YAML strings such as '2e4' are accepted when integral."""
    number: float | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, (float, str)) and not isinstance(value, bool):
        try:
            number = float(value)
        except ValueError:
            number = None
    if number is None or not math.isfinite(number) or not float(number).is_integer():
        raise ValueError(f"must be a whole number, not {value!r}")
    if not low <= number <= high:
        raise ValueError(f"must be between {low} and {high}, not {int(number)}")
    return int(number)


def _names(value: Any, key: str, choices: tuple[str, ...]) -> list[str]:
    items = [v.strip() for v in value.split(",")] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(v, str) and v for v in items):
        raise ValueError(f"must be a non-empty list of names from {', '.join(choices)}")
    problems = [
        f"unknown {key[:-1]} {name!r}{cfgmod.did_you_mean(name, choices)} (choose from {', '.join(choices)})"
        for name in items
        if name not in choices
    ]
    if len(set(items)) != len(items):
        problems.append(f"{sorted({n for n in items if items.count(n) > 1})} listed twice")
    if problems:
        raise ValueError(_SEP.join(problems))
    return list(items)


def _range_text(value: Any) -> str:
    """One side of a range pair as the string syntax ``LO,HI`` or ``A,B;C,D`` (``ValueError`` if invalid)."""
    ranges = parse_ranges(value)

    def num(x: float) -> str:
        return str(int(x)) if x.is_integer() else repr(x)

    return ";".join(f"{num(lo)},{num(hi)}" for lo, hi in ranges)


def _range_pairs(value: Any) -> list[tuple[str, str]] | None:
    """``mistry2021``, ``'1,2:2,6'`` or a list of those and of ``[interp, extrap]`` pairs."""
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    if not items:
        raise ValueError("empty; leave it out to use the preset's ranges")
    pairs: list[tuple[str, str]] = []
    problems: list[str] = []
    for item in items:
        if isinstance(item, str):
            try:
                pairs += parse_range_sets([item]) or []
            except ConfigError as err:
                problems += [p.removeprefix("--ranges ") for p in err.problems]
            continue
        if isinstance(item, (list, tuple)) and len(item) == 2:
            try:
                pairs.append((_range_text(item[0]), _range_text(item[1])))
            except ValueError as err:
                problems.append(f"{item!r}: {err}")
            continue
        problems.append(
            f"{item!r} must be a set ({', '.join(RANGE_SETS)}), 'INTERP:EXTRAP' such as '1,2:2,6',"
            " or a pair [INTERP, EXTRAP] such as ['1,2', '2,6']"
        )
    if len(set(pairs)) != len(pairs):
        problems.append("a range pair is listed twice")
    if problems:
        raise ValueError(_SEP.join(problems))
    return pairs


def _flatten(value: dict[Any, Any], prefix: str, out: dict[str, Any], problems: list[str]) -> None:
    """``{train: {lr: 0.01}}`` and ``{train.lr: 0.01}`` both become ``{'train.lr': 0.01}``."""
    for key, item in value.items():
        name = f"{prefix}{key}"
        if not isinstance(key, str) or not key or any(not part for part in key.split(".")):
            problems.append(f"{name!r} is not a config key such as train.lr")
        elif isinstance(item, dict) and item:
            _flatten(item, f"{name}.", out, problems)
        else:
            out[name] = item


_SEP = "\n"  # several problems found by one field validator, one per line


class GridFile(BaseModel):
    """The grid file's schema: every key checked in one pass, every problem reported (``validate_grid``)."""

    model_config = ConfigDict(extra="forbid")

    preset: str | None = GRID_DEFAULTS["preset"]
    ops: list[str]
    units: list[str]
    ranges: list[tuple[str, str]] | None = None
    seeds: int = GRID_DEFAULTS["seeds"]
    seed_block: int | None = None  # default: min(seeds, GRID_DEFAULTS["seed_block"])
    steps: int = GRID_DEFAULTS["steps"]
    restarts: int = GRID_DEFAULTS["restarts"]
    tuned: bool = True
    set: dict[str, Any] = Field(default_factory=dict)
    max_tasks: int = budget.MAX_GRID_TASKS

    @field_validator("preset", mode="before")
    @classmethod
    def _preset(cls, v: Any) -> Any:
        if v is not None and v not in cfgmod.PRESETS:
            choices = tuple(cfgmod.PRESETS)
            raise ValueError(
                f"unknown preset {v!r}{cfgmod.did_you_mean(str(v), choices)} (choose from {', '.join(choices)}, or null)"
            )
        return v

    @field_validator("ops", mode="before")
    @classmethod
    def _ops(cls, v: Any) -> list[str]:
        return _names(v, "ops", tuple(OPS))

    @field_validator("units", mode="before")
    @classmethod
    def _units(cls, v: Any) -> list[str]:
        # static columns and digits columns (set: {task.mode: digits}); ``plan`` checks them against the mode
        return _names(v, "units", tuple(STACKS) + tuple(DIGITS_COLUMNS))

    @field_validator("ranges", mode="before")
    @classmethod
    def _ranges(cls, v: Any) -> list[tuple[str, str]] | None:
        return _range_pairs(v)

    @field_validator("seeds", "seed_block", "restarts", mode="before")
    @classmethod
    def _counts(cls, v: Any) -> int | None:
        return None if v is None else _whole(v, 1, 100_000)

    @field_validator("steps", mode="before")
    @classmethod
    def _steps(cls, v: Any) -> int:
        return _whole(v, 1, 10**9)

    @field_validator("max_tasks", mode="before")
    @classmethod
    def _max_tasks(cls, v: Any) -> int:
        return _whole(v, 1, 10**7)

    @field_validator("tuned", mode="before")
    @classmethod
    def _tuned(cls, v: Any) -> bool:
        if not isinstance(v, bool):
            raise ValueError(f"must be true or false, not {v!r}")
        return v

    @field_validator("set", mode="before")
    @classmethod
    def _set(cls, v: Any) -> dict[str, Any]:
        if v is None:
            return {}
        if not isinstance(v, dict):
            raise ValueError("must be a mapping of config keys to values, such as {train.lr: 0.01}")
        out: dict[str, Any] = {}
        problems: list[str] = []
        _flatten(v, "", out, problems)
        problems += [f"{key} is decided by the grid's {GRID_OWNED[key]!r} key" for key in out if key in GRID_OWNED]
        if problems:
            raise ValueError(_SEP.join(problems))
        return out

    @model_validator(mode="after")
    def _size(self) -> GridFile:
        block = min(self.seed_block or GRID_DEFAULTS["seed_block"], self.seeds)
        cells = len(self.ops) * len(self.units) * len(self.ranges or [None])
        blocks = -(-self.seeds // block)
        if cells * blocks > self.max_tasks:
            raise ValueError(
                f"the grid makes {cells * blocks:,} tasks ({cells} cells × {blocks:,} seed blocks), more than"
                f" max_tasks ({self.max_tasks:,}); use larger seed_block or fewer seeds, or raise max_tasks"
            )
        return self


def _grid_problems(err: ValidationError) -> list[str]:
    problems = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"])
        msg = str(e["msg"]).removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = f"unknown key {loc!r}{cfgmod.did_you_mean(loc, GRID_KEYS)} (grid keys: {', '.join(GRID_KEYS)})"
            problems.append(msg)
        elif e["type"] == "missing":
            choices = tuple(OPS) if loc == "ops" else tuple(STACKS)
            problems.append(f"{loc}: missing; give a list such as [{', '.join(choices[:2])}]")
        else:
            problems += [f"{loc}: {m}" if loc else m for m in msg.split(_SEP)]
    return problems


def validate_grid(data: dict[str, Any]) -> Grid:
    """A ``Grid`` from plain data; ``ConfigError`` lists every problem, including each cell's config problems."""
    try:
        spec = GridFile.model_validate(data)
    except ValidationError as err:
        problems = _grid_problems(err)
        # Also every problem of the cells' configs (`set:` keys, ranges for an op) in this same pass, using the
        # parts of the grid that are valid: a wrong top-level key must not hide a wrong key under `set:`.
        raw_set: dict[Any, Any] = data["set"] if isinstance(data.get("set"), dict) else {}
        overrides: dict[str, Any] = {}
        _flatten(raw_set, "", overrides, [])
        ops, units = data.get("ops"), data.get("units")
        names = columns(overrides)
        digits = mode_of(overrides) == "digits"
        preset = data.get("preset", GRID_DEFAULTS["preset"])
        provisional = Grid(
            ops=[o for o in (ops if isinstance(ops, list) else []) if o in OPS] or ["add"],
            units=[u for u in (units if isinstance(units, list) else []) if u in names] or [names[0]],
            preset=preset if preset in cfgmod.PRESETS and not digits else None,
            seeds=1,
            seed_block=1,
            steps=1,
            overrides={k: v for k, v in overrides.items() if k not in GRID_OWNED and isinstance(k, str)},
        )
        try:
            plan(provisional)
        except ConfigError as cell_err:
            problems += [p for p in cell_err.problems if p not in problems]
        raise ConfigError(problems) from None
    seed_block = spec.seed_block if spec.seed_block is not None else min(spec.seeds, GRID_DEFAULTS["seed_block"])
    preset = spec.preset
    if mode_of(spec.set) == "digits":  # no preset in digits mode: only a preset named in the file is an error
        preset = preset_for(spec.preset if "preset" in spec.model_fields_set else None, spec.set)
    grid = Grid(
        ops=spec.ops,
        units=spec.units,
        preset=preset,
        ranges=spec.ranges,
        seeds=spec.seeds,
        seed_block=min(seed_block, spec.seeds),
        steps=spec.steps,
        restarts=spec.restarts,
        tuned=spec.tuned,
        overrides=spec.set,
    )
    plan(grid)  # every cell's config must resolve too (and fit the memory budget)
    return grid


# -- tasks ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskSpec:
    """One cell × one block of seeds, with its resolved config (plain data) and the key it is stored under."""

    key: str
    cell: Cell
    seeds: list[int]
    config: dict[str, Any]
    cell_label: str  # op · unit · ranges

    @property
    def label(self) -> str:
        return f"{self.cell_label} · {_seed_span(self.seeds)}"

    def payload(self) -> dict[str, Any]:
        """What an executor ships to a worker: plain, picklable data."""
        return {"key": self.key, "cell": asdict(self.cell), "seeds": list(self.seeds), "config": self.config}


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def task_key(cell: Cell, config: dict[str, Any]) -> str:
    """``OP-UNIT-sFIRST-LAST-HASH``: readable, and the hash covers the cell and the whole resolved config."""
    digest = hashlib.sha256(
        canonical_json(
            {"format": TASK_FORMAT, "version": TASK_VERSION, "cell": asdict(cell), "config": config}
        ).encode()
    ).hexdigest()
    seeds = config["train"]["seeds"]
    return f"{cell.op}-{cell.unit}-s{seeds[0]}-{seeds[-1]}-{digest[:20]}"


def _seed_span(seeds: list[int]) -> str:
    return f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {seeds[0]}–{seeds[-1]}"


def plan(grid: Grid) -> list[TaskSpec]:
    """Every task of the grid, cell by cell, block by block (``ConfigError`` listing every cell problem)."""
    cells = cells_of(grid.ops, grid.units, grid.ranges, grid.overrides)
    specs: list[TaskSpec] = []
    problems: dict[str, list[str]] = {}  # problem -> cells that have it
    for cell in cells:
        name = f"{cell.op} · {cell.unit}" + (
            f" · {cell.interpolation} → {cell.extrapolation}" if cell.interpolation else ""
        )
        for seeds in grid.blocks():
            try:
                cfg = cell_config(cell, grid.preset, seeds, grid.steps, grid.restarts, grid.tuned, grid.overrides)
                budget.check_memory(cfg, "a task")  # the first block is the largest
            except ConfigError as err:
                for problem in err.problems:
                    problems.setdefault(problem, []).append(name)
                break  # the other blocks of this cell differ only in their seeds
            config = cfg.to_dict()
            ranges = " → ".join(range_text(cfg))
            specs.append(TaskSpec(task_key(cell, config), cell, seeds, config, f"{cell.op} · {cell.unit} · {ranges}"))
    if problems:
        lines = []
        for problem, names in problems.items():
            if len(names) == len(cells):
                lines.append(problem)
            else:
                more = f" (and {len(names) - 1} more cells)" if len(names) > 1 else ""
                lines.append(f"cell {names[0]}{more}: {problem}")
        raise ConfigError(lines)
    return specs


# Set in each local worker process by ``_init_worker``: the pid of the driver that started it.
_DRIVER_PID: int | None = None
WATCHDOG_SECONDS = 0.5


def _init_worker(driver_pid: int) -> None:
    """Local worker set-up: one thread (tiny models gain nothing from more), Ctrl-C left to the driver, and
    a watchdog that ends this worker once its driver is gone (even killed by SIGKILL): nobody would read
    its results, and an idle worker would otherwise wait for work for ever."""
    global _DRIVER_PID
    _DRIVER_PID = driver_pid
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_watch_driver, name="nalu-sweep-watchdog", daemon=True).start()
    import torch

    torch.set_num_threads(1)


def _driver_gone() -> bool:
    return _DRIVER_PID is not None and os.getppid() != _DRIVER_PID


def _watch_driver() -> None:
    while not _driver_gone():
        time.sleep(WATCHDOG_SECONDS)
    os._exit(1)


def run_task(payload: dict[str, Any], should_stop: Callable[[], bool] | None = None) -> dict[str, Any]:
    """Train one task (in a worker) and return its per-seed results as plain JSON-safe data."""
    from nalu_cli.render import json_safe
    from nalu_cli.train import train

    config = cfgmod.validate(payload["config"])
    started = time.perf_counter()
    result = train(config, should_stop=should_stop, stop_on_divergence=False)
    if result.interrupted:
        raise NaluError("stopped before it finished: the sweep driver went away")
    import torch

    return {
        "key": payload["key"],
        "seeds": [s["seed"] for s in result.seeds],
        "results": json_safe(result.seeds),
        "seconds": time.perf_counter() - started,
        "host": socket.gethostname(),
        "nalu_version": __version__,
        "torch_version": str(torch.__version__),
    }


def describe_error(err: BaseException) -> str:
    """A task's failure in one line: a nalu error's own message, else the exception type and first line."""
    if isinstance(err, NaluError):
        return str(err)
    text = str(err).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(err).__name__}: {first}" if first else type(err).__name__


# -- executors -----------------------------------------------------------------------------------------

# (index into the payload list, result of run_task or None, error message or None)
Outcome = tuple[int, dict[str, Any] | None, str | None]


class Executor(Protocol):
    """Runs task payloads somewhere and yields each outcome as it finishes, in any order."""

    name: str

    def run(self, payloads: list[dict[str, Any]], on_ready: Callable[[int], None]) -> Iterator[Outcome]:
        """``on_ready(capacity)`` once the tasks are submitted: how many run at once."""
        ...


class LocalExecutor:
    """This machine's cores: a pool of ``workers`` spawned processes, one task at a time each.

    A worker that dies (SIGKILL, the OOM killer) breaks a process pool: every task running in it fails with
    ``BrokenProcessPool``, and which one killed its worker cannot be told. So each of those tasks is run
    again alone, in a pool of its own, where a death can only be its own: it is retried there up to
    ``retries`` times in all before it is reported failed, while the tasks that merely shared the broken pool
    finish normally. A fresh pool then serves the rest.
    """

    name = "local"

    def __init__(self, workers: int | None = None, retries: int = 3) -> None:
        self.workers = workers or os.cpu_count() or 1
        self.retries = retries

    def _pool(self, workers: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(os.getpid(),),
        )

    def run(self, payloads: list[dict[str, Any]], on_ready: Callable[[int], None]) -> Iterator[Outcome]:
        if not payloads:
            return
        fn = run_task  # looked up now, so a test may replace it with a module-level function
        workers = min(self.workers, len(payloads))
        queue = deque(range(len(payloads)))
        running: dict[Future[dict[str, Any]], int] = {}
        pool = self._pool(workers)
        finished = False
        try:
            on_ready(workers)
            while queue or running:
                suspects: list[int] = []
                while queue and len(running) < workers:
                    index = queue.popleft()
                    try:
                        running[pool.submit(fn, payloads[index])] = index
                    except BrokenProcessPool:
                        suspects.append(index)
                        break
                if running:
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    if any(isinstance(f.exception(), BrokenProcessPool) for f in done):
                        done = set(running)  # the pool is broken: every running task ends (at once)
                    for future in done:
                        index = running.pop(future)
                        try:
                            yield (index, future.result(), None)
                        except BrokenProcessPool:
                            suspects.append(index)
                        except Exception as err:  # the task's own failure
                            yield (index, None, describe_error(err))
                if suspects:
                    running.clear()
                    _stop_pool(pool)
                    for index in sorted(suspects):
                        yield (index, *self._alone(fn, payloads[index]))
                    pool = self._pool(workers)
            finished = True
        finally:
            if finished:
                pool.shutdown(wait=True)
            else:
                _stop_pool(pool)

    def _alone(self, fn: Callable[[dict[str, Any]], dict[str, Any]], payload: dict[str, Any]) -> tuple[Any, Any]:
        """Run a task caught in a broken pool on its own: (result, None) or (None, error)."""
        deaths = 1  # the broken pool it was in, counted against it in case it was the one
        while deaths <= self.retries:
            pool = self._pool(1)
            try:
                return pool.submit(fn, payload).result(), None
            except BrokenProcessPool:
                deaths += 1
            except Exception as err:
                return None, describe_error(err)
            finally:
                _stop_pool(pool)
        return None, _died(deaths)


def _died(times: int) -> str:
    return (
        f"its worker process died {times} time{'s' if times > 1 else ''} (killed by a signal, or out of memory);"
        " raise --retries or give it fewer seeds per task (seed_block)"
    )


def _stop_pool(pool: ProcessPoolExecutor) -> None:
    """Interrupted: cancel queued tasks and end the workers this pool started (by their pids)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=5)


# -- the driver ----------------------------------------------------------------------------------------


@dataclass
class SweepProgress:
    """Counts for a progress display; ``completed`` is what a bar over ``total`` shows."""

    total: int
    cached: int = 0  # finished by an earlier run of the same sweep
    done: int = 0  # finished now
    failed: int = 0
    running: int = 0

    @property
    def completed(self) -> int:
        return self.cached + self.done + self.failed


ProgressFn = Callable[[SweepProgress, dict[str, Any] | None], None]  # (counts, the failure just seen or None)


def task_path(out: Path, key: str) -> Path:
    return Path(out) / TASKS_DIR / f"{key}.json"


def read_task(out: Path, spec: TaskSpec) -> dict[str, Any] | None:
    """The stored record of a finished task, or None when it is missing or is not this task's."""
    path = task_path(out, spec.key)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if (
        not isinstance(record, dict)
        or record.get("format") != TASK_FORMAT
        or record.get("key") != spec.key
        or record.get("config") != spec.config
        or record.get("seeds") != spec.seeds
        or not isinstance(record.get("results"), list)
        or [s.get("seed") for s in record["results"] if isinstance(s, dict)] != spec.seeds
    ):
        return None
    return record


def _write_json(path: Path, value: Any) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, (json.dumps(value, indent=1, allow_nan=False) + "\n").encode("utf-8"))
    except OSError as err:
        raise NaluError(f"cannot write {str(path)!r}: {err.strerror or err}") from None


def run_sweep(
    grid: Grid,
    out: str | Path,
    executor: Executor,
    on_progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Run every task of ``grid`` not already finished under ``out``; return the merged report.

    The report (also written to ``out/results.json``, the table to ``out/results.csv``) holds one
    ``benchmark.summarise`` row per cell whose blocks have all finished, the failures of this run
    (``{"task", "key", "error"}``) and the cells still incomplete because of them.
    """
    out = Path(out)
    specs = plan(grid)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {str(out)!r} is a file, not a directory")
    try:
        (out / TASKS_DIR).mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise NaluError(f"cannot create sweep directory {str(out)!r}: {err.strerror or err}") from None
    records: dict[str, dict[str, Any]] = {}
    warnings: list[str] = []
    for spec in specs:
        record = read_task(out, spec)
        if record is not None:
            records[spec.key] = record
        elif task_path(out, spec.key).exists():
            warnings.append(f"{task_path(out, spec.key)} is unreadable or not this task's; training it again")
    todo = [s for s in specs if s.key not in records]
    progress = SweepProgress(total=len(specs), cached=len(records))
    capacity = 0

    def publish(failure: dict[str, Any] | None = None) -> None:
        progress.running = min(capacity, len(todo) - progress.done - progress.failed)
        if on_progress is not None:
            on_progress(progress, failure)

    def ready(n: int) -> None:
        nonlocal capacity
        capacity = n
        publish()

    publish()
    failures: list[dict[str, Any]] = []
    for index, result, error in executor.run([s.payload() for s in todo], ready):
        spec = todo[index]
        if error is None and (result is None or result.get("key") != spec.key or result.get("seeds") != spec.seeds):
            error = "internal error: the worker returned results for another task"
        failed_marker = out / FAILED_DIR / f"{spec.key}.json"
        if error is None and result is not None:
            record = {
                "format": TASK_FORMAT,
                "version": TASK_VERSION,
                "key": spec.key,
                "label": spec.label,
                "cell": asdict(spec.cell),
                "seeds": spec.seeds,
                "config": spec.config,
            } | {k: v for k, v in result.items() if k not in ("key", "seeds")}
            _write_json(task_path(out, spec.key), record)
            failed_marker.unlink(missing_ok=True)
            records[spec.key] = record
            progress.done += 1
            publish()
        else:
            failure = {"task": spec.label, "key": spec.key, "error": error}
            failures.append(failure)
            _write_json(failed_marker, failure | {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
            progress.failed += 1
            publish(failure)
    rows, incomplete = merge(specs, records)
    summary = {
        "command": "sweep",
        "preset": grid.preset,
        "out": str(out),
        "executor": executor.name,
        "grid": grid.to_dict(),
        "tasks": {"total": len(specs), "cached": progress.cached, "trained": progress.done, "failed": progress.failed},
        "cells": rows,
        "failures": failures,
        "incomplete": incomplete,
        "warnings": warnings,
    }
    from nalu_cli.render import json_safe

    _write_json(out / RESULTS_JSON, json_safe(summary))
    try:
        atomic_write_bytes(out / RESULTS_CSV, to_csv(rows).encode("utf-8"))
    except OSError as err:
        raise NaluError(f"cannot write {str(out / RESULTS_CSV)!r}: {err.strerror or err}") from None
    return summary


def merge(specs: list[TaskSpec], records: dict[str, dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """One summary row per cell whose every block has a record (grid order); the other cells by name."""
    by_cell: dict[tuple[str, str, str, str], list[TaskSpec]] = {}
    for spec in specs:
        c = spec.cell
        by_cell.setdefault((c.op, c.unit, c.interpolation, c.extrapolation), []).append(spec)
    rows: list[dict[str, Any]] = []
    incomplete: list[str] = []
    for cell_specs in by_cell.values():
        cell = cell_specs[0].cell
        blocks = [records.get(s.key) for s in cell_specs]
        if any(b is None for b in blocks):
            missing = sum(1 for b in blocks if b is None)
            incomplete.append(f"{cell_specs[0].cell_label} ({missing} of {len(blocks)} seed blocks missing)")
            continue
        done = [b for b in blocks if b is not None]
        cfg = cfgmod.validate(done[0]["config"])
        seeds = union_of_blocks([b["results"] for b in done])
        row = summarise(cell, cfg, seeds, sum(float(b["seconds"]) for b in done))
        row["blocks"] = len(done)
        rows.append(row)
    return rows, incomplete
