"""`nalu sweep --executor ray` on a real two-node Ray cluster gives the local executor's results to the digit.

The cluster and the driver run inside a fresh network namespace that has only the loopback interface (Ray
may bind to the external interface even when told 127.0.0.1, SPEC section 8), and inside a fresh PID
namespace, so `ray stop` there sees only this test's Ray processes and everything left in it is killed
when the namespace's first process ends. Both namespaces are removed afterwards.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import SWEEP_GRID

ROOT = Path(__file__).resolve().parents[2]

CLUSTER_SCRIPT = r"""
set -euo pipefail
RAY="$1"; PY="$2"; TEMP="$3"; GRID="$4"; OUT="$5"; REPORT="$6"
ip link set lo up
# Nothing but loopback here: no traffic can leave the machine.
[ "$(ip -o link show | wc -l)" = 1 ] || { echo "namespace has more than lo" >&2; exit 3; }
trap '"$RAY" stop --force >/dev/null 2>&1 || true' EXIT
export RAY_USAGE_STATS_ENABLED=0
common=(--node-ip-address=127.0.0.1 --num-cpus=1 --object-store-memory=100000000 --disable-usage-stats)
timeout 90 "$RAY" start --head --port=6379 --include-dashboard=false --temp-dir="$TEMP" "${common[@]}"
timeout 90 "$RAY" start --address=127.0.0.1:6379 "${common[@]}"
timeout 240 "$PY" -m nalu_cli sweep "$GRID" --executor ray --address 127.0.0.1:6379 --out "$OUT" --json > "$REPORT"
"""


def _cells(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in report["cells"]]


def _task_records(out: Path) -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted((out / "tasks").glob("*.json"))}


def skip_unless_ci(reason: str) -> None:
    """Skip on a developer machine that lacks what the cluster needs; under CI (``CI`` set, as ``.ci/run`` is
    run) fail instead, so CI shows that the Ray test really ran."""
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the Ray cluster test, but it cannot: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")  # session scope: set up before the session-scoped sweep_reference
def ray_command() -> Path:
    """The ``ray`` command line, once everything the isolated cluster needs is checked (before the fixtures
    that train, so a skip costs nothing)."""
    if importlib.util.find_spec("ray") is None:
        skip_unless_ci("ray is not installed (pip install 'nalu[ray]')")
    if os.geteuid() != 0:
        skip_unless_ci("needs root to create a loopback-only network namespace for the Ray cluster")
    for tool in ("ip", "unshare"):
        if shutil.which(tool) is None:
            skip_unless_ci(f"needs {tool!r} to isolate the Ray cluster in network and PID namespaces")
    probe = subprocess.run(
        ["unshare", "--pid", "--fork", "--mount-proc", "true"], capture_output=True, text=True, timeout=30
    )
    if probe.returncode != 0:
        skip_unless_ci(f"cannot create a PID namespace for the Ray cluster: {probe.stderr.strip()}")
    ray = Path(sys.executable).parent / "ray"
    if not ray.exists():
        skip_unless_ci(f"ray is importable but its command line is not next to {sys.executable}")
    return ray


def test_ray_cluster_gives_the_local_results(
    ray_command: Path, tmp_path: Path, sweep_reference: tuple[Path, dict[str, Any]]
) -> None:
    ray = ray_command
    namespace = f"nalu-ray-{os.getpid()}-{secrets.token_hex(3)}"
    created = subprocess.run(["ip", "netns", "add", namespace], capture_output=True, text=True, timeout=30)
    if created.returncode != 0:
        skip_unless_ci(f"cannot create a network namespace: {created.stderr.strip()}")
    temp = Path(tempfile.mkdtemp(prefix="nray", dir="/tmp"))  # short: Ray's socket paths live under it
    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump(SWEEP_GRID))
    script = tmp_path / "cluster.sh"
    script.write_text(CLUSTER_SCRIPT)
    out, report_path = tmp_path / "sweep", tmp_path / "report.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    env.pop("RAY_ADDRESS", None)
    try:
        done = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                namespace,
                "unshare",
                "--pid",
                "--fork",
                "--mount-proc",
                "--kill-child",
                "bash",
                str(script),
                str(ray),
                sys.executable,
                str(temp),
                str(grid),
                str(out),
                str(report_path),
            ],
            capture_output=True,
            text=True,
            timeout=420,
            env=env,
            cwd=tmp_path,
        )
    finally:
        subprocess.run(["ip", "netns", "delete", namespace], capture_output=True, timeout=30)
        shutil.rmtree(temp, ignore_errors=True)
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-4000:])
    report = json.loads(report_path.read_text())
    ref_dir, ref_report = sweep_reference
    assert report["executor"] == "ray" and report["tasks"] == {"total": 8, "cached": 0, "trained": 8, "failed": 0}
    assert _cells(report) == _cells(ref_report)
    records, reference = _task_records(out), _task_records(ref_dir)
    assert records.keys() == reference.keys()
    assert {k: r["results"] for k, r in records.items()} == {k: r["results"] for k, r in reference.items()}
    assert len({r["node"] for r in records.values()}) == 2, "the tasks did not use both nodes"
    assert subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.count(namespace) == 0
