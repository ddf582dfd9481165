"""Formula recovery: `nalu fit` against gplearn's SymbolicRegressor on the same rows.

Textbook formulas within the units' class (products, ratios, sums, sums of products), each as a table of
inputs drawn from U[1, 10] (training) and a second table from U[10, 20] (held-out larger inputs, never
trained on), in up to three variants: clean, with two distractor columns, and with the distractors and 1%
multiplicative noise on the target. Per fit: is the formula recovered exactly (sympy: the formula read
back minus the true one simplifies to 0), the wall time, and the extrapolation error (RMS error / RMS of
the target on the larger inputs) of the recovered formula or model.

gplearn is a benchmark-only dependency (`pip install gplearn`); it gets + - * /, no constants (the units
have none either), population 1000, 20 generations, one job.

Usage: python benchmarks/formula_recovery.py [--variants clean,distractors,noisy] [--only F,P] [--json out.json]
       [--seed N (nalu fit's --seed: validation split and initialisation)] [--no-gplearn (nalu fit only)]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nalu_cli.fit.driver import fit
from nalu_cli.tasks.expressions import parse_expression, readout_expression

# name: (inputs, target expression over x0, x1, …)
FORMULAS: dict[str, tuple[list[str], str]] = {
    "F = m*a": (["m", "a"], "x0 * x1"),
    "P = V*I": (["V", "I"], "x0 * x1"),
    "v = d/t": (["d", "t"], "x0 / x1"),
    "rho = m/V": (["m", "V"], "x0 / x1"),
    "V = l*w*h": (["l", "w", "h"], "x0 * x1 * x2"),
    "E = V*I*t": (["V", "I", "t"], "x0 * x1 * x2"),
    "s = a+b+c": (["a", "b", "c"], "x0 + x1 + x2"),
    "net = gross-tax": (["gross", "tax"], "x0 - x1"),
    "total = price*qty-discount": (["price", "qty", "discount"], "x0 * x1 - x2"),
    "v = u+a*t": (["u", "a", "t"], "x0 + x1 * x2"),
    "y = (a+b)*c": (["a", "b", "c"], "(x0 + x1) * x2"),
    "A = l*w+l*h+w*h": (["l", "w", "h"], "x0 * x1 + x0 * x2 + x1 * x2"),
}
VARIANTS = ("clean", "distractors", "noisy")
NOT_RUN = {"recovered": False, "seconds": math.nan, "formula": None, "heldout_rel": math.nan}  # --no-gplearn


def make_rows(
    n_inputs: int, expression: str, lo: float, hi: float, n: int, distractors: int, noise: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    rs = np.random.default_rng(seed)
    x = rs.uniform(lo, hi, (n, n_inputs + distractors))
    with torch.no_grad():
        y = parse_expression(expression).evaluate(torch.from_numpy(x[:, :n_inputs]))[:, 0].numpy()
    if noise:
        y = y * (1 + noise * rs.standard_normal(n))
    return x, y


def write(path: Path, names: list[str], x: np.ndarray, y: np.ndarray) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*names, "target"])
        for row, t in zip(x, y, strict=True):
            w.writerow([f"{v:.12g}" for v in row] + [f"{t:.12g}"])


def rel(pred: np.ndarray, y: np.ndarray) -> float:
    with np.errstate(all="ignore"):
        value = float(np.sqrt(np.mean((pred - y) ** 2)) / np.sqrt(np.mean(y**2)))
    return value if math.isfinite(value) else math.inf


def gplearn_program_to_sympy(program: list[Any]) -> Any:
    """gplearn's prefix program (functions with ``arity``/``name``, feature indices, constants) as sympy."""
    import sympy

    ops = {
        "add": lambda a, b: a + b,
        "sub": lambda a, b: a - b,
        "mul": lambda a, b: a * b,
        "div": lambda a, b: a / b,
        "sqrt": lambda a: sympy.sqrt(sympy.Abs(a)),  # gplearn's protected sqrt (benchmarks/feynman.py gives it)
    }

    def read(i: int) -> tuple[Any, int]:
        node = program[i]
        if hasattr(node, "arity"):
            args = []
            j = i + 1
            for _ in range(node.arity):
                value, j = read(j)
                args.append(value)
            return ops[node.name](*args), j
        leaf = sympy.Symbol(f"x{node}") if isinstance(node, (int, np.integer)) else sympy.nsimplify(float(node))
        return leaf, i + 1

    return read(0)[0]


def run_nalu(train_csv: Path, test_csv: Path, target: str, n_true: int, seed: int = 0) -> dict[str, Any]:
    started = time.perf_counter()
    report = fit(train_csv, "target", test=test_csv, seed=seed)
    seconds = time.perf_counter() - started
    chosen = report["candidates"][report["chosen"]]
    formula_x = chosen["formula_x"] if report["formula"] else None  # a withdrawn formula is no answer
    recovered = False
    if formula_x:
        import sympy

        read = readout_expression(formula_x)
        recovered = read is not None and sympy.simplify(read.sympy() - parse_expression(target).sympy()) == 0
    heldout = chosen["formula_errors"]["heldout"] or chosen["model"]["heldout"]
    return {
        "recovered": bool(recovered),
        "seconds": seconds,
        "formula": report["formula"],
        "heldout_rel": heldout["rel_err"],
        "mlp_heldout_rel": report["baselines"]["mlp"]["heldout"]["rel_err"],
        "linear_heldout_rel": report["baselines"]["linear"]["heldout"]["rel_err"],
    }


