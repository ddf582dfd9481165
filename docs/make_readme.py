"""Regenerate the marked blocks of README.md and the docs pages (and docs/json.md) by running the real commands.

    python docs/make_readme.py                # every block (the slow ones too); rewrites the pages in place
    python docs/make_readme.py --fast         # only the quick blocks
    python docs/make_readme.py --check        # write nothing; exit 1 and show a diff if a page is stale
    python docs/make_readme.py --only worked-train,config-error

A block is the text between ``<!-- BEGIN nalu:NAME -->`` and ``<!-- END nalu:NAME -->`` in README.md or in
any page under docs/ (``PAGES``); a block's name is unique across all of them, and it is regenerated
wherever it is. Each is made by running ``nalu`` (the one installed next to this Python) in one temporary
directory, in a fixed order, with fixed seeds, ``NO_COLOR=1`` and a fixed terminal width: runs are
bit-for-bit deterministic, so the output is the same every time except for timings. Timings (``in 1.4 s``,
the ``time`` column of a sweep) and dates are the only parts allowed to differ; a block that shows them
ends with a line saying when and on what machine it was made (``stamp``). ``normalise`` masks all of these
when comparing (``--check``, tests/cli/test_readme.py). Running it twice in a row changes nothing but those.
Blocks share runs (the worked example's run is read by later blocks), so a block is made together with the
ones it needs. Only the ``nalu`` command is run, never the package imported: the reference of every
command's ``--help`` and the table of commands come from ``nalu --help`` itself.
"""

from __future__ import annotations

import argparse
import datetime
import difflib
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
JSON_DOC = DOCS / "json.md"
BLOCK = re.compile(r"(<!-- BEGIN nalu:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- END nalu:(?P=name) -->)", re.S)
WIDTH = 100
ANSI = re.compile(r"\x1b\[[0-9;]*m")

# What may differ between two runs of the same command: wall-clock times and dates.
TIMINGS = [
    (re.compile(r"\bin \d+(?:\.\d+)? s\b"), "in <time> s"),  # "2000 steps in 1.4 s on cpu"
    (re.compile(r"(?<=[│ ])\d+(?:\.\d+)? (?:s|min)(?= *│ *$)", re.M), "<time>"),  # a table's last column: time
    (re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d"), "<date>"),  # nalu runs: the date column
    (re.compile(r" \([\d,]+ seed-steps/s\)"), ""),  # nalu train's speed in its closing line (issue 14)
    (re.compile(r"^(\*Made by `python docs/make_readme.py` on ).*$", re.M), r"\1<date and machine>*"),  # stamp()
]


def pages() -> list[Path]:
    """README.md and every Markdown page under docs/: where blocks are looked for."""
    return [README, *sorted(DOCS.rglob("*.md"))]


def machine() -> str:
    """The machine a block was made on, in words: OS, architecture, CPU model and count."""
    cpu = ""
    with suppress(OSError):
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        cpu = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "")
    parts = [f"{platform.system()} {platform.machine()}", cpu or platform.processor(), f"{os.cpu_count()} CPUs"]
    return ", ".join(p for p in parts if p)


def stamp() -> str:
    """The line under a block that shows timings: when and on what machine they were measured."""
    return f"*Made by `python docs/make_readme.py` on {datetime.date.today().isoformat()}, on {machine()}.*\n"


def stamped(body: str) -> str:
    """``body`` with the stamp line after it when it shows a timing or a date (which depend on the machine)."""
    return body + "\n" + stamp() if any(p.search(body) for p, _ in TIMINGS) else body


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
        printed = self.output(command, width, ok)
        return f"$ {shown or command}\n{printed}" if printed else f"$ {shown or command}"

    def output(self, command: str, width: int | None = None, ok: tuple[int, ...] = (0,)) -> str:
        """What ``command`` printed, stdout and stderr in the order they came, without colour or trailing spaces."""
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
        return "\n".join(line.rstrip() for line in plain.rstrip().splitlines())  # rich pads titles


def console(*transcripts: str) -> str:
    return "```console\n" + "\n".join(transcripts) + "\n```\n"


# -- the blocks, in the order they run (later ones read the runs of earlier ones) -----------------------------


def cli_commands(s: Session) -> list[tuple[str, str]]:
    """(name, one-line help) of every command ``nalu --help`` lists, in its order (wide enough not to wrap)."""
    commands: list[tuple[str, str]] = []
    inside = False
    for line in s.output("nalu --help", width=400).splitlines():
        if line.startswith("╭─ Commands"):
            inside = True
        elif line.startswith("╰"):
            inside = False
        elif inside:
            row = line.strip().strip("│").removeprefix(" ")  # "│ name  text │" or "│       more text │"
            name, _, text = row.partition(" ")
            if row.startswith(" ") and commands:  # a wrapped description goes on
                commands[-1] = (commands[-1][0], f"{commands[-1][1]} {row.strip()}")
            elif name:
                commands.append((name, text.strip()))
    if not commands:
        raise SystemExit("make_readme: no commands found in the output of nalu --help")
    return commands


