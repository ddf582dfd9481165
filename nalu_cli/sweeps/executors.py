"""Executors that run a grid's tasks: in this process (`nalu benchmark`), local worker processes (with a watchdog
for the driver) and the protocol Ray implements."""

from __future__ import annotations

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
from typing import Any, Protocol

from nalu_cli import __version__
from nalu_cli.config import resolve
from nalu_cli.errors import NaluError

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
    """Train one task (in a worker) and return its per-seed results as plain JSON-safe data. A task with
    ``random_init`` also returns the per-seed MSE of its model at initialisation (``random_mse``), measured
    before the clock starts."""
    from nalu_cli.files import json_safe
    from nalu_cli.training.loop import train

    config = resolve.validate(payload["config"])
    extra: dict[str, Any] = {}
    if payload.get("random_init"):
        from nalu_cli.sweeps.benchmark import random_init_mse

        interpolation, extrapolation = random_init_mse(config)
        extra["random_mse"] = json_safe({"interpolation": interpolation, "extrapolation": extrapolation})
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
    } | extra


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


class InProcessExecutor:
    """This process, one task after another, in the grid's order (`nalu benchmark`). A task's exception is not
    caught: it ends the run, as a failed `nalu train` would. ``on_start(index, total, payload)`` is called
    before each task trains."""

    name = "in-process"

    def __init__(self, on_start: Callable[[int, int, dict[str, Any]], None] | None = None) -> None:
        self.on_start = on_start

    def run(self, payloads: list[dict[str, Any]], on_ready: Callable[[int], None]) -> Iterator[Outcome]:
        on_ready(1)
        for index, payload in enumerate(payloads):
            if self.on_start is not None:
                self.on_start(index, len(payloads), payload)
            yield (index, run_task(payload), None)


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
