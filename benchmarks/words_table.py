"""Number words (``--mode words``): LSTM + linear output against LSTM + NALU output, several seeds.

    OMP_NUM_THREADS=1 nice -n 10 python -m benchmarks.words_table            # seeds 0-2, the kind's defaults
    python -m benchmarks.words_table --seeds 0-1 --steps 300 --no-docs       # a quick look

Trains each column of the words grid (``config.kinds.TEXT_COLUMNS``: ``lstm_nalu``, the kind's default model,
and ``lstm_linear``, the baseline) with the kind's defaults (tasks/words.py: training part of 0–999, 2000
steps), then evaluates every seed on the test numbers of 0–999 (the 631 of the split, drawn with replacement)
and on 1,000–9,999, 10,000–99,999 and 100,000–999,999 (never trained on: "… thousand …"). Writes
``benchmarks/results/words.json`` and the table between the ``words-table`` markers of docs/guide/words.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from nalu_cli.config.kinds import TEXT_COLUMNS
from nalu_cli.config.resolve import resolve
from nalu_cli.config.schema import seeds_option
from nalu_cli.output.reports import eval_report
from nalu_cli.training.loop import train

ROOT = Path(__file__).resolve().parent.parent
RANGES = {
    "test 0–999": ((0.0, 999.0),),
    "1,000–9,999": ((1000.0, 9999.0),),
    "10,000–99,999": ((10_000.0, 99_999.0),),
    "100,000–999,999": ((100_000.0, 999_999.0),),
}


def measure(
    mode: str, seeds: list[int], steps: int | None, samples: int, ranges: dict[str, Any], only: list[str] | None = None
) -> dict[str, Any]:
    """Train each column of the text grid (or those in ``only``) on ``mode`` and evaluate every seed on ``ranges``
    (test stream)."""
    columns = []
    for column, model in TEXT_COLUMNS.items():
        if only is not None and column not in only:
            continue
        overrides: dict[str, Any] = {"task.mode": mode, "train.seeds": seeds, **(model or {})}
        if steps is not None:
            overrides["train.steps"] = steps
        cfg = resolve(overrides=overrides)
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            train(cfg, Path(tmp) / "run", stop_on_divergence=False)
            seconds = time.perf_counter() - started
            report = eval_report(Path(tmp) / "run", list(ranges.values()), samples)
        rows = []
        for i, name in enumerate(ranges):
            per_seed = [s["ranges"][i] for s in report["seeds"]]
            rows.append(
                {
                    "range": name,
                    "mae": [r["mae"] for r in per_seed],
                    "accuracy": [r["accuracy"] for r in per_seed],
                    "rel_err": [r["rel_err"] for r in per_seed],
                }
            )
        columns.append(
            {"column": column, "layers": cfg.model.units(), "hidden": cfg.model.hidden, "steps": cfg.train.steps,
             "lr": cfg.train.lr, "seconds": seconds, "rows": rows}
        )  # fmt: skip
    return {
        "mode": mode,
        "seeds": seeds,
        "samples": samples,
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()} CPU, {torch.get_num_threads()} thread, torch {torch.__version__}",
        "columns": columns,
    }


def _cell(values: list[float], percent: bool) -> str:
    fmt = (lambda v: f"{100 * v:.1f}%") if percent else (lambda v: f"{v:.3g}")
    return f"{fmt(statistics.median(values))} ({', '.join(fmt(v) for v in values)})"


def markdown(result: dict[str, Any], command: str) -> str:
    """The table: per column and range, median (each seed) exact-match accuracy, MAE and relative error."""
    commands = list(dict.fromkeys(c.get("command") or command for c in result["columns"]))
    lines = [
        f"{' and '.join(f'`{c}`' for c in commands)} · {result['date']} · {result['machine']}"
        f" · seeds {', '.join(map(str, result['seeds']))} · {result['samples']} test samples per range (test stream)",
        "",
        "| model | steps | range | exact match, median (per seed) | MAE, median (per seed) | relative error, median |",
        "|---|---|---|---|---|---|",
    ]
    for col in result["columns"]:
        name = f"{col['column']} ({' → '.join(col['layers'])}, H={col['hidden'][0]})"
        for row in col["rows"]:
            lines.append(
                f"| {name} | {col['steps']} | {row['range']} | {_cell(row['accuracy'], True)}"
                f" | {_cell(row['mae'], False)} | {statistics.median(row['rel_err']):.3g} |"
            )
    return "\n".join(lines)


def merge(result: dict[str, Any], path: Path, default: str) -> dict[str, Any]:
    """``result`` with the columns of an earlier result at ``path`` that it did not measure (``--columns``);
    an earlier column without its own command gets the earlier result's, or ``default``."""
    if not path.exists():
        return result
    done = {c["column"] for c in result["columns"]}
    before = json.loads(path.read_text())
    earlier = [c for c in before["columns"] if c["column"] not in done]
    for c in earlier:
        c["command"] = c.get("command") or before.get("command") or default
    order = list(TEXT_COLUMNS)
    result["columns"] = sorted(earlier + result["columns"], key=lambda c: order.index(c["column"]))
    return result


