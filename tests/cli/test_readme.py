"""The README and the docs cannot drift: their marked blocks equal what the commands print now (timings and
dates aside), the README stays a short front door, and every docs page is on the site.

``python docs/make_readme.py`` rewrites the blocks; these tests run the same generator without writing.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

ROOT = Path(__file__).parents[2]
README = ROOT / "README.md"


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_readme", ROOT / "docs" / "make_readme.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_readme"] = module
    spec.loader.exec_module(module)
    return module


gen = generator()


def drift(blocks: list[object]) -> list[str]:
    current, where = gen.page_blocks()
    return list(gen.stale(current, gen.make_blocks(blocks), where))


def docs_pages() -> set[str]:
    return {str(p.relative_to(ROOT / "docs")) for p in (ROOT / "docs").rglob("*.md")}


# -- the generator ---------------------------------------------------------------------------------------------


def test_every_block_of_the_generator_is_on_a_page_and_back() -> None:
    current, where = gen.page_blocks()
    assert set(current) == {b.name for b in gen.BLOCKS}
    assert {p.relative_to(ROOT).parts[0] for p in where.values()} == {"README.md", "docs"}  # both are covered


def test_a_block_name_is_used_once_across_the_pages(tmp_path: Path) -> None:
    block = "<!-- BEGIN nalu:b -->\nx\n<!-- END nalu:b -->\n"
    (tmp_path / "a.md").write_text(block)
    (tmp_path / "c.md").write_text("text\n")
    bodies, where = gen.page_blocks([tmp_path / "a.md", tmp_path / "c.md"])
    assert bodies == {"b": "x\n"} and where == {"b": tmp_path / "a.md"}
    (tmp_path / "c.md").write_text(block)
    with pytest.raises(SystemExit, match="nalu:b is in both"):
        gen.page_blocks([tmp_path / "a.md", tmp_path / "c.md"])


def test_normalise_masks_timings_and_dates_only() -> None:
    a = "2000 steps in 1.4 s on cpu · run saved to runs/mul-nmu-s0\n│ add │  3000 │ 19 s │\n│ x │ 2026-11-25 11:17 │"
    b = "2000 steps in 12.0 s on cpu · run saved to runs/mul-nmu-s0\n│ add │  3000 │ 4 s │\n│ x │ 2027-01-02 09:00 │"
    assert gen.normalise(a) == gen.normalise(b)
    for changed in (a.replace("mul-nmu-s0", "mul-nmu-s0-1"), a.replace("3000", "3001"), a.replace("cpu", "cuda")):
        assert gen.normalise(changed) != gen.normalise(a)
    here = "*Made by `python docs/make_readme.py` on 2026-12-06, on Linux x86_64, AMD EPYC, 2 CPUs.*"
    there = "*Made by `python docs/make_readme.py` on 2027-01-02, on Darwin arm64, 8 CPUs.*"
    assert gen.normalise(a + "\n" + here) == gen.normalise(b + "\n" + there) != gen.normalise(a)


def test_a_block_with_a_timing_says_when_and_where_it_was_made() -> None:
    timed = "```console\n$ nalu train --op mul\n2000 steps in 1.1 s on cpu\n```\n"
    assert gen.stamped(timed).startswith(timed) and "*Made by `python docs/make_readme.py` on " in gen.stamped(timed)
    assert gen.stamped("```console\n$ nalu eval r\nsolved\n```\n") == "```console\n$ nalu eval r\nsolved\n```\n"
    current, _ = gen.page_blocks()
    for name in ("worked-train", "add-nalu", "quick-sweep", "runs", "text-plot"):
        assert "*Made by `python docs/make_readme.py` on " in current[name], name


def test_a_changed_output_is_caught() -> None:
    body = "```console\n$ nalu x\nsolved 20/20 in 1.0 s\n```\n"
    assert gen.stale({"b": body}, {"b": body.replace("1.0 s", "3.5 s")}) == []
    assert gen.stale({"b": body}, {"b": body.replace("20/20", "6/20")}) != []
    text = "a\n<!-- BEGIN nalu:b -->\nold\n<!-- END nalu:b -->\nz\n"
    assert gen.replace_blocks(text, {"b": "new\n"}) == "a\n<!-- BEGIN nalu:b -->\nnew\n<!-- END nalu:b -->\nz\n"
    assert gen.replace_blocks(text, {}) == text  # a block not made this time is left as it is


def test_the_quick_examples_are_what_the_commands_print() -> None:
    problems = drift(gen.selected(None, fast=True))
    assert not problems, "README.md or docs/ is stale; run: python docs/make_readme.py --fast\n" + "\n".join(problems)


@pytest.mark.slow
def test_the_long_examples_are_what_the_commands_print() -> None:
    problems = drift(gen.selected(None, fast=False))
    assert not problems, "README.md or docs/ is stale; run: python docs/make_readme.py\n" + "\n".join(problems)


# -- the README: a front door ----------------------------------------------------------------------------------


def sections(text: str) -> dict[str, str]:
    """The README's ``## `` sections by title, outside code fences."""
    out: dict[str, str] = {}
    title, fence = "", False
    for line in text.splitlines():
        fence ^= line.startswith("```")
        if not fence and line.startswith("## "):
            title = line[3:]
            out[title] = ""
        elif title:
            out[title] += line + "\n"
    return out


