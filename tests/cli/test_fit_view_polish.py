"""``nalu fit``'s table (output/render.py ``fit_view``): a withdrawn formula shows as ``rejected: …``, and a
closed-form answer has no weight-deviation clause."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from nalu_cli.output.render import fit_view


def _err(rel: float) -> dict[str, float]:
    return {"rel_err": rel}


def _report(chosen: dict[str, Any]) -> dict[str, Any]:
    other = {
        "stack": "nmu",
        "formula": None,
        "model": {"valid": _err(0.3), "heldout": _err(0.5)},
        "formula_errors": {"valid": None, "heldout": None},
        "deviation": None,
        "reason": "layer 1 weight [0,0] = 0.500 is not near 0 or 1",
    }
    return {
        "rows": {"train": 200, "valid": 100, "heldout": 100},
        "target": "y",
        "inputs": ["a", "b"],
        "heldout": "rows with a in [5, 10]",
        "candidates": [other, chosen],
        "chosen": 1,
        "baselines": {"linear": {"formula": "y = 2 * a", "valid": _err(0.1), "heldout": _err(0.2)}},
    }


def _text(report: dict[str, Any]) -> str:
    console = Console(record=True, width=220, color_system=None)
    console.print(fit_view(report))
    return console.export_text()


def test_a_rejected_formula_is_shown_as_rejected() -> None:
    chosen = {
        "stack": "nmu→nau [2]",
        "formula": None,
        "rejected_formula": "y = a * b",
        "model": {"valid": _err(0.24), "heldout": _err(0.3)},
        "formula_errors": {"valid": _err(0.24), "heldout": _err(0.3)},
        "deviation": 0.0,
        "reason": "y = a * b does not fit the validation rows to the noise level",
    }
    text = _text(_report(chosen))
    assert "rejected: y = a * b" in text
    assert text.count("not discrete") == 1  # the other candidate, whose weights are not discrete
    assert "formula: none read" in text


def test_closed_form_answers_have_no_weight_deviation_clause() -> None:
    chosen = {
        "stack": "log-space least squares",
        "formula": "y = a * b**2 / 2",
        "model": {"valid": _err(1e-12), "heldout": _err(1e-12)},
        "formula_errors": {"valid": _err(1e-12), "heldout": _err(1e-12)},
        "deviation": 0.0,
        "reason": None,
    }
    text = _text(_report(chosen))
    assert "formula: y = a * b**2 / 2" in text and "reproduces the validation rows exactly" in text
    assert "weight deviation" not in text
    trained = dict(chosen, stack="nmu→nau [2]", deviation=0.004)
    assert "largest weight deviation from the formula's values 0.004" in _text(_report(trained))
