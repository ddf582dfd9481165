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

from benchmarks.words_table import ROOT, table_main

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
    table_main("program", RANGES, RESULTS, PAGE, MARKER, COMMAND, 1000, __doc__ or "")


if __name__ == "__main__":
    main()
