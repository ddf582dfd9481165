"""Train a unit from Python, without the command line: the job ``nalu train --op mul --steps 400`` runs.

Run it with ``python docs/examples/train_job.py``; it prints the same lines every time (training on the CPU is
deterministic).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from nalu_cli.training.job import TrainJob

with tempfile.TemporaryDirectory() as tmp:
    job = TrainJob(op="mul", steps=400, device="cpu", out=Path(tmp) / "mul")
    outcome = job.run()  # resolve the config, create the run directory, train, report; prints nothing
    report = outcome.report  # what `nalu train --json` prints
    print(f"solved: {outcome.solved} ({report['solved']} of {report['total']} seeds, on {report['extrapolation']})")
    print(f"formula: {report['seeds'][0]['formula']}")
    print(f"exit code: {outcome.exit_code}")  # what `nalu train` would exit with: 0 here
