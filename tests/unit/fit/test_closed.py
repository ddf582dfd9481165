"""nalu fit's closed-form answers and the answer rule, on tables made from real laws (issue 22).

Each test fits a real table end to end through ``fit`` and checks the formula printed (with its constants)
and that a wrong formula is never the answer."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from nalu_cli.cli.core import app
from nalu_cli.fit.closed import monomial, product_proposal, proposals
from nalu_cli.fit.driver import fit

runner = CliRunner()


def table(path: Path, names: list[str], x: np.ndarray, y: np.ndarray) -> Path:
    lines = [",".join(names)] + [",".join(f"{v:.12g}" for v in (*row, t)) for row, t in zip(x, y, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return path


def law(tmp_path: Path, names: list[str], f, lo=1.0, hi=5.0, n=400, noise=0.0, seed=0) -> Path:  # type: ignore[no-untyped-def]
    rs = np.random.default_rng(seed)
    x = rs.uniform(lo, hi, (n, len(names) - 1))
    y = f(*x.T) * (1 + noise * rs.standard_normal(n))
    return table(tmp_path / "t.csv", names, x, y)


def test_half_a_product_of_powers_is_read_with_its_constant(tmp_path: Path) -> None:
    """U = k·x²/2 (no formula at all before): log-space least squares, exponents [1, 2], the constant 0.5."""
    report = fit(law(tmp_path, ["k", "x", "U"], lambda k, x: k * x**2 / 2), "U")
    assert report["formula"] == "U = 0.5 * k * x**2"
    chosen = report["candidates"][report["chosen"]]
    assert chosen["stack"] == "log-space least squares" and chosen["formula_errors"]["heldout"]["rel_err"] < 1e-9
    assert report["closest"] is None


def test_pi_and_a_unit_conversion(tmp_path: Path) -> None:
    report = fit(law(tmp_path, ["h", "omega", "E"], lambda h, w: h * w / (2 * math.pi)), "E")
    assert report["formula"] == "E = (1/(2*pi)) * h * omega"
    report = fit(law(tmp_path, ["c", "F"], lambda c: 1.8 * c + 32, lo=-20, hi=40), "F")
    assert report["formula"] == "F = 1.8 * c + 32"


def test_a_sum_with_a_product_on_inputs_of_both_signs(tmp_path: Path) -> None:
    """y = a·b + c on U(-10, 10): the answer was y = a * b (24% error, 'only noise'); now the law itself."""
    report = fit(law(tmp_path, ["a", "b", "c", "y"], lambda a, b, c: a * b + c, lo=-10, hi=10), "y")
    assert report["formula"] == "y = a * b + c"


def test_ratios_of_sums(tmp_path: Path) -> None:
    report = fit(
        law(tmp_path, ["m1", "m2", "r1", "r2", "r"], lambda m1, m2, r1, r2: (m1 * r1 + m2 * r2) / (m1 + m2)), "r"
    )
    assert report["formula"] == "r = (m1 * r1 + m2 * r2) / (m1 + m2)"
    report = fit(law(tmp_path, ["Y", "s", "mu"], lambda y, s: y / (2 * (1 + s))), "mu")
    assert report["formula"] == "mu = (0.5 * Y) / (s + 1)"


def test_noisy_constant_keeps_the_digits_the_data_supports(tmp_path: Path) -> None:
    """p = 8.314·T with 1% noise (320 training rows: the constant is known to about ±0.005): 8.3 or 8.32, not
    25/3 and not 8.314; a warning says so. Clean data: every digit."""
    report = fit(law(tmp_path, ["T", "p"], lambda t: 8.314 * t, noise=0.01), "p")
    assert report["formula"] in ("p = 8.3 * T", "p = 8.31 * T", "p = 8.32 * T")
    assert any("only the digits the data supports" in w for w in report["warnings"])
    clean = fit(law(tmp_path, ["T", "p"], lambda t: 8.314 * t), "p")
    assert clean["formula"] == "p = 8.314 * T"


def test_a_law_outside_every_candidate_is_never_the_answer(tmp_path: Path) -> None:
    """y = exp(a) + b is outside every candidate: no formula, the closest shown as such (CLI and JSON)."""
    path = law(tmp_path, ["a", "b", "y"], lambda a, b: np.exp(a) + b, lo=1, hi=3, n=120)
    result = runner.invoke(app, ["fit", str(path), "--target", "y", "--steps", "30", "--members", "2", "--json",
                                 "--out", str(tmp_path / "run")])  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["formula"] is None
    closest = report["closest"]
    assert closest["formula"].startswith("y = ") and closest["valid_rel_err"] > 1e-4
    chosen = report["candidates"][report["chosen"]]
    assert "no formula fits the validation rows to their noise level" in chosen["reason"]
    text = runner.invoke(app, ["fit", str(path), "--target", "y", "--steps", "30", "--members", "2",
                               "--out", str(tmp_path / "run2")], env={"COLUMNS": "200"})  # fmt: skip
    assert "formula: none read — no formula fits" in text.stdout and "the closest" in text.stdout


def test_a_closed_form_run_is_evaluated_on_another_table(tmp_path: Path) -> None:
    path = law(tmp_path, ["k", "x", "U"], lambda k, x: k * x**2 / 2)
    fit(path, "U", out=tmp_path / "run")
    other = law(tmp_path, ["k", "x", "U"], lambda k, x: k * x**2 / 2, lo=5, hi=10, seed=1)
    result = runner.invoke(app, ["eval", str(tmp_path / "run"), "--data", str(other), "--json"])
    assert result.exit_code == 0, result.output
    evaluated = json.loads(result.stdout)
    assert evaluated["formula"] == "U = 0.5 * k * x**2" and evaluated["formula_errors"]["rel_err"] < 1e-9


def test_proposals_are_simplest_first_and_exponents_are_read_as_halves() -> None:
    rs = np.random.default_rng(0)
    x = rs.uniform(1, 5, (300, 3))
    y = np.sqrt(x[:, 0] * x[:, 1] / x[:, 2])
    prop = product_proposal(x, y)
    assert prop is not None and prop.formula == "y = sqrt(x0) * sqrt(x1) / sqrt(x2)"
    assert np.allclose(prop.predict(x), y)
    assert np.allclose(monomial(x, (2.0, 0.0, -1.0)), x[:, 0] ** 2 / x[:, 2])
    first = next(proposals(x, x[:, 0] * x[:, 1]))
    assert first.formula == "y = x0 * x1" and first.method == "product"


def test_residual_test_finds_a_missing_term_when_the_formula_crosses_zero() -> None:
    """y = a·b + c on U(-10, 10): the residual c of `a * b` is structure, not noise (it was called noise: the
    residuals divided by a·b, huge where a·b is near 0, hid it); 1% noise on the full law is still noise."""
    from nalu_cli.fit.candidates import _only_noise

    rs = np.random.default_rng(0)
    x = rs.uniform(-10, 10, (320, 3))
    y = x[:, 0] * x[:, 1] + x[:, 2]
    partial = x[:, 0] * x[:, 1]
    assert not _only_noise(y - partial, partial, x)
    noisy = y + 0.01 * np.sqrt(np.mean(y**2)) * rs.standard_normal(320)
    assert _only_noise(noisy - y, y, x)
