"""The process the special-file fuzzer (``test_fuzz_special_files.py``) runs nalu commands in.

It imports nalu and torch once, then reads one JSON case per line from stdin (``args``, ``cwd``, ``stdout``,
``stderr``, ``timeout``) and runs each in a forked child (``nalu_cli.cli.main`` as the ``nalu`` script runs
it), so a case costs milliseconds of start-up rather than an interpreter and a torch import. For each case it
writes one JSON line: the exit code, the child's peak resident memory (``ru_maxrss`` from ``wait4``), the
parent's resident memory when it forked (the child starts with it), the seconds taken and whether the case
was killed for running past its timeout.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import time
import traceback


def _rss_kb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() // 1024


def _child(case: dict[str, object]) -> None:
    for fd, name in ((1, "stdout"), (2, "stderr")):
        target = os.open(str(case[name]), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(target, fd)
    os.chdir(str(case["cwd"]))
    sys.argv = ["nalu", *[str(a) for a in case["args"]]]  # type: ignore[attr-defined]
    code = 0
    try:
        from nalu_cli.cli import main

        main()
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except BaseException:  # an escaped exception is a failure the test reports with its traceback
        traceback.print_exc()
        code = 99
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main() -> None:
    import torch

    torch.set_num_threads(1)
    import nalu_cli.cli  # noqa: F401  (and what the commands import, so children start warm)
    import nalu_cli.fit.driver  # noqa: F401
    import nalu_cli.output.reports  # noqa: F401
    import nalu_cli.training.job  # noqa: F401

    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        case = json.loads(line)
        before = _rss_kb()
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:
            _child(case)
        timed_out = False
        while True:
            done, status, usage = os.wait4(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() - started > float(case["timeout"]):
                os.kill(pid, signal.SIGKILL)  # the child this loop forked, by its id
                _, status, usage = os.wait4(pid, 0)
                timed_out = True
                break
            time.sleep(0.01)
        result = {
            "code": os.waitstatus_to_exitcode(status),
            "maxrss_kb": usage.ru_maxrss,
            "parent_kb": before,
            "seconds": time.monotonic() - started,
            "timed_out": timed_out,
        }
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