def write_block(page: Path, marker: str, text: str) -> None:
    """Replace what lies between ``<!-- BEGIN marker -->`` and ``<!-- END marker -->`` in ``page``."""
    content = page.read_text()
    begin, end = f"<!-- BEGIN {marker} -->", f"<!-- END {marker} -->"
    head, rest = content.split(begin, 1)
    _, tail = rest.split(end, 1)
    page.write_text(f"{head}{begin}\n{text}\n{end}{tail}")


RESULTS = ROOT / "benchmarks" / "results" / "words.json"
PAGE, MARKER = ROOT / "docs" / "guide" / "words.md", "words-table"
COMMAND = "OMP_NUM_THREADS=1 python -m benchmarks.words_table"


def table_main(
    mode: str,
    ranges: dict[str, tuple[tuple[float, float], ...]],
    results: Path,
    page: Path,
    marker: str,
    command: str,
    samples: int,
    doc: str,
) -> None:
    """The command line of a text kind's table script (``words_table``, ``program_table``): measure its grid's
    columns on ``ranges``, print the table, write ``results`` and the block ``marker`` of ``page``."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--seeds", default="0-2", help="seeds (default 0-2)")
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: the kind's)")
    parser.add_argument("--samples", type=int, default=samples, help=f"test samples per range (default {samples})")
    parser.add_argument("--no-docs", action="store_true", help="print the table; write no JSON and no docs")
    parser.add_argument("--columns", default=None, help="only these grid columns, merged into the JSON's others")
    parser.add_argument(
        "--render", action="store_true", help=f"rewrite the docs table from {results.name}; no training"
    )
    args = parser.parse_args()
    if args.render:
        result = json.loads(results.read_text())
        write_block(page, marker, markdown(result, result.get("command", command)))
        return
    only = args.columns.split(",") if args.columns else None
    result = measure(mode, seeds_option(args.seeds), args.steps, args.samples, ranges, only)
    ran = command + (f" --seeds {args.seeds}" if args.seeds != "0-2" else "")
    ran += f" --steps {args.steps}" if args.steps is not None else ""
    ran += f" --columns {args.columns}" if args.columns else ""
    result["command"] = ran
    for column in result["columns"]:
        column["command"] = ran
    if only is not None and not args.no_docs:
        result = merge(result, results, command)
    table = markdown(result, ran)
    print(table)
    if not args.no_docs:
        results.write_text(json.dumps(result, indent=1) + "\n")
        write_block(page, marker, table)


def main() -> None:
    table_main("words", RANGES, RESULTS, PAGE, MARKER, COMMAND, 2000, __doc__ or "")


if __name__ == "__main__":
    main()
