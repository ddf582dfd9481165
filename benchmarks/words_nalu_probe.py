"""Why LSTM -> NALU does not read number words: short bounded runs of the words kind with one setting changed
at a time, seeds 0-2 batched, each evaluated on the 631 test numbers of 0-999 (test stream, 1000 samples).

    OMP_NUM_THREADS=1 nice -n 10 python -m benchmarks.words_nalu_probe --steps 500 base lr=0.003 ...
    OMP_NUM_THREADS=1 nice -n 10 python -m benchmarks.words_nalu_probe --mode program --steps 300 base ...

``--mode program`` runs the same variants on the program kind, evaluated on programs of 1-3 digit operands
(0-999, test stream); each variant's overrides apply on top of that kind's defaults.

Each positional argument names a variant (``base`` or ``name=KEY:VALUE,KEY:VALUE`` of config overrides, see
VARIANTS). Prints one JSON line per variant (median and per-seed MAE and exact match, the output's mean and
spread on the test numbers, seconds) and appends it to ``benchmarks/results/words_nalu_probe.jsonl``.
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

from nalu_cli.config.resolve import resolve
from nalu_cli.output.reports import eval_report
from nalu_cli.training.loop import train

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "results" / "words_nalu_probe.jsonl"
# Every variant but "defaults" changes the words defaults as they were before the recipe (no clipping, eps 1e-7):
# LSTM (H=32) -> NALU, Adam lr 0.03 cosine, batch 64, plain MSE, 2000 steps.
BEFORE: dict[str, Any] = {"train.clip_grad": None, "model.eps": 1e-7}
CHANGES: dict[str, dict[str, Any]] = {
    "base": {},
    "lr=0.003": {"train.lr": 0.003},
    "lr=0.1": {"train.lr": 0.1},
    "relative_mse": {"train.loss_scale": "target"},
    "eps=0.1": {"model.eps": 0.1},
    "clip=1": {"train.clip_grad": 1.0},
    "clip=0.1": {"train.clip_grad": 0.1},
    "clip=10": {"train.clip_grad": 10.0},
    "clip=1,eps=0.1": {"train.clip_grad": 1.0, "model.eps": 0.1},
    "clip=1,lr=0.01": {"train.clip_grad": 1.0, "train.lr": 0.01},
    "clip=1,linear": {"train.clip_grad": 1.0, "model.unit": ["lstm", "mlp"]},
    "clip=1,eps=0.03": {"train.clip_grad": 1.0, "model.eps": 0.03},
    "clip=1,eps=0.3": {"train.clip_grad": 1.0, "model.eps": 0.3},
    "clip=1,eps=0.1,nau": {"train.clip_grad": 1.0, "model.eps": 0.1, "model.unit": ["nau", "nau"]},
    "lstm_nac_mul": {"model.unit": ["lstm", "nac_mul"]},
    "lstm_nau": {"model.unit": ["lstm", "nau"]},
    "nalu_cell": {"model.unit": ["nalu", "nau"]},
    "nalu_cell_nalu": {"model.unit": ["nalu", "nalu"]},
    "lstm_linear": {"model.unit": ["lstm", "mlp"]},
    "nau_accumulator": {"model.unit": ["nau", "nau"]},
}
VARIANTS: dict[str, dict[str, Any]] = {"defaults": {}} | {name: BEFORE | c for name, c in CHANGES.items()}


def run(name: str, overrides: dict[str, Any], seeds: list[int], steps: int, mode: str = "words") -> dict[str, Any]:
    cfg = resolve(overrides={"task.mode": mode, "train.seeds": seeds, "train.steps": steps, **overrides})
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        train(cfg, Path(tmp) / "run", stop_on_divergence=False)
        seconds = time.perf_counter() - started
        report = eval_report(Path(tmp) / "run", [((0.0, 999.0),)], 1000)
    rows = [s["ranges"][0] for s in report["seeds"]]
    mae = [r["mae"] for r in rows]
    acc = [r["accuracy"] for r in rows]
    return {
        "mode": mode,
        "variant": name,
        "overrides": overrides,
        "units": cfg.model.units(),
        "steps": steps,
        "seeds": seeds,
        "mae_median": statistics.median(mae),
        "mae": mae,
        "exact_median": statistics.median(acc),
        "exact": acc,
        "seconds": round(seconds, 1),
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()} CPU, {torch.get_num_threads()} thread, torch {torch.__version__}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="+", choices=list(VARIANTS))
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--mode", default="words", choices=["words", "program"])
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    for name in args.variants:
        result = run(name, VARIANTS[name], seeds, args.steps, args.mode)
        line = json.dumps(result)
        print(line, flush=True)
        with OUT.open("a") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    main()
