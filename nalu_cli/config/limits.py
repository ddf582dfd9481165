"""Documented size limits: seeds, members, grid tasks, YAML sizes, files read, and the default memory budget."""

from __future__ import annotations

DEFAULT_MAX_MEMORY_GB = 16.0
MEMORY_ENV = "NALU_MAX_MEMORY_GB"
MAX_SEEDS = 100_000  # seeds in one run
MAX_MEMBERS = 1_000_000  # seeds × restarts in one run
MAX_GRID_TASKS = 10_000  # tasks in one sweep (grid key max_tasks raises it)
MAX_YAML_BYTES = 1_000_000  # a config or grid file
MAX_SET_BYTES = 10_000  # one --set value
MAX_METRICS_BYTES = 1 << 30  # a run's metrics.jsonl (1 GiB)
MAX_METRICS_LINE = 1 << 20  # one line of it (1 MiB)
MAX_REPORT_BYTES = 256 << 20  # a JSON report nalu wrote: fit.json, a sweep task's result (256 MiB)
# A checkpoint is read whole into memory before torch parses it: at most the memory budget
# (NALU_MAX_MEMORY_GB, default DEFAULT_MAX_MEMORY_GB), which no run nalu accepts can exceed.
MAX_YAML_DEPTH = 32  # nesting of mappings and lists
MAX_YAML_ALIASES = 100  # *alias references in one document
MAX_YAML_NODES = 100_000  # nodes once every alias is expanded
EVAL_ROWS = 256  # evaluation draws this many samples per member at a time (evaluate.EVAL_CHUNK)
