"""The README's runnable examples: parse its python blocks and the output each shows, and run them.

A plain module (no pytest): ``tests/test_readme.py`` uses it, and ``.ci/run`` runs it as a script against the
installed wheel from a folder outside the checkout (``python tests/readme_blocks.py README.md``), so an example
that depends on the source tree fails there.
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
from pathlib import Path

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


def run_block(source: str, name: str) -> str:
    """Execute one python block in a fresh namespace; what it printed."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(source, name, "exec"), {"__name__": "readme"})
    return printed.getvalue()


def check_block(index: int, source: str, expected: str | None) -> str | None:
    """Run block ``index``; ``None`` when it printed what the README shows, else what went wrong."""
    printed = run_block(source, f"README.md[python block {index}]")
    if expected is None:
        return None if printed == "" else f"block {index} prints but the README shows no ```text block after it"
    if output_matches(expected, printed):
        return None
    return f"block {index} printed:\n{printed}\nbut the README shows:\n{expected}"


def main(readme: str) -> int:
    failures = [f for i, (src, exp) in enumerate(_examples(Path(readme).read_text(encoding="utf-8")))
                if (f := check_block(i, src, exp)) is not None]
    for f in failures:
        print(f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
