"""NeMo-style JSONL manifests: the one parser of the package, and its one segment rule.

A manifest holds one JSON object per line, such as ``{"audio_filepath": "spk1/a.wav", "duration": 2.31,
"text": "hello"}``. :func:`read` parses every non-blank line into a :class:`Row` or, when the line cannot be
used, a :class:`BadLine` that says why, naming the manifest and the line number (:func:`iter_lines`: the same,
one line at a time). It only parses: what to do with a bad line, and any further check, is the caller's policy:

* :class:`audionoise.data.AudioManifest` (and ``audionoise grid``, which reads its inputs the same way) raises
  ``ValueError`` at the first bad line, and refuses the fields it sets itself (``path``, ``sample_rate``);
* ``audionoise augment`` (:mod:`audionoise.offline.inputs`) writes one error line per bad line to
  ``OUT/errors.jsonl`` and goes on with the others, naming outputs after ``audio_filepath``;
* noise banks (:mod:`audionoise.corpora.noise_sources`) skip a bad line with one ``NoiseBankWarning``.

**The segment rule.** A line with an ``offset`` is a segment: it starts ``offset`` seconds into the file and
lasts ``duration`` seconds when the line has one, else runs to the end of the file. A line without ``offset``
is the whole file, and its ``duration`` is informative: NeMo whole-file manifests write each file's duration,
often rounded (``2.31`` for 2.3149 s), and reading only that many seconds would cut the end off the audio.
A ``null`` value counts as absent. So ``{"audio_filepath": "a.wav", "duration": 2.31}`` is all of ``a.wav``,
``{"audio_filepath": "a.wav", "offset": 0, "duration": 2.31}`` its first 2.31 s and ``{"audio_filepath": "a.wav",
"offset": 1.5}`` everything from 1.5 s on. A duration running past the end of the file stops there
(:func:`audionoise.io.load`).

The other rules, the same for every caller:

* the file is UTF-8, with or without a byte-order mark; lines are separated by ``\\n`` (a ``\\r`` before it is
  ignored); blank lines are skipped; line numbers count every line, blank ones included, from 1;
* ``audio_filepath`` is required, a non-empty string: absolute, or relative to the manifest's folder (``~`` is
  expanded); the path is not normalised (``..`` parts are kept as written);
* ``offset`` and ``duration``, where present, are finite numbers of seconds, ``offset >= 0`` and
  ``duration > 0``, checked on every line (an informative ``duration`` too: a manifest with a broken duration
  is broken for NeMo as well);
* every field is kept as written (:attr:`Row.fields`), the ones above included.
"""

from __future__ import annotations

import codecs
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from audionoise.runtime.limits import MAX_CONFIG_DEPTH, check_config_shape

__all__ = ["BadLine", "Row", "iter_lines", "read", "resolve"]

#: What a :class:`BadLine` can be about (its ``problem``).
PROBLEMS = ("encoding", "json", "object", "audio_filepath", "offset", "duration")

_EXAMPLE = '{"audio_filepath": "a.wav", "duration": 1.5}'
_AUDIO = "the audio file, absolute or relative to the manifest's folder"


@dataclass(frozen=True, eq=False)
class Row:
    """One usable manifest line.

    ``line`` is its 1-based number, ``fields`` the whole JSON object as written, ``audio`` its
    ``audio_filepath`` as written and ``path`` that file resolved against the manifest's folder. ``offset`` and
    ``duration`` are what to read (the segment rule of this module): a segment (``segment`` true, the line has
    an ``offset``) reads ``duration`` seconds from ``offset`` (``duration`` ``None``: to the end); the whole
    file has ``offset`` 0.0 and ``duration`` ``None`` (its ``fields["duration"]``, if any, is informative).
    """

    line: int
    fields: dict[str, Any]
    audio: str
    path: Path
    offset: float = 0.0
    duration: float | None = None
    segment: bool = False


@dataclass(frozen=True, eq=False)
class BadLine:
    """One manifest line that cannot be used: ``problem`` (one of :data:`PROBLEMS`) and ``detail``, the reason.

    ``detail`` does not name the place; :attr:`reason` does (``"<manifest>:<line>: <detail>"``). ``cause`` is the
    decoder's own message for an ``"encoding"`` or ``"json"`` problem (``"Expecting ',' delimiter at column 40"``).
    ``fields`` is the JSON object when the line is one, and ``audio`` its ``audio_filepath`` when that is usable
    (a bad ``offset``/``duration``), else ``None``.
    """

    manifest: Path
    line: int
    problem: str
    detail: str
    cause: str = ""
    fields: dict[str, Any] | None = None
    audio: str | None = None

    @property
    def reason(self) -> str:
        """The reason naming the manifest and the line: ``"train.jsonl:3: not valid JSON (...)"``."""
        return f"{self.manifest}:{self.line}: {self.detail}"


