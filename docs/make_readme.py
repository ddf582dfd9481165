"""Regenerate the marked blocks of README.md (and docs/json.md) by running the real commands.

    python docs/make_readme.py                # every block (the slow ones too); rewrites README.md in place
    python docs/make_readme.py --fast         # only the quick blocks
    python docs/make_readme.py --check        # write nothing; exit 1 and show a diff if the README is stale
    python docs/make_readme.py --only worked-train,config-error

A block is the text between ``<!-- BEGIN nalu:NAME -->`` and ``<!-- END nalu:NAME -->``. Each is made by
running ``nalu`` (the one installed next to this Python) in one temporary directory, in a fixed order, with
fixed seeds, ``NO_COLOR=1`` and a fixed terminal width: runs are bit-for-bit deterministic, so the output is
the same every time except for timings. Timings (``in 1.4 s``, the ``time`` column of a sweep) and dates are
the only parts allowed to differ; ``normalise`` masks them when comparing (``--check``,
tests/test_readme.py). Running it twice in a row changes nothing but those. Blocks share runs (the worked
example's run is read by later blocks), so a block is made together with the ones it needs.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
JSON_DOC = ROOT / "docs" / "json.md"
BLOCK = re.compile(r"(<!-- BEGIN nalu:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- END nalu:(?P=name) -->)", re.S)
WIDTH = 100
ANSI = re.compile(r"\x1b\[[0-9;]*m")

# What may differ between two runs of the same command: wall-clock times and dates.
TIMINGS = [
    (re.compile(r"\bin \d+(?:\.\d+)? s\b"), "in <time> s"),  # "2000 steps in 1.4 s on cpu"
    (re.compile(r"(?<=[│ ])\d+(?:\.\d+)? (?:s|min)(?= *│ *$)", re.M), "<time>"),  # a table's last column: time
    (re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d"), "<date>"),  # nalu runs: the date column
    (re.compile(r" \([\d,]+ seed-steps/s\)"), ""),  # nalu train's speed in its closing line (issue 14)
]


def normalise(text: str) -> str:
    """``text`` with timings and dates masked, and runs of table padding collapsed (a longer time can widen
    a column)."""
    for pattern, mask in TIMINGS:
        text = pattern.sub(mask, text)
    text = re.sub(r"([━─ ])\1+", r"\1", text)
    return "\n".join(line.rstrip() for line in text.splitlines())


def nalu_command() -> list[str]:
    exe = shutil.which("nalu", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "nalu_cli.cli"]


@dataclass
class Session:
    """A temporary working directory where the README's commands run one after another."""

    cwd: Path
    width: int = WIDTH
    log: list[str] = field(default_factory=list)

    def run(self, command: str, width: int | None = None, ok: tuple[int, ...] = (0,), shown: str | None = None) -> str:
        """Run ``command`` (a shell line starting with ``nalu`` or another tool) and return it as a console
        transcript: ``$ command`` (or ``$ shown``) and what it printed, stdout and stderr in the order they came."""
        argv = command.split()
        if argv[0] == "nalu":
            argv = nalu_command() + argv[1:]
        env = {
            **os.environ,
            "NO_COLOR": "1",
            "COLUMNS": str(width or self.width),
            "OMP_NUM_THREADS": "1",
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("FORCE_COLOR", None)
        shell = any(c in command for c in "|>;&")
        done = subprocess.run(
            command if shell else argv,
            shell=shell,
            cwd=self.cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=1800,
        )
        if done.returncode not in ok:
            raise SystemExit(f"make_readme: {command!r} exited {done.returncode}:\n{done.stdout}")
        self.log.append(command)
        plain = ANSI.sub("", done.stdout)  # NO_COLOR keeps bold and dim on a terminal
        printed = "\n".join(line.rstrip() for line in plain.rstrip().splitlines())  # rich pads titles
        return f"$ {shown or command}\n{printed}" if printed else f"$ {shown or command}"


def console(*transcripts: str) -> str:
    return "```console\n" + "\n".join(transcripts) + "\n```\n"


# -- the blocks, in the order they run (later ones read the runs of earlier ones) -----------------------------


def worked_train(s: Session) -> str:
    return console(s.run("nalu train --op mul"))


def worked_extrapolate(s: Session) -> str:
    return console(s.run("nalu extrapolate runs/mul-nmu-s0"))


def worked_inspect(s: Session) -> str:
    return console(s.run("nalu inspect-weights runs/mul-nmu-s0"))


def add_nalu(s: Session) -> str:
    return console(s.run("nalu train --op add --unit nalu --seeds 3 --steps 2000"))


def config_error(s: Session) -> str:
    return console(s.run("nalu train --op mull --lr -1 --train-range 5,1", ok=(2,)))


def static_mul_yaml(s: Session) -> str:
    return "```yaml\n" + (ROOT / "sample_configs" / "static_mul.yaml").read_text().rstrip() + "\n```\n"


def jq_metrics(s: Session) -> str:
    if shutil.which("jq") is None:
        raise Skip("jq is not installed")
    return console(s.run("jq -c '[.step, .loss_median, .extrap_mse_median]' runs/mul-nmu-s0/metrics.jsonl | head -3"))


def check_exit(s: Session) -> str:
    solved = s.run("nalu train --op mul --out runs/mul --check > /dev/null && echo deploy")
    failed = s.run('nalu train --op mul --unit nac_add --out runs/mul-nac --check > /dev/null; echo "exit code $?"')
    return console(solved, failed)


def history_runs(s: Session) -> str:
    """The runs that ``nalu runs``, ``compare``, ``plot`` and ``export-tb`` show (and a broken directory)."""
    s.run("nalu train --op mul --unit nalu --seeds 5 -q")
    s.run("nalu train --op add --seeds 10 -q")
    s.run("nalu train --op div --unit realnpu --steps 1000 -q")
    shown = {"mul-nmu-s0", "mul-nalu-s0", "add-nau-s0", "div-realnpu-s0"}
    (s.cwd / "scratch").mkdir(exist_ok=True)
    for extra in sorted((s.cwd / "runs").iterdir()):
        if extra.name not in shown:  # runs of other blocks: whichever blocks ran, the table is the same
            extra.rename(s.cwd / "scratch" / extra.name)
    (s.cwd / "runs" / "crashed").mkdir(parents=True, exist_ok=True)
    (s.cwd / "runs" / "crashed" / "checkpoint.pt").write_bytes(b"")
    return console(s.run("nalu runs", width=120))  # wide enough that no name or date wraps


def compare(s: Session) -> str:
    return console(s.run("nalu compare runs/mul-nmu-s0 runs/mul-nalu-s0 runs/div-realnpu-s0"))


def plot(s: Session) -> str:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise Skip("matplotlib is not installed") from None
    return console(
        s.run("nalu plot runs/mul-nmu-s0 runs/mul-nalu-s0 runs/add-nau-s0 runs/div-realnpu-s0 --out overview.png")
    )


def export_tb(s: Session) -> str:
    return console(s.run("nalu export-tb runs/mul-nalu-s0"))


def text_plot(s: Session) -> str:
    """The text plot ``nalu train`` draws on a terminal (TTY_COMPATIBLE makes rich treat the pipe as one)."""
    shown = "nalu train --op mul --unit nalu --seeds 5 --out runs/mul-nalu-5"
    out = s.run(f"TTY_COMPATIBLE=1 {shown} 2>/dev/null | tail -n 17", shown=shown)
    head, _, tail = out.partition("\n")
    return console(head, "...", tail)


def static_inspect(s: Session) -> str:
    s.run("nalu train --config sample_configs/static_mul.yaml --out runs/static-mul -q")
    return console(s.run("nalu inspect-weights runs/static-mul"))


def quick_sweep(s: Session) -> str:
    # wide enough that nothing wraps: a longer time then only widens its column, which normalise ignores
    return console(s.run("nalu sweep sample_configs/sweeps/quick.yaml --workers 2", width=160))


def madsen2020_table(s: Session) -> str:
    """The 100-seed madsen2020 tables, from the committed result files (benchmarks/madsen2020_table.py)."""
    sys.path.insert(0, str(ROOT))
    from benchmarks.madsen2020_table import markdown

    return markdown()


def trask2018_table(s: Session) -> str:
    """The trask2018 "% of random" table, from the committed result file (benchmarks/trask2018_table.py)."""
    sys.path.insert(0, str(ROOT))
    from benchmarks.trask2018_table import markdown

    return markdown()


class Skip(Exception):
    """A block that cannot be made here (a tool is missing): left as it is, and said so."""


@dataclass
class Block:
    name: str
    make: Callable[[Session], str]
    slow: bool = False
    needs: tuple[str, ...] = ()


BLOCKS = [
    Block("worked-train", worked_train),
    Block("worked-extrapolate", worked_extrapolate, needs=("worked-train",)),
    Block("worked-inspect", worked_inspect, needs=("worked-train",)),
    Block("config-error", config_error),
    Block("static-mul-yaml", static_mul_yaml),
    Block("jq-metrics", jq_metrics, needs=("worked-train",)),
    Block("check-exit", check_exit),
    Block("madsen2020-table", madsen2020_table),
    Block("trask2018-table", trask2018_table),
    Block("add-nalu", add_nalu, slow=True),
    Block("runs", history_runs, slow=True, needs=("worked-train",)),
    Block("compare", compare, slow=True, needs=("runs",)),
    Block("plot", plot, slow=True, needs=("runs",)),
    Block("export-tb", export_tb, slow=True, needs=("runs",)),
    Block("text-plot", text_plot, slow=True),
    Block("static-inspect", static_inspect, slow=True),
    Block("quick-sweep", quick_sweep, slow=True),
]


def selected(names: set[str] | None, fast: bool) -> list[Block]:
    """The blocks to make, with the blocks they need, in BLOCKS order."""
    by_name = {b.name: b for b in BLOCKS}
    unknown = sorted((names or set()) - set(by_name))
    if unknown:
        raise SystemExit(f"make_readme: no block {unknown[0]!r} (blocks: {', '.join(by_name)})")
    want = {b.name for b in BLOCKS if (names is None or b.name in names) and not (fast and b.slow)}
    frontier = list(want)
    while frontier:
        for need in by_name[frontier.pop()].needs:
            if need not in want:
                want.add(need)
                frontier.append(need)
    return [b for b in BLOCKS if b.name in want]


def make_blocks(blocks: list[Block], progress: Callable[[str], None] = lambda _: None) -> dict[str, str]:
    """Run ``blocks`` in a fresh temporary directory; their new bodies by name (skipped ones left out)."""
    out: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="nalu-readme-") as tmp:
        cwd = Path(tmp)
        shutil.copytree(ROOT / "sample_configs", cwd / "sample_configs")
        session = Session(cwd)
        for block in blocks:
            progress(block.name)
            try:
                out[block.name] = block.make(session)
            except Skip as why:
                progress(f"{block.name}: skipped ({why})")
    return out


