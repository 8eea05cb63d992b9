"""The README's Python examples run as written and print what the README shows; its commands match .ci/run.

README convention: a ```python block that prints is followed (blank lines allowed, nothing else) by a ```text
block with its output. In the output block a number stands for any printed number within one unit of its last
shown digit (integers: exactly), so it is written with as many digits as are stable; ``...`` stands for any text;
runs of spaces may differ (tensor printing pads columns).
"""

import contextlib
import io
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", flags=re.S | re.M)
NUMBER = r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?"


def _examples(text: str) -> list[tuple[str, str | None]]:
    """(python source, expected output or None) for each python block, in order."""
    fences = list(FENCE.finditer(text))
    out = []
    for i, f in enumerate(fences):
        if f.group(1) == "python":
            nxt = fences[i + 1] if i + 1 < len(fences) else None
            follows = nxt is not None and nxt.group(1) == "text" and not text[f.end():nxt.start()].strip()
            out.append((f.group(2), nxt.group(2) if follows else None))
        elif f.group(1) == "text":
            prev = fences[i - 1] if i > 0 else None
            if prev is None or prev.group(1) != "python" or text[prev.end():f.start()].strip():
                raise AssertionError(f"README ```text block at offset {f.start()} does not follow a python block")
    return out


EXAMPLES = _examples(README)


def _pattern(expected: str) -> tuple[re.Pattern, list[str]]:
    """A regex for ``expected`` (numbers captured, whitespace runs flexible, ``...`` = anything)."""
    parts, numbers = [], []
    for token in re.split(rf"(\.\.\.|{NUMBER}|\s+)", expected.strip()):
        if not token:
            continue
        if token == "...":
            parts.append(r".*?")
        elif re.fullmatch(NUMBER, token):
            parts.append(f"({NUMBER})")
            numbers.append(token)
        elif token.isspace():
            parts.append(r"\s*")
        else:
            parts.append(re.escape(token))
    return re.compile("".join(parts), flags=re.S), numbers


def _close(shown: str, printed: str) -> bool:
    if not re.search(r"[.eE]", shown):
        return int(shown) == float(printed)
    mantissa, _, exponent = shown.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    tol = 10.0 ** (-decimals + int(exponent or 0)) * (1 + 1e-9)
    return abs(float(printed) - float(shown)) <= tol


def output_matches(expected: str, printed: str) -> bool:
    pattern, numbers = _pattern(expected)
    m = pattern.fullmatch(printed.strip())
    return m is not None and all(_close(s, p) for s, p in zip(numbers, m.groups()))


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
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(source, f"README.md[python block {index}]", "exec"), {"__name__": "readme"})
    if expected is None:
        assert printed.getvalue() == "", "this README block prints: add a ```text block with its output after it"
    else:
        assert output_matches(expected, printed.getvalue()), (
            f"README block {index} printed:\n{printed.getvalue()}\nbut the README shows:\n{expected}")


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
