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