def run_gplearn(x: np.ndarray, y: np.ndarray, xt: np.ndarray, yt: np.ndarray, target: str, seed: int) -> dict[str, Any]:
    import sympy
    from gplearn.genetic import SymbolicRegressor

    started = time.perf_counter()
    model = SymbolicRegressor(
        population_size=1000,
        generations=20,
        function_set=("add", "sub", "mul", "div"),
        const_range=None,
        metric="mse",
        stopping_criteria=1e-10,
        parsimony_coefficient=0.001,
        random_state=seed,
        n_jobs=1,
    )
    model.fit(x, y)
    seconds = time.perf_counter() - started
    expr = gplearn_program_to_sympy(model._program.program)
    try:
        recovered = bool(sympy.simplify(expr - parse_expression(target).sympy()) == 0)
    except Exception:  # an odd program sympy cannot simplify counts as not recovered
        recovered = False
    return {
        "recovered": recovered,
        "seconds": seconds,
        "formula": str(model._program),
        "heldout_rel": rel(model.predict(xt), yt),
    }


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The docs' table of a results file (``--json``), and the totals line under it."""
    out = [
        "| formula | variant | nalu fit: recovered | time | extrapolation error | gplearn: recovered | time"
        " | extrapolation error | MLP extrapolation error |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        a, b = r["nalu"], r["gplearn"]
        out.append(
            f"| `{r['formula']}` | {r['variant']} | {'yes' if a['recovered'] else '**no**'} | {a['seconds']:.1f} s"
            f" | {a['heldout_rel']:.2g} | {'yes' if b['recovered'] else '**no**'} | {b['seconds']:.1f} s"
            f" | {b['heldout_rel']:.2g} | {a['mlp_heldout_rel']:.2g} |"
        )
    na, gb = sum(r["nalu"]["recovered"] for r in rows), sum(r["gplearn"]["recovered"] for r in rows)
    ta, tb = sum(r["nalu"]["seconds"] for r in rows), sum(r["gplearn"]["seconds"] for r in rows)
    out.append("")
    out.append(
        f"**Recovered: nalu fit {na}/{len(rows)}, gplearn {gb}/{len(rows)}; total wall time: nalu fit {ta:.1f} s,"
        f" gplearn {tb:.0f} s ({tb / ta:.0f}x).**"
    )
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--only", default="", help="comma-separated formula names (default: all)")
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=0, help="nalu fit's --seed")
    parser.add_argument("--no-gplearn", action="store_true", help="run nalu fit only")
    parser.add_argument("--table", type=Path, default=None, help="print the docs' markdown table of a --json file")
    args = parser.parse_args()
    if args.table is not None:
        print(markdown_table(json.loads(args.table.read_text())))
        return
    torch.set_num_threads(1)
    variants = [v for v in args.variants.split(",") if v]
    chosen = [f for f in FORMULAS if not args.only or f.split(" =")[0] in args.only.split(",")]
    rows: list[dict[str, Any]] = []
    print(
        f"{'formula':<28} {'variant':<12} {'nalu':>5} {'time':>7} {'extrap':>9}   {'gplearn':>7} {'time':>7} {'extrap':>9}   {'MLP extrap':>10}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for name in chosen:
            k = list(FORMULAS).index(name)  # the rows of a formula do not depend on which others run
            names, target = FORMULAS[name]
            for variant in variants:
                distractors = 0 if variant == "clean" else 2
                noise = 0.01 if variant == "noisy" else 0.0
                all_names = names + [f"z{i}" for i in range(distractors)]
                x, y = make_rows(len(names), target, 1, 10, args.rows, distractors, noise, seed=k)
                xt, yt = make_rows(len(names), target, 10, 20, args.rows // 4, distractors, noise, seed=1000 + k)
                train_csv, test_csv = Path(tmp) / "train.csv", Path(tmp) / "test.csv"
                write(train_csv, all_names, x, y)
                write(test_csv, all_names, xt, yt)
                a = run_nalu(train_csv, test_csv, target, len(names), args.seed)
                b = NOT_RUN if args.no_gplearn else run_gplearn(x, y, xt, yt, target, seed=k)
                rows.append({"formula": name, "variant": variant, "nalu": a, "gplearn": b})
                print(
                    f"{name:<28} {variant:<12} {'yes' if a['recovered'] else 'no':>5} {a['seconds']:>6.1f}s {a['heldout_rel']:>9.2g}"
                    f"   {'yes' if b['recovered'] else 'no':>7} {b['seconds']:>6.1f}s {b['heldout_rel']:>9.2g}   {a['mlp_heldout_rel']:>10.2g}",
                    flush=True,
                )
    n = len(rows)
    na = sum(r["nalu"]["recovered"] for r in rows)
    gb = sum(r["gplearn"]["recovered"] for r in rows)
    ta = sum(r["nalu"]["seconds"] for r in rows)
    tb = sum(r["gplearn"]["seconds"] for r in rows)
    if args.no_gplearn:
        print(f"\nrecovered: nalu fit {na}/{n} (seed {args.seed}); total wall time {ta:.0f} s; gplearn not run")
    else:
        print(
            f"\nrecovered: nalu fit {na}/{n}, gplearn {gb}/{n}; total wall time: nalu fit {ta:.0f} s, gplearn {tb:.0f} s ({tb / ta:.2g}x)"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2, default=float))


if __name__ == "__main__":
    main()
