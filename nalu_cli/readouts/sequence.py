"""Reading a recurrent model's formula over time out of its weights.

An additive cell (NAU, NAC+) whose weights are near {-1, 0, 1} reads as one update per hidden unit,
``h_t[0] = h_{t-1}[0] + sum(x_t[2..3])``; the output unit (NAU/NAC+ as a signed sum, NMU as a product of the
selected states) reads as ``y = h_T[0] * h_T[1]``. When the cell only accumulates (its recurrent block is the
identity), the closed form over the whole sequence is given too. Static models go to ``formula.read_formula``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from nalu_cli.models.recurrent import RecurrentModel
from nalu_cli.units.base import Unit

TOL = 0.05


@dataclass
class SeqReadout:
    """The formula over time, or why there is none (the fields ``formula.Readout`` has, plus ``wiring``)."""

    discrete: bool
    formula: str | None
    layers: list[list[str | None]]
    reason: str | None = None
    wiring: list[dict[str, Any]] = field(default_factory=list)


def read_any_formula(model: Any, member: int, probe: torch.Tensor, layer_inputs: Any = None) -> Any:
    """The formula of member ``member`` of a static or recurrent model (``layer_inputs``: see ``read_formula``)."""
    if isinstance(model, RecurrentModel):
        return read_recurrent(model, member)
    reason_of = getattr(model, "formula_reason", None)  # a model that says why it has no formula (text models)
    reason = reason_of() if reason_of is not None else None
    if reason is not None:
        return SeqReadout(False, None, [], reason)
    accumulator = getattr(model, "accumulator", None)  # digits mode: the cell over the image network's numbers
    if isinstance(accumulator, RecurrentModel):
        readout = read_recurrent(accumulator, member)
        if readout.formula is not None:
            readout.formula = readout.formula.replace("x_t[0]", "d_t").replace("x[0]", "d")
        return readout
    from nalu_cli.readouts.formula import read_formula

    return read_formula(model, member, probe, layer_inputs=layer_inputs)


def read_all_formulas(model: Any, members: list[int], probe: torch.Tensor) -> dict[int, Any]:
    """The formulas of several members, with the model's forward pass on ``probe`` done once for all."""
    layer_inputs = None
    if not isinstance(model, RecurrentModel):
        from nalu_cli.readouts.formula import gate_inputs

        layer_inputs = gate_inputs(model, probe)
    return {m: read_any_formula(model, m, probe, layer_inputs) for m in members}


def _snap(value: float, allowed: tuple[float, ...]) -> float | None:
    best = min(allowed, key=lambda a: abs(a - value))
    return best if abs(best - value) <= TOL else None


def _runs(coeffs: dict[int, float]) -> list[tuple[int, int, float]]:
    """Contiguous index runs with one coefficient: (first, last, coefficient)."""
    out: list[tuple[int, int, float]] = []
    for i in sorted(coeffs):
        c = coeffs[i]
        if out and out[-1][1] == i - 1 and out[-1][2] == c:
            out[-1] = (out[-1][0], i, c)
        else:
            out.append((i, i, c))
    return out


def _signed(terms: list[tuple[float, str]]) -> str:
    text = ""
    for c, t in terms:
        if not text:
            text = t if c > 0 else f"-{t}"
        else:
            text += f" + {t}" if c > 0 else f" - {t}"
    return text or "0"


def _x_terms(coeffs: dict[int, float], name: str) -> list[tuple[float, str]]:
    terms = []
    for lo, hi, c in _runs(coeffs):
        terms.append((c, f"{name}[{lo}]" if lo == hi else f"sum({name}[{lo}..{hi}])"))
    return terms


def wiring(model: RecurrentModel, member: int) -> list[dict[str, Any]]:
    """Per hidden unit: the weights from each h_{t-1} entry and each x_t entry (rounded to 3 digits)."""
    if not isinstance(model.cell, Unit) or "W" not in model.cell.effective_weights():
        return []
    w = model.cell.effective_weights()["W"][member].to(torch.float64).cpu()  # [H, H + V]
    h = model.hidden
    return [
        {
            "unit": j,
            "from_h": [round(float(v), 3) for v in w[j, :h]],
            "from_x": [round(float(v), 3) for v in w[j, h:]],
        }
        for j in range(h)
    ]


