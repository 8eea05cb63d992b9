"""The JSONL files of a job (manifest, errors): whole-line appends that a failure rolls back, atomic rewrites."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

from audionoise.io.files import atomic_write

__all__ = ["Appender", "line", "output_of", "read_lines", "read_manifest", "write_lines_atomic"]


def line(row: dict) -> str:
    return json.dumps(row, ensure_ascii=False, separators=(", ", ": ")) + "\n"


def write_lines_atomic(path: Path, lines: Iterable[str]) -> None:
    atomic_write(path, lambda fh: fh.writelines(text.encode("utf-8") for text in lines))


def output_of(row: dict) -> str:
    """The output path of a manifest row (folder jobs: ``row["output"]``; manifest jobs: in ``"augmentation"``)."""
    return row["augmentation"]["output"] if "augmentation" in row else row["output"]


def read_manifest(path: Path) -> dict[str, str]:
    """output -> line, for every complete, parseable line (a line cut by a kill is ignored)."""
    kept: dict[str, str] = {}
    if not path.exists():
        return kept
    with open(path, encoding="utf-8", newline="\n") as fh:
        for text in fh:
            if not text.endswith("\n"):
                continue
            try:
                out = output_of(json.loads(text))
            except (ValueError, KeyError, TypeError):
                continue
            kept[out] = text
    return kept


def read_lines(path: Path) -> set[str]:
    with open(path, encoding="utf-8", newline="\n") as fh:
        return {text for text in fh if text.endswith("\n")}


class Appender:
    """Appends whole lines to a JSONL file: after :meth:`append` either every line is on disk or none is.

    A failed write (disk full) truncates the file back to where it was (truncating needs no space) and raises
    the ``OSError``; the file never ends in half a line written by this job.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o666)

    def append(self, lines: Iterable[str]) -> None:
        data = "".join(lines).encode("utf-8")
        if not data:
            return
        start = os.lseek(self.fd, 0, os.SEEK_END)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self.fd, view):]
        except BaseException:
            os.ftruncate(self.fd, start)
            raise

    def close(self) -> None:
        os.close(self.fd)

    def __enter__(self) -> "Appender":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
