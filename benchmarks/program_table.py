"""Small programs (``--mode program``): LSTM + linear output against LSTM + NALU output, per operand length.

    OMP_NUM_THREADS=1 nice -n 10 python -m benchmarks.program_table          # seeds 0-2, the kind's defaults
    python -m benchmarks.program_table --seeds 0-1 --steps 300 --no-docs     # a quick look

Trains each column of the program grid (``config.kinds.TEXT_COLUMNS``) with the kind's defaults (both program
families, operands 0–999, 2000 steps), then evaluates every seed on programs whose operands have 1, 2, 3
digits (the training distribution, test stream) and 4 and 5 digits (never trained on). Writes
``benchmarks/results/program.json`` and the table between the ``program-table`` markers of
docs/guide/programs.md.
"""

from __future__ import annotations

import argparse
import json

from benchmarks.words_table import ROOT, markdown, measure, merge, write_block
from nalu_cli.config.schema import seeds_option

RANGES = {
    "1 digit": ((0.0, 9.0),),
    "2 digits": ((10.0, 99.0),),
    "3 digits": ((100.0, 999.0),),
    "4 digits": ((1000.0, 9999.0),),
    "5 digits": ((10_000.0, 99_999.0),),
}

RESULTS = ROOT / "benchmarks" / "results" / "program.json"
PAGE, MARKER = ROOT / "docs" / "guide" / "programs.md", "program-table"
COMMAND = "OMP_NUM_THREADS=1 python -m benchmarks.program_table"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0-2", help="seeds (default 0-2)")
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: the kind's)")
    parser.add_argument("--samples", type=int, default=1000, help="test programs per operand length")
    parser.add_argument("--no-docs", action="store_true", help="print the table; write no JSON and no docs")
    parser.add_argument("--columns", default=None, help="only these grid columns, merged into the JSON's others")
    parser.add_argument(
        "--render", action="store_true", help=f"rewrite the docs table from {RESULTS.name}; no training"
    )
    args = parser.parse_args()
    if args.render:
        result = json.loads(RESULTS.read_text())
        write_block(PAGE, MARKER, markdown(result, result.get("command", COMMAND)))
        return
    only = args.columns.split(",") if args.columns else None
    result = measure("program", seeds_option(args.seeds), args.steps, args.samples, RANGES, only)
    command = COMMAND + (f" --seeds {args.seeds}" if args.seeds != "0-2" else "")
    command += f" --steps {args.steps}" if args.steps is not None else ""
    command += f" --columns {args.columns}" if args.columns else ""
    result["command"] = command
    for column in result["columns"]:
        column["command"] = command
    if only is not None and not args.no_docs:
        result = merge(result, RESULTS, COMMAND)
    table = markdown(result, command)
    print(table)
    if not args.no_docs:
        RESULTS.write_text(json.dumps(result, indent=1) + "\n")
        write_block(PAGE, MARKER, table)


if __name__ == "__main__":
    main()