def read(path: str | os.PathLike) -> list[Row | BadLine]:
    """One :class:`Row` or :class:`BadLine` per non-blank line of the manifest ``path``, in line order.

    Raises:
        OSError: the manifest cannot be opened (missing, a folder, no permission).
    """
    return list(iter_lines(path))


def iter_lines(path: str | os.PathLike) -> Iterator[Row | BadLine]:
    """:func:`read` one line at a time (the manifest is opened at the first ``next``, and stays open until the
    end), for callers that need not hold every line of a long manifest at once."""
    path = Path(path)
    folder = path.parent
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            if number == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8):]
            if raw.strip():
                yield _parse_line(path, folder, number, raw.rstrip(b"\r\n"))


def resolve(audio: str, listing: str | os.PathLike) -> Path:
    """``audio`` as a path: ``~`` expanded, and relative to the folder of ``listing`` (a manifest or list file)
    unless absolute. Not normalised: ``..`` parts stay, so the file system decides where they lead."""
    return _resolve(audio, Path(listing).parent)


def _resolve(audio: str, folder: Path) -> Path:
    if audio.startswith("~"):
        audio = os.path.expanduser(audio)
    return Path(audio) if os.path.isabs(audio) else folder / audio  # one path parse per line: manifests are long


def _parse_line(manifest: Path, folder: Path, number: int, raw: bytes) -> Row | BadLine:
    """Line ``number`` of ``manifest`` (its bytes, not blank, without the line break) as a Row or a BadLine."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        cause = f"{err.reason} at byte {err.start + 1}"
        return BadLine(manifest, number, "encoding", f"not UTF-8 text ({cause}); save the manifest as UTF-8", cause)
    try:
        fields = json.loads(text)
    except json.JSONDecodeError as err:
        cause = f"{err.msg} at column {err.pos + 1}"
        return BadLine(manifest, number, "json", f"not valid JSON ({cause}); each line must be one JSON object "
                                                 f"such as {_EXAMPLE}", cause)
    except RecursionError:  # "[[[[...": Python's JSON parser recurses once per level
        return BadLine(manifest, number, "json", f"nested too deep for a manifest line; each line must be one flat "
                                                 f"JSON object such as {_EXAMPLE}", "nested too deep")
    if text.count("[") + text.count("{") > MAX_CONFIG_DEPTH:  # possibly deep: its fields are copied to outputs
        try:
            check_config_shape(fields, "the line")
        except ValueError as err:
            return BadLine(manifest, number, "json", f"{err} (a manifest line is one flat JSON object such as "
                                                     f"{_EXAMPLE})", "nested too deep")
    if not isinstance(fields, dict):
        return BadLine(manifest, number, "object", f"expected a JSON object such as {_EXAMPLE}, got a JSON "
                                                   f"{_json_type(fields)}")
    audio = fields.get("audio_filepath")
    if audio is None:
        return BadLine(manifest, number, "audio_filepath", f'missing "audio_filepath" (a non-empty string: {_AUDIO})',
                       fields=fields)
    if not isinstance(audio, str) or not audio or "\0" in audio:
        return BadLine(manifest, number, "audio_filepath", f'"audio_filepath" must be a non-empty string without NUL '
                                                           f"characters ({_AUDIO}), got {audio!r}", fields=fields)
    seconds: dict[str, float | None] = {}
    for name, positive in (("offset", False), ("duration", True)):
        value = fields.get(name)
        if value is not None and not _is_seconds(value, positive):
            rule = "> 0" if positive else ">= 0"
            return BadLine(manifest, number, name, f'"{name}" must be a number of seconds {rule}, got {value!r}',
                           fields=fields, audio=audio)
        seconds[name] = None if value is None else float(value)
    segment = seconds["offset"] is not None  # the segment rule (module docstring)
    return Row(number, fields, audio, _resolve(audio, folder), seconds["offset"] if segment else 0.0,
               seconds["duration"] if segment else None, segment)


def _is_seconds(value: Any, positive: bool) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an integer beyond float range
        return False
    return finite and (value > 0 if positive else value >= 0)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return {list: "array", str: "string", type(None): "null"}.get(type(value), type(value).__name__)