def test_the_readme_is_a_short_front_door() -> None:
    text = README.read_text()
    assert len(text.splitlines()) <= 400
    found = sections(text)
    for title in ("Install", "Quick start", "A worked example", 'What "solved" means', "Units and ops", "Commands"):
        assert title in found, f"README.md has no section '## {title}'"
    assert "nalu:worked-train" in found["A worked example"]
    assert "nalu:commands" in found["Commands"]
    assert "docs/guide/solved.md" in found['What "solved" means']  # short, with the longer docs linked
    # the two commands a new user needs, exactly
    assert "pip install torch==2.13.0 -e . && nalu train --op mul\n" in found["Install"]
    assert "pip install -e '.[test]' && python -m pytest -q\n" in found["Install"]


def test_the_readme_has_one_table_of_units_and_ops_naming_every_unit_the_cli_takes() -> None:
    help_text = gen.Session(ROOT).output("nalu train --help", width=400)
    listed = re.search(r"joined by commas \(([a-z_, ]+)\)", help_text)
    assert listed, "nalu train --help no longer lists its units"
    units = {u.strip() for u in listed[1].split(",")}
    lines = sections(README.read_text())["Units and ops"].splitlines()
    table = [line for line in lines if line.startswith("| `") and not line.startswith("| `--unit`")]
    assert {line.split("`")[1] for line in table} == units
    for op in ("add", "sub", "mul", "div", "square", "sqrt", "identity"):
        assert any(op in line.split(" | ")[3] for line in table), f"no unit represents {op} in the table"


def test_the_table_of_commands_has_one_line_per_command() -> None:
    commands = gen.cli_commands(gen.Session(ROOT))
    current, _ = gen.page_blocks()
    rows = [line for line in current["commands"].splitlines() if line.startswith("| [")]
    assert [re.search(r"`nalu ([\w-]+)`", row)[1] for row in rows] == [name for name, _ in commands]  # type: ignore[index]
    help_reference = current["command-help"]
    for name, _ in commands:
        assert f"## `nalu {name}`\n" in help_reference and f"$ nalu {name} --help\n" in help_reference


def test_the_quick_start_runs_real_commands_on_shipped_files() -> None:
    commands = {name for name, _ in gen.cli_commands(gen.Session(ROOT))}
    block = sections(README.read_text())["Quick start"].split("```bash\n")[1].split("```")[0]
    for line in block.splitlines():
        argv = shlex.split(line.partition("  #")[0])
        assert argv[0] == "nalu" and argv[1] in commands, line
        for arg in argv[2:]:
            if arg.startswith("sample_configs/"):
                assert (ROOT / arg).exists(), line


def slug(heading: str) -> str:
    """A heading's anchor, as GitHub and MkDocs' toc make it for plain headings."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_the_readme_links_resolve() -> None:
    for target in re.findall(r"\]\(([^)\s]+)\)", README.read_text()):
        if re.match(r"[a-z]+://", target):
            continue
        path, _, anchor = target.partition("#")
        assert (ROOT / path).exists(), f"README.md links to {path}, which does not exist"
        if anchor:
            headings = re.findall(r"^#+ (.+)$", (ROOT / path).read_text(), re.M)
            assert anchor in {slug(h) for h in headings}, f"README.md links to {target}: no such heading"


def test_the_pages_include_only_what_the_readme_marks() -> None:
    """``--8<-- "README.md:NAME"`` (pymdownx.snippets) in a page needs NAME's start and end markers in the README."""
    text = README.read_text()
    for page in (ROOT / "docs").rglob("*.md"):
        for name in re.findall(r'^--8<-- "README\.md:([\w-]+)"$', page.read_text(), re.M):
            assert f"<!-- --8<-- [start:{name}] -->" in text and f"<!-- --8<-- [end:{name}] -->" in text, (page, name)


# -- the site --------------------------------------------------------------------------------------------------


def nav_pages(node: object) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [p for value in node.values() for p in nav_pages(value)]
    if isinstance(node, list):
        return [p for item in node for p in nav_pages(item)]
    return []


def test_every_docs_page_is_in_the_mkdocs_nav_and_back() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    in_nav = nav_pages(config["nav"])
    assert len(in_nav) == len(set(in_nav)), "a page is in the nav twice"
    assert set(in_nav) == docs_pages()