def readme_blocks(text: str) -> dict[str, str]:
    return {m["name"]: m["body"] for m in BLOCK.finditer(text)}


def replace_blocks(text: str, bodies: dict[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        body = bodies.get(m["name"], m["body"])
        return m.group(1) + body + m.group(4)

    return BLOCK.sub(sub, text)


def stale(current: dict[str, str], fresh: dict[str, str]) -> list[str]:
    """A unified diff line list for each block whose fresh output differs from the README beyond timings."""
    lines: list[str] = []
    for name, body in fresh.items():
        old = current.get(name)
        if old is None:
            lines.append(f"README.md has no block nalu:{name}")
        elif normalise(old) != normalise(body):
            lines += difflib.unified_diff(
                old.splitlines(), body.splitlines(), f"README.md nalu:{name}", "now", lineterm=""
            )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if the README is stale")
    parser.add_argument("--fast", action="store_true", help="only the quick blocks")
    parser.add_argument("--only", help="comma-separated block names (and the blocks they need)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from nalu_cli.schema import markdown

    names = {n.strip() for n in args.only.split(",")} if args.only else None
    blocks = selected(names, args.fast)
    fresh = make_blocks(blocks, lambda msg: print(f"make_readme: {msg}", file=sys.stderr))
    text = README.read_text()
    problems = stale(readme_blocks(text), fresh)
    json_doc = markdown()
    if (JSON_DOC.read_text() if JSON_DOC.exists() else "") != json_doc:
        problems.append(f"{JSON_DOC.relative_to(ROOT)} differs from nalu_cli/schema.py")
    if args.check:
        print("\n".join(problems) or "README.md is up to date (timings aside)")
        return 1 if problems else 0
    README.write_text(replace_blocks(text, fresh))
    JSON_DOC.write_text(json_doc)
    print(f"make_readme: {len(fresh)} blocks written to README.md; {JSON_DOC.relative_to(ROOT)} written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
