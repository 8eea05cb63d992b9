"""The README's Python examples run as written and print what the README shows; its commands match .ci/run.

README convention: a ```python block that prints is followed (blank lines allowed, nothing else) by a ```text
block with its output. In the output block a number stands for any printed number within one unit of its last
shown digit (integers: exactly), so it is written with as many digits as are stable; ``...`` stands for any text;
runs of spaces may differ (tensor printing pads columns).
"""

import os
import re
from pathlib import Path

import pytest

from readme_blocks import _examples, check_block, output_matches

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
EXAMPLES = _examples(README)


def test_output_matching_rules():
    assert output_matches("0.31622...", "0.3162277638912201\n")
    assert output_matches("0.3163", "0.3162277638912201")           # within one unit of the last shown digit
    assert not output_matches("0.3164", "0.3162277638912201")
    assert output_matches("tensor([ 0.1214, 13.1143])", "tensor([0.12141, 13.11432])")
    assert not output_matches("[8417, 405]", "[8417, 406]")           # integers exactly
    assert output_matches("a\n...\nz", "a\nb\nc\nz")
    assert not output_matches("shape 3", "shape 3 extra")
    assert output_matches("1.5e-3", "0.0015004")


def test_readme_has_examples():
    assert len(EXAMPLES) >= 5
    assert sum(expected is not None for _, expected in EXAMPLES) >= 4


@pytest.mark.parametrize("index", range(len(EXAMPLES)))
def test_readme_python_block_prints_what_the_readme_shows(index, monkeypatch, tmp_path):
    source, expected = EXAMPLES[index]
    monkeypatch.chdir(tmp_path)  # outside the checkout: a pasted example may not depend on the repository's files
    assert "data/" not in source, "README examples use audionoise.assets.noise_dir(), not the checkout's data/"
    failure = check_block(index, source, expected)
    assert failure is None, failure


def test_ci_runs_the_readme_test_command():
    commands = re.findall(r"```bash\n(.*?)```", README, flags=re.S)[0]
    test_command = [line for line in commands.splitlines() if "pytest" in line][0].strip()
    assert test_command in (ROOT / ".ci" / "run").read_text()
    assert os.access(ROOT / ".ci" / "run", os.X_OK)


def test_readme_toml_block_is_a_valid_pipeline(monkeypatch, tmp_path):
    import shutil
    import tomllib

    import audionoise as an

    monkeypatch.chdir(tmp_path)  # a user's project folder, with its own noise folder where the TOML says
    shutil.copytree(an.assets.noise_dir(), tmp_path / "data" / "noise")
    block = re.findall(r"```toml\n(.*?)```", README, flags=re.S)[0]
    pipe = an.load_pipeline(tomllib.loads(block))
    assert [type(t).__name__ for t in pipe.transforms] == ["BackgroundNoise", "OneOf"]


def test_ci_runs_the_readme_examples_against_the_wheel_outside_the_checkout():
    ci = (ROOT / ".ci" / "run").read_text()
    wheel_part = ci[ci.index('cd "$work"'):]  # after the wheel is installed and the shell left the checkout
    assert '"$work/venv/bin/python" "$repo/tests/readme_blocks.py" "$repo/README.md"' in wheel_part


# ---------------------------------------------------------------------------------------------- the page's order
EXAMPLE_LEADS = ["**Offline**", "**On the fly, in a training step**", "**In a DataLoader**"]


def test_three_examples_come_within_800_words():
    """A newcomer reaches each of the three examples (offline CLI, training step, DataLoader) within 800 words of
    reading from the top of the page (~4 minutes at 200 words/min); code before it counts as words too."""
    start = README.index("## Three examples")
    for lead in EXAMPLE_LEADS:
        at = README.index(lead, start)
        code = README.index("```", at)  # the example itself
        words = len(README[:code].split())
        assert words <= 800, f"{words} words before the example {lead}"
    assert README.index("## Three examples") < README.index("## Keyword spotting") < README.index("## What it is")


def test_the_two_commands_come_first_and_stay_verbatim():
    first = re.search(r"```bash\n(.*?)```", README, flags=re.S).group(1)
    assert ('python3 -m venv .venv && .venv/bin/pip install -e ".[kws]" && .venv/bin/python recipes/quickstart.py'
            in first)
    assert 'python3 -m venv .venv && .venv/bin/pip install -e ".[test]" && .venv/bin/python -m pytest -q' in first
    assert README.index(first) < README.index("## Three examples")


# ---------------------------------------------------------------------------------------------- one source of truth
BENCHMARKS = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")


def _readme_speed():
    import importlib.util

    spec = importlib.util.spec_from_file_location("readme_speed", ROOT / "bench" / "readme_speed.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_speed_section_is_the_latest_benchmark_run():
    """README's ## Speed is generated from docs/benchmarks.md (python bench/readme_speed.py --write)."""
    speed = _readme_speed()
    start = README.index("## Speed\n")
    shown = README[start:README.index("\n## ", start + 1) + 1]
    stale = "README's Speed section is stale: run python bench/readme_speed.py --write"
    assert shown == speed.section(BENCHMARKS) + "\n", stale
    assert "0.50x" in shown or "below 1" in shown  # where audionoise is slower is shown too


def test_side_by_side_speed_row_matches_the_benchmark():
    facts = _readme_speed().facts(BENCHMARKS)
    row = next(line for line in README.splitlines() if line.startswith("| speed, batch 64"))
    wav = facts["batch"]["background @ SNR, folder of 16 kHz WAV"]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == f"{wav['audionoise'].split()[0]} ms"
    assert cells[2].startswith(wav["am / an"] + " ") and cells[3].startswith(wav["tam / an"] + " ")
    assert cells[4].startswith(wav["ta / an"] + ":")


def test_every_ratio_in_the_readme_is_one_the_docs_measured():
    docs = " ".join(p.read_text(encoding="utf-8") for p in (ROOT / "docs").glob("*.md"))
    measured = set(re.findall(r"(?<![\w.])(\d+(?:\.\d+)?x)\b", docs))
    shown = set(re.findall(r"(?<![\w.])(\d+(?:\.\d+)?x)\b", README))
    assert shown <= measured, f"ratios in README.md that no docs/*.md page measured: {sorted(shown - measured)}"
