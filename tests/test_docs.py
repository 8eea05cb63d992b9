"""The docs stay true: every `audionoise CMD --flag` they show exists, none is "to be wired", and their complete
Python examples run from a folder outside the checkout."""

import argparse
import re
from pathlib import Path

import pytest

from audionoise.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _flags(parser: argparse.ArgumentParser) -> set[str]:
    out = set()
    for action in parser._actions:
        out |= set(action.option_strings)
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                out |= _flags(child)
    return out


def _commands(text: str) -> list[str]:
    """`audionoise ...` in inline code, and command lines in code blocks (``$ audionoise ...`` or bare)."""
    return (re.findall(r"`(audionoise [^`\n]+)`", text)
            + re.findall(r"^\s*(?:\$\s*)?(audionoise [^\n#]+)", text, flags=re.M))


def test_every_flag_the_docs_show_exists():
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    known = {name: _flags(p) for name, p in sub.choices.items()}
    missing = []
    for page in PAGES:
        for command in _commands(page.read_text(encoding="utf-8")):
            words = command.split()
            if len(words) < 2 or words[1] not in known:
                continue
            for word in words[2:]:
                m = re.match(r"--[a-z][a-z0-9-]*", word)
                if m and m.group(0) not in known[words[1]]:
                    missing.append(f"{page.name}: audionoise {words[1]} {m.group(0)}")
    assert not missing, missing
    assert sum(len(_commands(p.read_text(encoding="utf-8"))) for p in PAGES) > 30  # the scan finds the commands


def test_no_page_calls_an_existing_option_future_work():
    for page in PAGES:
        text = " ".join(page.read_text(encoding="utf-8").split())
        for flag in re.findall(r"`(--[a-z-]+)[^`]*` option is to be wired", text):
            raise AssertionError(f"{page.name} says {flag} is to be wired")
        assert "is to be wired" not in text, page.name


def _python_blocks(page: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```\n", page.read_text(encoding="utf-8"), flags=re.S | re.M)


#: docs blocks that are excerpts of a larger program (names defined elsewhere, placeholder paths), not run
EXCERPTS = {("kws.md", 0), ("noise.md", 0), ("scale.md", 0), ("scale.md", 1)}  # scale.md: cluster addresses
BLOCKS = [(p.name, i) for p in PAGES if p.parent.name == "docs" for i in range(len(_python_blocks(p)))]


@pytest.mark.parametrize("page, index", [b for b in BLOCKS if b not in EXCERPTS])
def test_docs_python_blocks_run_outside_the_checkout(page, index, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # a user's folder: nothing may come from the repository's files
    source = _python_blocks(ROOT / "docs" / page)[index]
    exec(compile(source, f"docs/{page}[python block {index}]", "exec"), {"__name__": "docs"})


def test_docs_excerpts_are_the_ones_listed():
    assert EXCERPTS <= set(BLOCKS) and len(BLOCKS) - len(EXCERPTS) >= 2
