"""A run directory as one object: its files, its lock, and the rules for creating, opening and resuming it.

A run directory holds ``config.yaml`` (the resolved config), ``checkpoint.pt`` (weights, training state and
results; ``checkpoint``) and ``metrics.jsonl`` (the log), plus ``.nalu.lock``, the lock file of its writer.

- **One writer at a time.** A process that writes a run holds an exclusive ``fcntl.flock`` on the lock file
  (``RunLock``) from before its first write to its end; a second writer fails at once with
  ``run D is being written by process N``. The kernel releases the lock when the process dies, even by
  SIGKILL, so a lock is never stale. Readers take no lock and never wait: every file is replaced atomically.
- **Creating** (``Run.create``): the default name is ``runs/OP-UNIT-sSEED``, then ``-1``, ``-2``, ... (claimed
  with an atomic ``mkdir``, so two processes never pick one name). An explicit ``--out`` that already holds
  any run file needs ``--force``. With ``--force`` the new run is built in a hidden sibling directory and
  swapped in (``renameat2(RENAME_EXCHANGE)``, one atomic step) at its first checkpoint; the old run is then
  deleted. Until then the old run is whole; if the new run fails or is killed first, the old run stays and
  the hidden directory is removed (by the next ``--force``, if the process was killed). No directory ever
  holds parts of two runs.
- **Opening** (``Run.open``): a run directory or a checkpoint file; the config is validated with the stored
  seeds and restarts, checked against ``config.yaml`` (a disagreement is an error, never silently resolved),
  and its memory estimate checked against the budget before a model is built (``budget``).
- **Resuming** (``Run.resume``): only a run directory or the ``checkpoint.pt`` inside it; under the lock, the
  checkpoint is checked against ``config.yaml``, ``train.steps``/``train.device`` may change, and
  ``config.yaml`` is rewritten atomically.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import secrets
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from nalu_cli.config import budget
from nalu_cli.config.loading import load_yaml_file
from nalu_cli.config.resolve import dump_yaml, validate
from nalu_cli.config.schema import Config
from nalu_cli.errors import CheckpointError, ConfigError, NaluError
from nalu_cli.files import describe_os_error
from nalu_cli.runs.checkpoint import (
    CHECKPOINT_NAME,
    CONFIG_NAME,
    METRICS_NAME,
    MetricsLog,
    load_checkpoint,
    read_metrics,
    remove_stale_temps,
    write_config,
)
from nalu_cli.runs.lock import LOCK_NAME, RunLock

if TYPE_CHECKING:
    pass


FIT_JSON = "fit.json"  # the report of a `nalu fit` run directory
FIT_WEIGHTS = "fit.pt"  # its weights
RUN_FILES = (CHECKPOINT_NAME, CONFIG_NAME, METRICS_NAME)
RESUMABLE_KEYS = ("train.steps", "train.device")  # what --resume may change, so config.yaml may differ there


def _has_run_files(directory: Path) -> list[str]:
    return [name for name in (*RUN_FILES, FIT_JSON, FIT_WEIGHTS) if os.path.lexists(directory / name)]


def occupied(out: str | Path) -> str | None:
    """Why ``out`` cannot take a new run without ``--force``, in one line (None: it holds no run).

    One run per directory, whatever made it: ``nalu train --out`` and ``nalu fit --out`` both refuse a
    directory holding a training run, a fit, or the files of a run that saved no checkpoint, with this line.
    """
    out = Path(out)
    present = _has_run_files(out)
    if not present:
        return None
    if CHECKPOINT_NAME in present:
        return (
            f"{str(out)!r} already holds a run; continue it with nalu train --resume {out} or overwrite it with --force"
        )
    if FIT_JSON in present or FIT_WEIGHTS in present:
        return f"{str(out)!r} already holds a fit; overwrite it with --force"
    return (
        f"{str(out)!r} holds the files of a run that saved no checkpoint ({', '.join(present)});"
        " overwrite it with --force"
    )


def check_out(out: str | Path, force: bool) -> None:
    """``ConfigError`` (``occupied``) unless ``out`` holds no run or ``force`` is given: for ``--out`` of any command."""
    reason = None if force else occupied(out)
    if reason is not None:
        raise ConfigError(reason)


def default_name(config: Config) -> str:
    """``OP-UNIT-sSEED`` (units joined by ``-``, each once)."""
    from nalu_cli.tasks.ops import op_slug

    units = "-".join(dict.fromkeys(config.model.units()))
    return f"{op_slug(config.task.op)}-{units}-s{config.train.seed_list()[0]}"


def _mkdirs(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ConfigError(f"{str(path)!r} is a file, not a directory") from None
    except OSError as err:
        raise NaluError(describe_os_error(err, "create run directory")) from None


def _configs_disagree(a: dict[str, Any], b: dict[str, Any], ignore: tuple[str, ...] = ()) -> list[str]:
    """Dotted keys whose values differ between two plain config dicts (``ignore``: keys to skip)."""

    fa, fb = flatten(a), flatten(b)
    return [k for k in dict.fromkeys([*fa, *fb]) if k not in ignore and fa.get(k) != fb.get(k)]


class Run:
    """One run directory (``path``); ``checkpoint_file`` is the checkpoint it was opened from."""

    def __init__(self, path: str | Path, checkpoint_file: Path | None = None) -> None:
        self.path = Path(path)
        self.checkpoint_file = checkpoint_file or self.path / CHECKPOINT_NAME
        self._data: dict[str, Any] | None = None
        self._config: Config | None = None

    # -- file names ----------------------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path:
        return self.path / CHECKPOINT_NAME

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG_NAME

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS_NAME

    @property
    def name(self) -> str:
        return self.path.name

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    # -- creating and resuming (writers) ---------------------------------------------------------------
    @classmethod
    def create(
        cls, config: Config, out: str | Path | None = None, *, force: bool = False, base: str | Path = "runs"
    ) -> RunWriter:
        """A new run for ``config``, locked for writing (use as a context manager).

        ``out`` None: ``base/OP-UNIT-sSEED``, or the first free ``-1``, ``-2``, ... suffix. ``out`` given:
        that directory, which must not hold a run unless ``force`` (then the new run replaces it atomically
        at its first checkpoint).
        """
        budget.check_memory(config, "this run")
        dump_yaml(config)  # config.yaml must be readable back (its size bounds): refused before any directory
        if out is None:
            return RunWriter.claim_default(config, Path(base))
        if str(out).strip() == "":
            raise ConfigError("--out must not be empty; give a directory such as runs/my-run")
        return RunWriter.at(config, Path(out), force=force)

    @classmethod
    def resume(cls, target: str | Path, changes: dict[str, Any] | None = None) -> RunWriter:
        """Continue the run at ``target`` (a run directory or the checkpoint.pt inside it), locked.

        ``changes`` may set ``train.steps`` and ``train.device``; ``config.yaml`` is rewritten with them.
        """
        changes = changes or {}
        extra = sorted(set(changes) - set(RESUMABLE_KEYS))
        if extra:
            raise ConfigError("--resume continues a run with its own config; only --steps and --device may change")
        p = Path(target)
        if p.is_dir():
            run_dir = p
        elif p.name == CHECKPOINT_NAME and p.is_file():
            run_dir = p.parent
        elif not p.exists():
            raise CheckpointError(f"no run directory at {str(p)!r}")
        else:
            raise ConfigError(f"--resume takes a run directory or the {CHECKPOINT_NAME} inside one, not {str(p)!r}")
        if not (run_dir / CHECKPOINT_NAME).exists():
            raise CheckpointError(f"{str(run_dir)!r} is not a run directory (no {CHECKPOINT_NAME} in it)")
        writer = RunWriter(Run(run_dir), lock=RunLock(run_dir).acquire())
        try:
            writer.prepare_resume(changes)
        except BaseException:
            writer.release()
            raise
        return writer

    # -- opening (readers) -----------------------------------------------------------------------------
    @classmethod
    def open(cls, target: str | Path) -> Run:
        """The run at ``target``: a run directory or a checkpoint file (``CheckpointError`` if neither)."""
        p = Path(target)
        if p.is_dir():
            if not (p / CHECKPOINT_NAME).exists():
                if (p / FIT_JSON).exists():
                    raise ConfigError(  # a usage error (exit 2): this command takes a training run
                        f"{str(p)!r} is a nalu fit run; evaluate it on a table with: nalu eval {p} --data FILE.csv"
                    )
                raise CheckpointError(f"{str(p)!r} is not a run directory (no {CHECKPOINT_NAME} in it)")
            return cls(p)
        if not p.exists():
            raise CheckpointError(f"no run directory or checkpoint at {str(p)!r}")
        return cls(p.parent, checkpoint_file=p)

    def data(self) -> dict[str, Any]:
        """The checkpoint, loaded safely (``checkpoint.load_checkpoint``) once."""
        if self._data is None:
            self._data = load_checkpoint(self.checkpoint_file)
        return self._data

    def config(self) -> Config:
        """The checkpoint's config, validated, with its seeds and restarts, checked against ``config.yaml``."""
        if self._config is None:
            data = self.data()
            where = str(self.checkpoint_file)
            seeds = data["seeds"]
            stored = data["config"]
            try:
                merged = dict(stored)
                merged["train"] = {
                    **(stored.get("train") if isinstance(stored.get("train"), dict) else {}),
                    "seeds": [int(s) for s in seeds["seeds"]],
                    "restarts": int(seeds["restarts"]),
                }
            except (KeyError, TypeError, ValueError):
                raise CheckpointError(f"checkpoint {where!r} has a malformed seeds entry") from None
            try:
                config = validate(merged)
            except ConfigError as err:
                raise CheckpointError(f"checkpoint {where!r} holds an invalid config: {err}") from None
            self._check_config_file(config)
            self._config = config
        return self._config

    def _check_config_file(self, config: Config, ignore: tuple[str, ...] = RESUMABLE_KEYS) -> None:
        """``CheckpointError`` when ``config.yaml`` beside the checkpoint describes another run."""
        if self.checkpoint_file != self.checkpoint_path or not os.path.lexists(self.config_path):
            return  # a checkpoint file on its own, or a run whose config.yaml was removed
        where = str(self.config_path)
        try:
            declared = load_yaml_file(self.config_path, "the run's config file")
        except ConfigError as err:  # one line, naming the file and the line (never PyYAML's excerpt)
            raise CheckpointError(f"{err}; the checkpoint cannot be checked against it") from None
        try:
            on_disk = _effective(validate(declared if isinstance(declared, dict) else {}))
        except ConfigError as err:
            raise CheckpointError(
                f"{where!r} is not a valid config ({err}); the checkpoint cannot be checked against it"
            ) from None
        stored = _effective(config)
        differ = _configs_disagree(on_disk, stored, ignore)
        if differ:
            key = differ[0]

            a, b = flatten(on_disk).get(key), flatten(stored).get(key)
            more = f" and {len(differ) - 1} more keys" if len(differ) > 1 else ""
            raise CheckpointError(
                f"{CHECKPOINT_NAME} and {CONFIG_NAME} of run {str(self.path)!r} disagree on {key}"
                f" ({_short(b)} vs {_short(a)}){more}: the files come from different runs"
            )

    def check_budget(self) -> budget.Estimate:
        """The declared config's memory estimate against the environment budget (not one the checkpoint sets)."""
        try:
            return budget.check_memory(self.config(), f"run {str(self.path)!r}", budget.environment_limit_gb())
        except budget.BudgetError as err:
            raise CheckpointError(str(err)) from None

    def metrics(self) -> list[dict[str, Any]]:
        """The metrics log (missing file: empty list)."""
        return read_metrics(self.path)


