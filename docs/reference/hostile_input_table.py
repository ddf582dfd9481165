"""Write the limits table of docs/reference/hostile-input.md from the code's own constants.

    python docs/reference/hostile_input_table.py          # rewrite the block between the hostile:limits markers
    python docs/reference/hostile_input_table.py --check  # exit 1 when the page is stale

The numbers are the library's (``nalu_cli.config.limits``, ``nalu_cli.fit.table``, ``nalu_cli.runs.checkpoint``),
so the table needs no machine or date: it changes only when the code does.
"""

from __future__ import annotations

import sys
from pathlib import Path

PAGE = Path(__file__).with_name("hostile-input.md")
BEGIN, END = "<!-- BEGIN hostile:limits -->", "<!-- END hostile:limits -->"


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n:,} bytes"


def table() -> str:
    from nalu_cli.config import limits
    from nalu_cli.fit import table as fit_table

    rows = [
        ("`--config FILE` (train), a sweep's grid file, `--set` values", "config file / grid file",
         f"{_size(limits.MAX_YAML_BYTES)}; --set values {_size(limits.MAX_SET_BYTES)}", "2"),
        ("a run's `config.yaml` (eval, extrapolate, inspect-weights, plot, compare, runs, export-tb, --resume)",
         "the run's config file", _size(limits.MAX_YAML_BYTES), "1"),
        ("`nalu fit DATA`, `--test FILE`, `nalu eval RUN --data FILE`", "table", _size(fit_table.MAX_BYTES), "2"),
        ("a run's `checkpoint.pt` (every command that opens a run), `fit.pt`", "checkpoint",
         f"the memory budget (`NALU_MAX_MEMORY_GB`, default {limits.DEFAULT_MAX_MEMORY_GB:g} GB)", "1"),
        ("a run's `metrics.jsonl` (plot, export-tb, --resume)", "metrics log",
         f"{_size(limits.MAX_METRICS_BYTES)}; one line {_size(limits.MAX_METRICS_LINE)}", "1"),
        ("a fit run's `fit.json` (runs), a sweep's task records (sweep re-runs)", "fit report / task record",
         _size(limits.MAX_REPORT_BYTES), "a row with its error (runs); the task is run again (sweep)"),
    ]  # fmt: skip
    lines = ["| file | named in messages as | read at most | exit code |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return "\n".join(lines)


def main() -> int:
    text = PAGE.read_text()
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    new = f"{head}{BEGIN}\n{table()}\n{END}{tail}"
    if "--check" in sys.argv:
        return 0 if new == text else 1
    PAGE.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
