"""`nalu fit` on AI Feynman laws against gplearn (issue 22, item 5). The laws were chosen by a rule written down before any result was seen.

Source: the 100 equations of the AI Feynman data set (Udrescu & Tegmark 2020, "AI Feynman: a physics-inspired
method for symbolic regression", Science Advances 6; the list ``FeynmanEquations.csv`` published with it),
written here from that list with its equation numbers and variable names (``pi`` is π).

Selection rule (fixed 2026-12-06, before any fit was run):
1. Keep an equation when its formula uses only + − × ÷, integer powers, square roots of a product or ratio
   of inputs (a half power), and numeric constants (π included): the operations ``nalu fit``'s ladder and
   closed-form answers are meant to cover (issue 22, item 5). Equations with exp, log, sin, cos, arcsin or
   tanh, and square roots of a sum or difference (``sqrt(1 - v**2/c**2)``, ``sqrt(x**2 + y**2)``), are out.
2. Every input is drawn from U[1, 5] (test rows: U[5, 10]). An equation whose divisor can reach 0 on either
   box (interval arithmetic, ``Expression.domain_problems``: ``1 - v/c``, ``w**2 - w0**2``, ``1 - n*a/3``)
   is out, because its table would hold arbitrarily large values; this script applies this check and
   reports which equations it removed.
Nothing else was removed; the list below is every equation rule 1 keeps, in the order of the published list.

How it runs (``python benchmarks/feynman.py``): every kept law gets a table of 400 rows with inputs U[1, 5] and a
test table of 400 rows U[5, 10], in two variants: ``clean`` and ``noisy`` (1% multiplicative noise on the
training table's target; the test table stays clean). ``nalu fit TABLE --target target --test TEST`` runs with its
defaults. gplearn's ``SymbolicRegressor`` (benchmark-only: ``pip install gplearn``) gets + - * / sqrt, constants
in [-2, 2], population 500, 10 generations, one job: a budget of a few seconds per table on the 2-core machine
these numbers come from (its 1000 × 20 budget of ``formula_recovery.py`` took up to 110 s per table there).
A law is *recovered* when the formula printed (constants as printed) equals the law symbolically (sympy), or
reproduces it to a relative RMS error below 1e-6 on rows far outside the data (U[10, 20]). Also recorded: the
wall time and the relative RMS error on the test rows (extrapolation).

Usage: python benchmarks/feynman.py [--tools nalu,gplearn] [--variants clean,noisy] [--only I.12.1,...]
         [--json benchmarks/results/feynman_nalu.json]
       python benchmarks/feynman.py --table benchmarks/results/feynman_nalu.json benchmarks/results/feynman_gplearn.json
         (prints the docs table of docs/measurements/feynman.md)
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.formula_recovery import gplearn_program_to_sympy, rel, write  # noqa: E402
from nalu_cli.fit.driver import fit  # noqa: E402
from nalu_cli.tasks.expressions import Expression, parse_expression, readout_expression  # noqa: E402

# equation number: (input names, formula in those names; ``pi`` is π)
LAWS: dict[str, tuple[list[str], str]] = {
    "I.9.18": (
        ["m1", "m2", "G", "x1", "x2", "y1", "y2", "z1", "z2"],
        "G*m1*m2/((x2 - x1)**2 + (y2 - y1)**2 + (z2 - z1)**2)",
    ),
    "I.11.19": (["x1", "x2", "x3", "y1", "y2", "y3"], "x1*y1 + x2*y2 + x3*y3"),
    "I.12.1": (["mu", "Nn"], "mu*Nn"),
    "I.12.2": (["q1", "q2", "eps", "r"], "q1*q2/(4*pi*eps*r**2)"),
    "I.12.4": (["q1", "eps", "r"], "q1/(4*pi*eps*r**2)"),
    "I.12.5": (["q2", "Ef"], "q2*Ef"),
    "I.13.4": (["m", "v", "u", "w"], "1/2*m*(v**2 + u**2 + w**2)"),
    "I.13.12": (["m1", "m2", "r1", "r2", "G"], "G*m1*m2*(1/r2 - 1/r1)"),
    "I.14.3": (["m", "g", "z"], "m*g*z"),
    "I.14.4": (["k", "x"], "1/2*k*x**2"),
    "I.16.6": (["c", "v", "u"], "(u + v)/(1 + u*v/c**2)"),
    "I.18.4": (["m1", "m2", "r1", "r2"], "(m1*r1 + m2*r2)/(m1 + m2)"),
    "I.24.6": (["m", "omega", "omega0", "x"], "1/4*m*(omega**2 + omega0**2)*x**2"),
    "I.25.13": (["q", "C"], "q/C"),
    "I.27.6": (["d1", "d2", "n"], "1/(1/d1 + n/d2)"),
    "I.29.4": (["omega", "c"], "omega/c"),
    "I.32.5": (["q", "a", "eps", "c"], "q**2*a**2/(6*pi*eps*c**3)"),
    "I.32.17": (
        ["eps", "c", "Ef", "r", "omega", "omega0"],
        "(1/2*eps*c*Ef**2)*(8*pi*r**2/3)*(omega**4/(omega**2 - omega0**2)**2)",
    ),
    "I.34.8": (["q", "v", "B", "p"], "q*v*B/p"),
    "I.34.10": (["c", "v", "omega0"], "omega0/(1 - v/c)"),
    "I.34.27": (["omega", "h"], "h/(2*pi)*omega"),
    "I.38.12": (["m", "q", "h", "eps"], "4*pi*eps*(h/(2*pi))**2/(m*q**2)"),
    "I.39.10": (["pF", "V"], "3/2*pF*V"),
    "I.39.11": (["gamma", "pF", "V"], "1/(gamma - 1)*pF*V"),
    "I.39.22": (["n", "T", "V", "kb"], "n*kb*T/V"),
    "I.43.16": (["mu", "q", "Ve", "d"], "mu*q*Ve/d"),
    "I.43.31": (["mu", "kb", "T"], "mu*kb*T"),
    "I.43.43": (["gamma", "kb", "A", "v"], "1/(gamma - 1)*kb*v/A"),
    "I.47.23": (["gamma", "pr", "rho"], "sqrt(gamma*pr/rho)"),
    "II.2.42": (["kappa", "T1", "T2", "A", "d"], "kappa*(T2 - T1)*A/d"),
    "II.3.24": (["Pwr", "r"], "Pwr/(4*pi*r**2)"),
    "II.4.23": (["q", "eps", "r"], "q/(4*pi*eps*r)"),
    "II.8.7": (["q", "eps", "d"], "3/5*q**2/(4*pi*eps*d)"),
    "II.8.31": (["eps", "Ef"], "eps*Ef**2/2"),
    "II.10.9": (["sigma", "eps", "chi"], "sigma/eps*1/(1 + chi)"),
    "II.11.3": (["q", "Ef", "m", "omega0", "omega"], "q*Ef/(m*(omega0**2 - omega**2))"),
    "II.11.20": (["n", "pd", "Ef", "kb", "T"], "n*pd**2*Ef/(3*kb*T)"),
    "II.11.27": (["n", "alpha", "eps", "Ef"], "n*alpha/(1 - n*alpha/3)*eps*Ef"),
    "II.11.28": (["n", "alpha"], "1 + n*alpha/(1 - n*alpha/3)"),
    "II.13.17": (["eps", "c", "I", "r"], "1/(4*pi*eps*c**2)*2*I/r"),
    "II.21.32": (["q", "eps", "r", "v", "c"], "q/(4*pi*eps*r*(1 - v/c))"),
    "II.27.16": (["eps", "c", "Ef"], "eps*c*Ef**2"),
    "II.27.18": (["eps", "Ef"], "eps*Ef**2"),
    "II.34.2a": (["q", "v", "r"], "q*v/(2*pi*r)"),
    "II.34.2": (["q", "v", "r"], "q*v*r/2"),
    "II.34.11": (["g_", "q", "B", "m"], "g_*q*B/(2*m)"),
    "II.34.29a": (["q", "h", "m"], "q*h/(4*pi*m)"),
    "II.34.29b": (["g_", "h", "Jz", "mom", "B"], "g_*mom*B*Jz/(h/(2*pi))"),
    "II.36.38": (["mom", "H", "kb", "T", "alpha", "eps", "c", "M"], "mom*H/(kb*T) + mom*alpha*M/(eps*c**2*kb*T)"),
    "II.37.1": (["mom", "B", "chi"], "mom*(1 + chi)*B"),
    "II.38.3": (["Y", "A", "d", "x"], "Y*A*x/d"),
    "II.38.14": (["Y", "sigma"], "Y/(2*(1 + sigma))"),
    "III.7.38": (["mom", "B", "h"], "2*mom*B/(h/(2*pi))"),
    "III.12.43": (["n", "h"], "n*h/(2*pi)"),
    "III.13.18": (["E_n", "d", "k", "h"], "2*E_n*d**2*k/(h/(2*pi))"),
    "III.15.14": (["h", "E_n", "d"], "(h/(2*pi))**2/(2*E_n*d**2)"),
    "III.15.27": (["alpha", "n", "d"], "2*pi*alpha/(n*d)"),
    "III.19.51": (["m", "q", "eps", "h", "n"], "-m*q**4/(2*(4*pi*eps)**2*(h/(2*pi))**2)*(1/n**2)"),
    "III.21.20": (["rho_c0", "q", "A_vec", "m"], "-rho_c0*q*A_vec/m"),
}


ROWS = 400
TRAIN, TEST, FAR = ((1.0, 5.0),), ((5.0, 10.0),), (10.0, 20.0)
VARIANTS = ("clean", "noisy")


def expression(law: str) -> Expression:
    """A law over its named inputs as an Expression over x0, x1, … (names replaced in order, longest first)."""
    names, text = LAWS[law]
    order = sorted(range(len(names)), key=lambda i: -len(names[i]))
    for i in order:
        text = re.sub(rf"\b{re.escape(names[i])}\b", f"X{i}", text)
    return parse_expression(text.replace("X", "x"))


def kept_laws() -> tuple[list[str], dict[str, str]]:
    """Rule 2 of the module docstring: (laws kept, {law removed: why})."""
    kept, removed = [], {}
    for law in LAWS:
        problems = expression(law).domain_problems(TRAIN, "train") + expression(law).domain_problems(TEST, "test")
        if problems:
            removed[law] = problems[0]
        else:
            kept.append(law)
    return kept, removed


def rows(law: str, box: tuple[float, float], noise: float, seed: int, n: int = ROWS) -> tuple[np.ndarray, np.ndarray]:
    expr = expression(law)
    rs = np.random.default_rng(seed)
    x = rs.uniform(box[0], box[1], (n, expr.n_inputs))
    with torch.no_grad():
        y = expr.evaluate(torch.from_numpy(x))[:, 0].numpy()
    if noise:
        y = y * (1 + noise * rs.standard_normal(n))
    return x, y


def judged(law: str, predict: Any, sym: Any, seed: int) -> bool:
    """Recovered: symbolically equal (constants as printed), or within 1e-6 relative RMS far outside the data."""
    import sympy

    if sym is not None:
        try:
            if sympy.simplify(sym - expression(law).sympy()) == 0:
                return True
        except Exception:  # an expression sympy cannot simplify is judged numerically
            pass
    xf, yf = rows(law, FAR, 0.0, seed + 2)
    try:
        pred = predict(xf)
    except Exception:
        return False
    return pred is not None and rel(pred, yf) < 1e-6


def run_nalu(law: str, train: Path, test: Path, seed: int) -> dict[str, Any]:
    started = time.perf_counter()
    report = fit(train, "target", test=test)
    seconds = time.perf_counter() - started
    chosen = report["candidates"][report["chosen"]]
    formula_x = chosen["formula_x"] if report["formula"] else None
    read = readout_expression(formula_x) if formula_x else None

    def predict(x: np.ndarray) -> np.ndarray | None:
        if read is None:
            return None
        with torch.no_grad():
            return read.evaluate(torch.from_numpy(x))[:, 0].numpy()

    errors = chosen["formula_errors"]["heldout"] if report["formula"] else chosen["model"]["heldout"]
    return {
        "recovered": read is not None and judged(law, predict, read.sympy(), seed),
        "seconds": seconds,
        "formula": report["formula"],
        "closest": (report.get("closest") or {}).get("formula"),
        "heldout_rel": errors["rel_err"] if errors else math.inf,
    }


def run_gplearn(law: str, x: np.ndarray, y: np.ndarray, xt: np.ndarray, yt: np.ndarray, seed: int) -> dict[str, Any]:
    from gplearn.genetic import SymbolicRegressor

    started = time.perf_counter()
    model = SymbolicRegressor(
        population_size=500,
        generations=10,
        function_set=("add", "sub", "mul", "div", "sqrt"),
        const_range=(-2.0, 2.0),
        metric="mse",
        stopping_criteria=1e-10,
        parsimony_coefficient=0.001,
        random_state=seed,
        n_jobs=1,
    )
    model.fit(x, y)
    seconds = time.perf_counter() - started
    try:
        sym = gplearn_program_to_sympy(model._program.program)
    except Exception:
        sym = None
    return {
        "recovered": judged(law, model.predict, sym, seed),
        "seconds": seconds,
        "formula": str(model._program),
        "heldout_rel": rel(model.predict(xt), yt),
    }


def table(paths: list[Path]) -> str:
    """The markdown table of docs/measurements/feynman.md from result files (one per tool)."""
    results: dict[tuple[str, str], dict[str, Any]] = {}
    meta: list[str] = []
    for path in paths:
        doc = json.loads(path.read_text())
        meta.append(f"`{doc['command']}` ({doc['date']}, {doc['machine']})")
        for r in doc["rows"]:
            results.setdefault((r["law"], r["variant"]), {}).update({doc["tool"]: r})
    variants = [v for v in VARIANTS if any(k[1] == v for k in results)]
    lines = ["| law | formula | " + " | ".join(f"nalu {v} | gplearn {v}" for v in variants) + " |"]
    lines.append("|" + "---|" * (2 + 2 * len(variants)))
    totals: dict[str, list[float]] = {}
    for law in LAWS:
        cells = []
        if not any(k[0] == law for k in results):
            continue
        for v in variants:
            for tool in ("nalu", "gplearn"):
                r = results.get((law, v), {}).get(tool)
                if r is None:
                    cells.append("-")
                    continue
                t = totals.setdefault(f"{tool} {v}", [0, 0, 0.0])
                t[0] += r["recovered"]
                t[1] += 1
                t[2] += r["seconds"]
                cells.append(f"{'**yes**' if r['recovered'] else 'no'} {r['seconds']:.1f}s {r['heldout_rel']:.2g}")
        lines.append(f"| {law} | `{LAWS[law][1]}` | " + " | ".join(cells) + " |")
    summary = [
        f"- {name}: recovered {int(t[0])}/{int(t[1])}, total wall time {t[2]:.0f} s" for name, t in totals.items()
    ]
    return "\n".join(["Made by " + "; ".join(meta) + ".", "", *summary, "", *lines])


def from_log(log: Path, command: str, out: Path) -> None:
    """The rows a run printed (``LAW VARIANT TOOL yes|no SECONDSs ERROR FORMULA``) as a results file: the
    seconds have one decimal and the error two digits, as printed."""
    found: list[dict[str, Any]] = []
    tool = ""
    for line in log.read_text().splitlines():
        parts = line.split(None, 6)
        if len(parts) < 6 or parts[0] not in LAWS or parts[1] not in VARIANTS:
            continue
        tool = parts[2]
        formula = parts[6] if len(parts) > 6 else None
        found.append(
            {
                "law": parts[0],
                "variant": parts[1],
                "recovered": parts[3] == "yes",
                "seconds": float(parts[4].rstrip("s")),
                "formula": formula,
                "heldout_rel": float(parts[5]),
            }
        )
    doc = {
        "tool": tool,
        "command": command + f" (stopped after {len(found)} tables; rows read from its printed lines)",
        "date": time.strftime("%Y-%m-%d", time.localtime(log.stat().st_mtime)),
        "machine": "shared 2-core machine",
        "rows": found,
    }
    out.write_text(json.dumps(doc, indent=2, default=float) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tools", default="nalu,gplearn")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--only", default="")
    parser.add_argument("--json", type=Path, default=None, help="results file (one tool per file)")
    parser.add_argument("--table", type=Path, nargs="+", default=None, help="print the docs table of these files")
    parser.add_argument(
        "--from-log",
        nargs=3,
        metavar=("LOG", "COMMAND", "OUT"),
        default=None,
        help="a results file from the lines a run printed (a run stopped before its end writes no file)",
    )
    args = parser.parse_args()
    if args.table:
        print(table(args.table))
        return
    if args.from_log:
        from_log(Path(args.from_log[0]), args.from_log[1], Path(args.from_log[2]))
        return
    torch.set_num_threads(1)
    kept, removed = kept_laws()
    for law, why in removed.items():
        print(f"removed by rule 2: {law} ({why})", flush=True)
    laws = [law for law in kept if not args.only or law in args.only.split(",")]
    tools = [t for t in args.tools.split(",") if t]
    out: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, law in enumerate(LAWS):
            if law not in laws:
                continue
            names = LAWS[law][0]
            for variant in [v for v in args.variants.split(",") if v]:
                noise = 0.01 if variant == "noisy" else 0.0
                x, y = rows(law, TRAIN[0], noise, seed=k)
                xt, yt = rows(law, TEST[0], 0.0, seed=1000 + k)
                train, test = Path(tmp) / "train.csv", Path(tmp) / "test.csv"
                write(train, names, x, y)
                write(test, names, xt, yt)
                for tool in tools:
                    r = run_nalu(law, train, test, k) if tool == "nalu" else run_gplearn(law, x, y, xt, yt, k)
                    out.append({"law": law, "variant": variant, "tool": tool, **r})
                    print(
                        f"{law:<10} {variant:<6} {tool:<8} {'yes' if r['recovered'] else 'no ':<4} {r['seconds']:6.1f}s"
                        f" {r['heldout_rel']:9.2g}  {r['formula'] or 'none; closest ' + str(r.get('closest'))}",
                        flush=True,
                    )
    for tool in tools:
        mine = [r for r in out if r["tool"] == tool]
        got = sum(r["recovered"] for r in mine)
        print(f"{tool}: recovered {got}/{len(mine)}, total {sum(r['seconds'] for r in mine):.0f} s")
    if args.json and len(tools) == 1:
        import datetime
        import platform

        doc = {
            "tool": tools[0],
            "command": "python benchmarks/feynman.py " + " ".join(sys.argv[1:]),
            "date": datetime.date.today().isoformat(),
            "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, shared 2-core machine",
            "removed": removed,
            "rows": [{k: v for k, v in r.items() if k != "tool"} for r in out],
        }
        args.json.write_text(json.dumps(doc, indent=2, default=float) + "\n")


if __name__ == "__main__":
    main()
