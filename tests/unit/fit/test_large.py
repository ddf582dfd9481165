"""nalu fit on a larger table (issue 25, item 2): bounded samples, --steps respected, progress reported."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nalu_cli.fit import driver
from nalu_cli.fit.job import FitJob


def test_a_table_larger_than_every_sample_fits_with_steps_capped_and_progress(tmp_path: Path) -> None:
    rs = np.random.default_rng(0)
    n = 30_000  # more training rows than the MLP sample, minibatches, the readout's and residual test's samples
    a, b = rs.uniform(1, 3, n), rs.uniform(1, 3, n)
    path = tmp_path / "big.csv"
    with path.open("w") as f:
        f.write("a,b,y\n")
        np.savetxt(f, np.stack([a, b, np.exp(a) + b], axis=1), fmt="%.10g", delimiter=",")
    stages: list[str] = []
    done = FitJob(path, "y", steps=2, members=1, out=tmp_path / "run").run(lambda s, i, t: stages.append(s))
    report = done.report
    assert report["rows"]["train"] > driver.MLP_ROWS and report["rows"]["valid"] + report["rows"]["train"] == 24_000
    assert all(c["steps"] == 2 for c in report["candidates"])  # --steps caps every candidate; no second pass
    assert not any("(retry)" in c["stack"] for c in report["candidates"])
    assert report["formula"] is None and report["closest"] is not None  # exp is outside every candidate
    assert stages[0] == "reading the table" and "closed-form answers" in stages and stages[-1] == "done"
    assert any(s.startswith("candidate nau") for s in stages)