def commands_table(s: Session) -> str:
    """The README's table of commands: one line each, the command's own one-line help, linked to its --help."""
    rows = [
        f"| [`nalu {name}`](docs/reference/commands.md#nalu-{name}) | {text.replace('|', chr(92) + '|')} |"
        for name, text in cli_commands(s)
    ]
    return "\n".join(["| command | what it does |", "|---|---|", *rows]) + "\n"


def command_help(s: Session) -> str:
    """docs/reference/commands.md: ``nalu --help`` and every command's ``--help``, as printed."""
    out: list[str] = []
    for name in ["", *(n for n, _ in cli_commands(s))]:
        command = f"nalu {name} --help" if name else "nalu --help"
        printed = s.output(command).lstrip("\n")  # rich opens a help screen with an empty line
        out += [f"## `{f'nalu {name}' if name else 'nalu'}`", "", console(f"$ {command}\n{printed}")]
    return "\n".join(out)


def python_example(s: Session) -> str:
    """The README's Python example: docs/examples/train_job.py as it is, and what running it prints."""
    script = ROOT / "docs" / "examples" / "train_job.py"
    code = script.read_text().split('"""', 2)[2].strip()  # the code below the module docstring
    printed = s.run(f"{sys.executable} {script}", shown="python docs/examples/train_job.py")
    return "```python\n" + code + "\n```\n\n" + console(printed)


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
    Block("commands", commands_table),
    Block("command-help", command_help),
    Block("worked-train", worked_train),
    Block("worked-extrapolate", worked_extrapolate, needs=("worked-train",)),
    Block("worked-inspect", worked_inspect, needs=("worked-train",)),
    Block("config-error", config_error),
    Block("python-example", python_example),
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
                out[block.name] = stamped(block.make(session))
            except Skip as why:
                progress(f"{block.name}: skipped ({why})")
    return out


def readme_blocks(text: str) -> dict[str, str]:
    """The blocks of one page's text, by name."""
    return {m["name"]: m["body"] for m in BLOCK.finditer(text)}


def page_blocks(files: list[Path] | None = None) -> tuple[dict[str, str], dict[str, Path]]:
    """The blocks of every page (``pages()``) by name, and the page each is on; a name used twice is an error."""
    bodies: dict[str, str] = {}
    where: dict[str, Path] = {}
    for path in pages() if files is None else files:
        for name, body in readme_blocks(path.read_text()).items():
            if name in where:
                raise SystemExit(f"make_readme: block nalu:{name} is in both {label(where[name])} and {label(path)}")
            bodies[name], where[name] = body, path
    return bodies, where


def label(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def replace_blocks(text: str, bodies: dict[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        body = bodies.get(m["name"], m["body"])
        return m.group(1) + body + m.group(4)

    return BLOCK.sub(sub, text)


def stale(current: dict[str, str], fresh: dict[str, str], where: dict[str, Path] | None = None) -> list[str]:
    """A unified diff line list for each block whose fresh output differs from its page beyond timings."""
    lines: list[str] = []
    for name, body in fresh.items():
        old = current.get(name)
        page = label(where[name]) if where and name in where else "README.md"
        if old is None:
            lines.append(f"no page has a block nalu:{name}")
        elif normalise(old) != normalise(body):
            lines += difflib.unified_diff(
                old.splitlines(), body.splitlines(), f"{page} nalu:{name}", "now", lineterm=""
            )
    return lines


def schema_markdown() -> str:
    """docs/json.md as the package's JSON schema module (``nalu_cli.output.schema``) writes it."""
    sys.path.insert(0, str(ROOT))
    from nalu_cli.output import schema

    return str(schema.markdown())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if the README is stale")
    parser.add_argument("--fast", action="store_true", help="only the quick blocks")
    parser.add_argument("--only", help="comma-separated block names (and the blocks they need)")
    args = parser.parse_args(argv)
    names = {n.strip() for n in args.only.split(",")} if args.only else None
    blocks = selected(names, args.fast)
    current, where = page_blocks()
    fresh = make_blocks(blocks, lambda msg: print(f"make_readme: {msg}", file=sys.stderr))
    problems = stale(current, fresh, where)
    json_doc = schema_markdown()
    if (JSON_DOC.read_text() if JSON_DOC.exists() else "") != json_doc:
        problems.append(f"{label(JSON_DOC)} differs from the package's JSON schema")
    if args.check:
        print("\n".join(problems) or "README.md and docs/ are up to date (timings aside)")
        return 1 if problems else 0
    for path in sorted({where[name] for name in fresh if name in where}):
        text = path.read_text()
        path.write_text(replace_blocks(text, fresh))
    JSON_DOC.write_text(json_doc)
    written = sorted({label(where[name]) for name in fresh if name in where})
    print(f"make_readme: {len(fresh)} blocks written to {', '.join(written) or 'no page'}; {label(JSON_DOC)} written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