def read_recurrent(model: RecurrentModel, member: int) -> SeqReadout:
    """``h_t[j] = ...`` for each hidden unit and ``y = ...`` on h_T, when the weights are near-discrete."""
    wires = wiring(model, member)
    cell = model.cell
    if not isinstance(cell, Unit):
        return SeqReadout(
            False, None, [], f"the {model.unit_names[0].upper()} cell is a baseline with no formula", wires
        )
    if cell.kind != "add":
        return SeqReadout(
            False, None, [], f"the readout covers additive cells (NAU, NAC+), not {type(cell).__name__}", wires
        )
    w = cell.effective_weights()["W"][member].to(torch.float64).cpu()  # [H, H + V]
    h = model.hidden
    out_unit = model.output
    wo = out_unit.effective_weights().get("W")
    if wo is None or out_unit.kind not in ("add", "nmu"):
        return SeqReadout(
            False, None, [], f"the readout covers NAU/NAC+/NMU outputs, not {type(out_unit).__name__}", wires
        )
    row = wo[member, 0].to(torch.float64).cpu()  # [H]
    allowed = (-1.0, 0.0, 1.0) if out_unit.kind == "add" else (0.0, 1.0)
    coeffs = [_snap(float(v), allowed) for v in row]
    if any(c is None for c in coeffs):
        k = next(i for i, c in enumerate(coeffs) if c is None)
        return SeqReadout(False, None, [], f"output weight on h_T[{k}] is {float(row[k]):.3f}", wires)
    # The state entries the output reads, and those they read from (entries nothing reads are not a formula).
    needed = {k for k, c in enumerate(coeffs) if c}
    while True:
        more = {k for j in needed for k in range(h) if abs(float(w[j, k])) > TOL} - needed
        if not more:
            break
        needed |= more
    updates: list[str | None] = []
    accumulates, sums = True, []
    for j in range(h):
        if j not in needed:
            updates.append(None)
            sums.append("")
            continue
        snapped = [_snap(float(v), (-1.0, 0.0, 1.0)) for v in w[j]]
        bad = [i for i, v in enumerate(snapped) if v is None]
        if bad:
            i = bad[0]
            source = f"h_{{t-1}}[{i}]" if i < h else f"x_t[{i - h}]"
            return SeqReadout(
                False, None, [], f"cell weight of h_t[{j}] from {source} is {float(w[j, i]):.3f}, not -1, 0 or 1", wires
            )
        from_h = {k: c for k, c in enumerate(snapped[:h]) if c}
        from_x = {i: c for i, c in enumerate(snapped[h:]) if c}
        terms = [(c, f"h_{{t-1}}[{k}]") for k, c in sorted(from_h.items())] + _x_terms(from_x, "x_t")  # type: ignore[arg-type]
        updates.append(f"h_t[{j}] = {_signed(terms)}")  # type: ignore[arg-type]
        accumulates &= from_h == {j: 1.0}
        sums.append(_signed(_x_terms(from_x, "x_t")))  # type: ignore[arg-type]

    def combine(names: list[str]) -> str:
        chosen = [(c, n) for c, n in zip(coeffs, names, strict=True) if c]
        if out_unit.kind == "add":
            return _signed(chosen)  # type: ignore[arg-type]
        return " * ".join(n for _, n in chosen) or "1"

    y = f"y = {combine([f'h_T[{k}]' for k in range(h)])}"
    lines: list[str | None] = [*updates, y]
    if model.h0 is not None:
        start = model.h0[member].detach().to(torch.float64).cpu()
        if max(abs(float(start[k])) for k in needed) > TOL:
            lines.insert(0, "h_0 = [" + ", ".join(f"{float(v):.3g}" for v in start) + "]")
            accumulates = False
    if accumulates:
        wrapped = [f"(Σ_t {s})" if (" " in s) else f"Σ_t {s}" for s in sums]
        if out_unit.kind == "nmu":
            wrapped = [f"({s})" if not s.startswith("(") else s for s in wrapped]
        lines.append(f"i.e. y = {combine(wrapped)}")
    return SeqReadout(True, "; ".join(x for x in lines if x), [updates, [y]], None, wires)