def _effective(config: Config) -> dict[str, Any]:
    """Plain config with ``train.seed``/``train.seeds`` as the one effective seed list (two spellings of it)."""
    data = config.to_dict()
    data["train"]["seeds"] = config.train.seed_list()
    data["train"].pop("seed", None)
    return data


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


STAGING_MARK = ".new-"  # hidden sibling ``.NAME.new-XXXX`` that a --force run is built in


def _exchange(a: Path, b: Path) -> bool:
    """Swap two directories in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``); False if unsupported."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    rc = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    if rc == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


class Checkpointable(Protocol):
    """What a run directory saves: a trainer (``training.trainer.Trainer``) writes its own checkpoint file."""

    def save(self, path: Path, finished: bool, results: list[dict[str, Any]] | None = None) -> None: ...


class RunWriter:
    """The one process writing a run directory: holds its lock, writes its files, swaps a --force run in.

    ``run`` is the run as it will be known (its final path); ``directory`` is where files go now (a hidden
    staging directory until a --force run's first checkpoint). Use as a context manager, or ``release()``.
    """

    def __init__(
        self, run: Run, lock: RunLock, *, config: Config | None = None, staging: Path | None = None,
        staging_lock: RunLock | None = None,
    ) -> None:  # fmt: skip
        self.run = run
        self.lock = lock
        self.config: Config | None = config
        self.staging = staging
        self.staging_lock = staging_lock
        self.resume_data: dict[str, Any] | None = None
        self.saved = False
        self.log: MetricsLog | None = None

    # -- construction ------------------------------------------------------------------------------------
    @classmethod
    def claim_default(cls, config: Config, base: Path) -> RunWriter:
        _mkdirs(base)
        name = default_name(config)
        for n in range(100_000):
            candidate = base / (name if n == 0 else f"{name}-{n}")
            try:
                candidate.mkdir()
            except FileExistsError:
                continue
            except OSError as err:
                raise NaluError(describe_os_error(err, "create run directory")) from None
            return cls(Run(candidate), RunLock(candidate).acquire(), config=config)
        raise NaluError(f"no free run directory name for {name!r} under {str(base)!r}")

    @classmethod
    def at(cls, config: Config, out: Path, *, force: bool) -> RunWriter:
        if out.exists() and not out.is_dir():
            raise ConfigError(f"--out {str(out)!r} is a file, not a directory")
        _mkdirs(out)
        lock = RunLock(out).acquire()
        try:
            present = _has_run_files(out)  # looked at under the lock: no writer is changing it now
            check_out(out, force)
            if not present:
                remove_stale_temps(out)
                return cls(Run(out), lock, config=config)
            _remove_dead_staging(out)
            staging = _new_staging(out)
            return cls(Run(out), lock, config=config, staging=staging, staging_lock=RunLock(staging).acquire())
        except BaseException:
            lock.release()
            raise

    @classmethod
    def direct(cls, path: Path, config: Config, resume: bool) -> RunWriter:
        """A writer for library callers (``train.train(config, path)``): no naming or --force rules."""
        if not resume:
            dump_yaml(config)  # config.yaml must be readable back: refused before the directory is made
        _mkdirs(path)
        writer = cls(Run(path), RunLock(path).acquire(), config=config)
        if resume:
            try:
                writer.resume_data = load_checkpoint(writer.run.checkpoint_path)
                remove_stale_temps(path)
            except BaseException:
                writer.release()
                raise
        else:
            remove_stale_temps(path)
        return writer

    def prepare_resume(self, changes: dict[str, Any]) -> None:
        """Under the lock: remove stale temps, read the checkpoint, check it, apply ``changes``, rewrite config.yaml."""
        remove_stale_temps(self.run.path)
        reader = Run(self.run.path)
        config = reader.config()  # validated and checked against config.yaml (steps and device may differ)
        if changes:
            data = config.to_dict()
            for key, value in changes.items():
                section, name = key.split(".")
                data[section][name] = value
            config = validate(data)
        budget.check_memory(config, "this run")
        data = reader.data()
        done = data.get("step")
        if isinstance(done, int) and not isinstance(done, bool) and config.train.steps < done:
            raise ConfigError(
                f"--steps {config.train.steps} is fewer than the {done} steps this run has already trained;"
                f" give --steps {done} or more to continue it"
            )
        self.config = config
        self.resume_data = data
        self._write(lambda: write_config(self.run.path, dump_yaml(config)), self.run.config_path)

    # -- where files go ------------------------------------------------------------------------------------
    @property
    def directory(self) -> Path:
        return self.staging if self.staging is not None else self.run.path

    @property
    def has_checkpoint(self) -> bool:
        """Whether this run (not a run it replaces) has a checkpoint on disk."""
        return self.saved or self.resume_data is not None

    def _write(self, action: Any, path: Path) -> Any:
        try:
            return action()
        except OSError as err:
            if err.filename is None:
                err.filename = str(path)
            raise NaluError(describe_os_error(err, "write")) from None

    def open_log(self, truncate_after_step: int | None = None) -> MetricsLog:
        """Start writing: ``config.yaml`` (new runs) and the metrics log (kept up to the step on resume)."""
        assert self.config is not None
        config = self.config
        if truncate_after_step is None:
            self._write(lambda: write_config(self.directory, dump_yaml(config)), self.directory / CONFIG_NAME)
        path = self.directory / METRICS_NAME
        if path.is_dir():
            raise NaluError(f"cannot write {str(self.run.metrics_path)!r}: it is a directory")
        self.log = self._write(lambda: MetricsLog(path, truncate_after_step=truncate_after_step), path)
        return self.log

    def write_metrics(self, record: dict[str, Any]) -> None:
        assert self.log is not None
        self._write(lambda: self.log.write(record), self.directory / METRICS_NAME)  # type: ignore[union-attr]

    def save(self, trainer: Checkpointable, finished: bool, results: list[dict[str, Any]] | None = None) -> None:
        """Save a checkpoint atomically; a --force run's first one also swaps it in for the old run."""
        path = self.directory / CHECKPOINT_NAME
        self._write(lambda: trainer.save(path, finished=finished, results=results), path)
        self.saved = True
        if self.staging is not None:
            self._swap_in()

    def _swap_in(self) -> None:
        """Put the staging directory at the run's path, in one step, and delete the run it replaces."""
        assert self.staging is not None and self.staging_lock is not None
        target, staging = self.run.path, self.staging
        try:
            if _exchange(staging, target):
                old = staging  # the old run now sits at the staging path
            else:
                old = target.with_name(f".{target.name}.old-{secrets.token_hex(4)}")
                os.rename(target, old)
                os.rename(staging, target)
        except OSError as err:
            raise NaluError(describe_os_error(err, "replace the run at")) from None
        self.staging = None
        self.lock.release()  # the old run's lock file went with the old run
        self.lock, self.staging_lock = self.staging_lock, None
        self.lock.directory, self.lock.path = target, target / LOCK_NAME
        shutil.rmtree(old, ignore_errors=True)

    def release(self) -> None:
        """Close the log, drop an unswapped staging directory (the old run stays whole), release the locks."""
        if self.log is not None:
            with contextlib.suppress(OSError):
                self.log.close()
            self.log = None
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            self.staging = None
        if self.staging_lock is not None:
            self.staging_lock.release()
            self.staging_lock = None
        self.lock.release()

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _new_staging(out: Path) -> Path:
    staging = out.with_name(f".{out.name}{STAGING_MARK}{os.getpid()}-{secrets.token_hex(4)}")
    try:
        staging.mkdir()
    except OSError as err:
        raise NaluError(describe_os_error(err, "create a directory beside")) from None
    return staging


def _remove_dead_staging(out: Path) -> None:
    """Delete staging directories of --force runs of ``out`` that were killed (their lock is free)."""
    for stale in out.parent.glob(f".{out.name}{STAGING_MARK}*"):
        if not stale.is_dir() or stale.is_symlink():
            continue
        try:
            lock = RunLock(stale).acquire()
        except NaluError:
            continue  # alive: another writer is building it (it will fail on out's lock anyway)
        try:
            shutil.rmtree(stale, ignore_errors=True)
        finally:
            lock.release()


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train": {"lr": 0.1}}`` -> ``{"train.lr": 0.1}``."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{dotted}."))
        else:
            out[dotted] = value
    return out
