"""The Ray executor for ``nalu sweep --executor ray``: the same tasks, on a Ray cluster (``pip install 'nalu[ray]'``).

Imported only when that executor is chosen. Each task is a Ray task needing one CPU; a task whose worker
process or node dies is re-run by Ray up to ``retries`` times (``max_retries``), while a task that raises
is reported as failed at once (its error is deterministic: re-running it would fail the same way). Workers
return plain data; the driver alone writes files, so the cluster needs no shared filesystem, only nalu and
its dependencies installed on every node (the same versions as the driver's).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from nalu_cli.errors import NaluError, install_hint
from nalu_cli.sweeps.executors import Outcome, describe_error, run_task


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise NaluError(
            f"--executor ray needs Ray, which is not installed; install it with: {install_hint('ray')}"
        ) from None
    return ray


def _ray_task(payload: dict[str, Any]) -> dict[str, Any]:
    """Runs on a Ray worker: one thread (tiny models gain nothing from more), then the task."""
    import ray
    import torch

    torch.set_num_threads(1)
    return run_task(payload) | {"node": ray.get_runtime_context().get_node_id()}


def _error_text(err: BaseException) -> str:
    cause = getattr(err, "cause", None)  # RayTaskError wraps the task's own exception
    if isinstance(cause, BaseException):
        return describe_error(cause)
    return describe_error(err)


class RayExecutor:
    """Submits tasks to the Ray cluster at ``address`` (None: RAY_ADDRESS, else a Ray started here)."""

    name = "ray"

    def __init__(self, address: str | None = None, retries: int = 3, workers: int | None = None) -> None:
        self.address = address
        self.retries = retries
        self.workers = workers  # CPUs of a Ray started here; a cluster brings its own

    def connect(self) -> tuple[Any, bool]:
        """(the ray module, whether this call connected it and should disconnect afterwards)."""
        ray = import_ray()
        if ray.is_initialized():
            return ray, False
        quiet: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False}
        try:
            if self.address:
                ray.init(address=self.address, **quiet)
            else:
                ray.init(num_cpus=self.workers, include_dashboard=False, **quiet)
        except Exception as err:  # ConnectionError, RuntimeError, ... all mean "no cluster here"
            where = f"at {self.address}" if self.address else "(starting one on this machine)"
            raise NaluError(f"cannot reach a Ray cluster {where}: {describe_error(err)}") from None
        return ray, True

    def run(self, payloads: list[dict[str, Any]], on_ready: Callable[[int], None]) -> Iterator[Outcome]:
        if not payloads:
            return
        ray, owned = self.connect()
        task = ray.remote(_ray_task).options(num_cpus=1, max_retries=self.retries, retry_exceptions=False)
        refs: dict[Any, int] = {}
        pending: list[Any] = []
        try:
            refs = {task.remote(p): i for i, p in enumerate(payloads)}
            pending = list(refs)
            on_ready(max(1, int(ray.cluster_resources().get("CPU", 1))))
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                for ref in ready:
                    outcome: Outcome
                    try:
                        outcome = (refs[ref], ray.get(ref), None)
                    except Exception as err:  # the task raised, or Ray gave up on it after its retries
                        outcome = (refs[ref], None, _error_text(err))
                    yield outcome
        finally:
            for ref in pending:  # interrupted: nobody will collect these
                try:
                    ray.cancel(ref, force=True)
                except Exception:
                    pass
            if owned:
                ray.shutdown()  # disconnects this driver; a cluster keeps running, a Ray started here stops
