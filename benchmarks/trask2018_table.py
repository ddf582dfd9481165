"""The README's trask2018 table (Trask et al.'s "% of random" measure) from the result file.

    python benchmarks/trask2018_table.py            # print the table from the committed result file

The file is written by

    nalu benchmark --preset trask2018 --seeds 10 --steps 3000 --json \\
        --csv benchmarks/results/trask2018/seeds10_steps3000.csv > benchmarks/results/trask2018/seeds10_steps3000.json

``docs/make_readme.py`` renders the table (block ``trask2018-table``) with ``markdown``; it never trains.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

RESULT = Path(__file__).resolve().parent / "results" / "trask2018" / "seeds10_steps3000.json"
MODELS = {
    "mlp_relu6": "MLP ReLU6",
    "mlp_none": "MLP, no activation",
    "nac_add": "NAC+ → NAC+",
    "nalu": "NALU → NALU",
    "nau": "NAU → NAU",
    "nmu": "NAU → NMU",
}


def _number(x: float | str | None) -> str:
    if x is None:
        return "–"
    x = float(x)  # JSON writes a non-finite number as a string ("inf")
    return "inf" if math.isinf(x) else f"{x:.3g}"


def markdown(path: Path = RESULT) -> str:
    cells = json.loads(path.read_text())["cells"]
    lines = ["| op | model | solved / 10 | interp % of random | extrap % of random |", "|---|---|---|---|---|"]
    for c in cells:
        lines.append(
            f"| {c['op']} | {MODELS.get(c['unit'], c['unit'])} | {c['solved']} "
            f"| {_number(c.get('interp_percent_of_random'))} | {_number(c.get('extrap_percent_of_random'))} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(markdown(Path(sys.argv[1]) if len(sys.argv) > 1 else RESULT))
