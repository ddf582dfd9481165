"""The README's op × unit matrix: how often `nalu train --op OP --unit UNIT` (no other flag) extrapolates.

    python benchmarks/defaults.py                        # every cell, about 10 minutes on one core
    python benchmarks/defaults.py --ops mul,div --units nalu   # remeasure some cells, keep the others
    python benchmarks/defaults.py --out /tmp/matrix.json # write the results elsewhere

For every op and every unit that can represent the op exactly in one layer (``recipes.ONE_LAYER``), plus
each op's default model (no --unit), this trains seeds 0–9 and held-out seeds 100–109 in pair mode
(train U[1,10] → test U[10,100]) with the recipe book's recipe, as one batched model: each seed's result is
bit-identical to training it alone (tests/unit/training/test_train.py checks this), so a cell is the same as twenty
separate `nalu train --op OP --unit UNIT --seed S` runs. Solved means the strict criterion of SPEC
section 4. Writes ``benchmarks/results/pair_matrix.json`` (``tests/unit/config/test_recipes.py`` checks that the
recipe book's ``measured`` numbers are the ones in that file) and prints the README's table.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from nalu_cli.config import recipes
from nalu_cli.config import resolve as config_resolve
from nalu_cli.training.loop import train

OPS = ["add", "sub", "mul", "div", "square", "sqrt", "identity"]
UNITS = ["nac_add", "nac_mul", "nalu", "nau", "nmu", "inalu", "npu", "realnpu", "nmru"]
SEEDS = list(range(10))
RESULTS = Path(__file__).parent / "results" / "pair_matrix.json"


def measure(op: str, unit: str | None) -> dict[str, Any]:
    """Train one cell (``unit`` None: the op's default model) on seeds 0–9 and held-out seeds together."""
    overrides: dict[str, Any] = {"task.op": op, "train.seeds": SEEDS + list(recipes.HELD_OUT_SEEDS)}
    if unit is not None:
        overrides["model.unit"] = unit
    cfg = config_resolve.resolve(overrides=overrides)
    start = time.perf_counter()
    result = train(cfg, stop_on_divergence=False)
    solved = {s["seed"] for s in result.seeds if s["solved"]}
    t = cfg.train
    return {
        "op": op,
        "unit": unit or "default",
        "model": "+".join(cfg.model.units()),
        "steps": t.steps,
        "lr": t.lr,
        "schedule": t.schedule,
        "beta2": t.beta2,
        "restarts": t.restarts,
        "solved": len(solved & set(SEEDS)),
        "held_out": len(solved & set(recipes.HELD_OUT_SEEDS)),
        "failed_seeds": sorted(set(cfg.train.seed_list()) - solved),
        "seconds": round(time.perf_counter() - start, 1),
    }


def cells(ops: list[str], units: list[str]) -> list[tuple[str, str | None]]:
    """(op, unit) for every representable pair; (op, None) for a default model that is not one of them."""
    out: list[tuple[str, str | None]] = []
    for op in ops:
        named = [u for u in units if op in recipes.ONE_LAYER[u]]
        if recipes.default_stack("pair", op) not in [(u,) for u in UNITS if op in recipes.ONE_LAYER[u]]:
            out.append((op, None))
        out += [(op, u) for u in named]
    return out


def table(rows: list[dict[str, Any]], ops: list[str], units: list[str]) -> str:
    """Markdown: one row per unit, one column per op; 'solved 0–9 / held-out' or '–' (cannot represent)."""
    by = {(r["op"], r["model"]): r for r in rows}
    lines = ["| unit | " + " | ".join(ops) + " |", "|---|" + "---|" * len(ops)]
    for unit in ["default", *units]:
        cells_ = []
        for op in ops:
            model = "+".join(recipes.default_stack("pair", op)) if unit == "default" else unit
            r = by.get((op, model))
            if r is None:
                cells_.append("–" if unit != "default" and op not in recipes.ONE_LAYER[unit] else " ")
            else:
                text = f"{r['solved']}/10 · {r['held_out']}/10"
                if unit == "default":
                    text += f" ({r['model'].replace('+', ' → ')})"
                ok = r["solved"] >= recipes.TARGET and r["held_out"] >= recipes.TARGET
                cells_.append(f"**{text}**" if ok else text)
        name = "op's default" if unit == "default" else unit
        lines.append(f"| {name} | " + " | ".join(cells_) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", default=",".join(OPS))
    parser.add_argument("--units", default=",".join(UNITS))
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    ops = [o for o in args.ops.split(",") if o]
    units = [u for u in args.units.split(",") if u]
    rows = []
    for op, unit in cells(ops, units):
        row = measure(op, unit)
        rows.append(row)
        print(
            f"{op:<9} {row['unit']:<8} {row['model']:<8} solved {row['solved']}/10, held-out {row['held_out']}/10"
            f"  ({row['seconds']} s)",
            flush=True,
        )
    report = {
        "command": "python benchmarks/defaults.py",
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()} CPU, {torch.get_num_threads()} thread, torch {torch.__version__}",
        "seeds": SEEDS,
        "held_out_seeds": list(recipes.HELD_OUT_SEEDS),
        "cells": rows,
    }
    if args.out.exists():  # a partial run (--ops/--units) replaces its own cells and keeps the others
        measured = {(r["op"], r["unit"]) for r in rows}
        kept = [c for c in json.loads(args.out.read_text())["cells"] if (c["op"], c["unit"]) not in measured]
        report["cells"] = rows = kept + rows
        ops = [o for o in OPS if any(r["op"] == o for r in rows)]
        units = [u for u in UNITS if any(r["unit"] == u for r in rows)]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print()
    print(table(rows, ops, units))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
