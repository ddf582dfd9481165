"""nalu fit's minibatches: rows from the counter-based generator, a pure function of (seed, step); a fit on a
table large enough to be trained in minibatches is reproducible and still recovers its formula."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from nalu_cli.fit import candidates
from nalu_cli.fit.candidates import BATCH, FULL_BATCH, batch_rows
from nalu_cli.fit.driver import fit


def test_batch_rows_are_a_pure_function_of_seed_and_step() -> None:
    rows = batch_rows(3, 17, 5000, BATCH)
    assert rows.shape == (BATCH,) and rows.dtype == torch.int64
    assert int(rows.min()) >= 0 and int(rows.max()) < 5000
    torch.manual_seed(123)  # the global generator plays no part
    assert torch.equal(batch_rows(3, 17, 5000, BATCH), rows)
    batch_rows(3, 18, 5000, BATCH)  # nor does what was drawn before
    assert torch.equal(batch_rows(3, 17, 5000, BATCH), rows)
    assert not torch.equal(batch_rows(3, 18, 5000, BATCH), rows)
    assert not torch.equal(batch_rows(4, 17, 5000, BATCH), rows)
    # a longer draw starts with the shorter one: each row is a function of (seed, step, index) alone
    assert torch.equal(batch_rows(3, 17, 5000, 2 * BATCH)[:BATCH], rows)


def test_batch_rows_are_the_same_in_another_process() -> None:
    code = (
        "import json; from nalu_cli.fit.candidates import batch_rows; "
        "print(json.dumps([batch_rows(7, s, 1500, 128).tolist() for s in (0, 1, 999)]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == [batch_rows(7, s, 1500, 128).tolist() for s in (0, 1, 999)]


def test_batch_rows_cover_the_table_evenly() -> None:
    """4000 steps × 128 rows over 1000 rows: every row drawn, counts within a chi-square bound."""
    counts = np.bincount(torch.cat([batch_rows(0, s, 1000, BATCH) for s in range(4000)]).numpy(), minlength=1000)
    expected = 4000 * BATCH / 1000
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert counts.min() > 0 and chi2 < 1000 + 5 * np.sqrt(2 * 1000)  # mean 999, sd ~45


def _big_table(path: Path, n: int = 1650) -> Path:
    """F = m * a on n rows (more than FULL_BATCH train after the held-out and validation splits)."""
    rs = np.random.default_rng(0)
    m, a = rs.uniform(1, 10, n), rs.uniform(1, 10, n)
    path.write_text("m,a,F\n" + "".join(f"{x:.12g},{z:.12g},{x * z:.12g}\n" for x, z in zip(m, a, strict=True)))
    return path


def test_a_minibatch_fit_is_reproducible_and_recovers_its_formula(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn: list[tuple[int, int]] = []

    def counting(seed: int, step: int, n: int, size: int) -> torch.Tensor:
        drawn.append((seed, step))
        return batch_rows(seed, step, n, size)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("fit drew batch rows from torch's stateful generator")

    monkeypatch.setattr(candidates, "batch_rows", counting)
    monkeypatch.setattr(torch, "randint", refuse)
    path = _big_table(tmp_path / "t.csv")
    first = fit(path, "F", units=["nmu"], hidden=[], members=4, steps=300)
    assert first["rows"]["train"] > FULL_BATCH and drawn[:2] == [(0, 0), (0, 1)]
    second = fit(path, "F", units=["nmu"], hidden=[], members=4, steps=300)
    (a,), (b,) = first["candidates"], second["candidates"]
    assert a["members_valid_mse"] == b["members_valid_mse"] and a["steps"] == b["steps"] > 0
    assert first["formula"] == second["formula"] == "F = m * a"
    assert a["formula_errors"]["heldout"]["rel_err"] < 1e-6
