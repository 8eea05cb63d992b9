"""The README's Python examples run as written, and its two commands stay in sync with .ci/run."""

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.S)


def test_readme_has_examples():
    assert len(BLOCKS) >= 5


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_python_block_runs(index, monkeypatch):
    monkeypatch.chdir(ROOT)
    exec(compile(BLOCKS[index], f"README.md[python block {index}]", "exec"), {"__name__": "readme"})


def test_ci_runs_the_readme_test_command():
    commands = re.findall(r"```bash\n(.*?)```", README, flags=re.S)[0]
    test_command = [line for line in commands.splitlines() if "pytest" in line][0].strip()
    assert test_command in (ROOT / ".ci" / "run").read_text()
    assert os.access(ROOT / ".ci" / "run", os.X_OK)


def test_readme_toml_block_is_a_valid_pipeline(monkeypatch):
    import tomllib

    import audionoise as an

    monkeypatch.chdir(ROOT)
    block = re.findall(r"```toml\n(.*?)```", README, flags=re.S)[0]
    pipe = an.load_pipeline(tomllib.loads(block))
    assert [type(t).__name__ for t in pipe.transforms] == ["BackgroundNoise", "OneOf"]
