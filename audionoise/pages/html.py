"""Self-contained HTML pages: one inline stylesheet, no script, no font or file from the network.

A :class:`Page` holds its body and its assets (WAV and PNG bytes by file name). Saved, the assets are files
beside ``index.html`` (relative links: the folder works from ``file://``, moved or zipped); inline (Jupyter's
``_repr_html_``) they are ``data:`` URIs in the markup itself.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audionoise.io.files import atomic_write

__all__ = ["Page", "esc", "fmt", "table"]

_ASSET = re.compile(r"@@asset:([A-Za-z0-9_.\-]+)@@")
_MIME = {".wav": "audio/wav", ".png": "image/png", ".json": "application/json"}

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:1.2em auto;max-width:1100px;
padding:0 1em;color:#1d232a;background:#fff;line-height:1.4}
h1{font-size:1.5em;margin-bottom:.2em} h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #d6dde4}
h3{font-size:1.02em;margin:1.2em 0 .4em} .muted{color:#5b6672;font-size:.9em}
table{border-collapse:collapse;margin:.4em 0;font-size:.85em} td,th{border:1px solid #d6dde4;padding:.2em .5em;
text-align:left;vertical-align:top} th{background:#f2f5f8} td.num{text-align:right;font-variant-numeric:tabular-nums}
.example{border:1px solid #d6dde4;border-radius:6px;padding:.6em 1em;margin:1em 0}
.players{display:flex;flex-wrap:wrap;gap:.6em 1.4em} .players figure{margin:0} .players figcaption{font-size:.85em}
audio{height:32px;width:260px} img{max-width:100%;height:auto;display:block;margin:.4em 0}
.errors{background:#fff3f3;border:1px solid #e8b4b4;border-radius:6px;padding:.4em 1em}
code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85em} pre{background:#f6f8fa;padding:.6em;
overflow-x:auto;border-radius:4px} .ok{color:#1a7f37} .bad{color:#b42318}
"""


def esc(value: Any) -> str:
    """HTML-escaped ``str(value)``."""
    return html.escape(str(value), quote=True)


def fmt(value: Any, digits: int = 2) -> str:
    """A number for a table cell: ``digits`` decimals for floats, lists compact, the rest as text."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(fmt(v, digits) for v in value) + "]"
    return str(value)


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], numeric: Sequence[bool] | None = None) -> str:
    """An HTML table; cells are escaped (pass pre-formatted strings for numbers)."""
    numeric = list(numeric or [False] * len(header))
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td class=\"num\">{esc(c)}</td>" if numeric[i] else f"<td>{esc(c)}</td>"
                                    for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _finite(v: Any) -> Any:
    """``v`` with non-finite floats as strings (``"nan"``, ``"inf"``): strict JSON."""
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if isinstance(v, dict):
        return {k: _finite(e) for k, e in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite(e) for e in v]
    return v


@dataclass
class Page:
    """An HTML page under construction: ``parts`` of the body, ``assets`` (file name -> bytes)."""

    title: str
    parts: list[str] = field(default_factory=list)
    assets: dict[str, bytes] = field(default_factory=dict)
    inline: bool = False  # assets as data: URIs in the markup (Jupyter) instead of files beside the page

    def add(self, markup: str) -> None:
        self.parts.append(markup)

    @staticmethod
    def src(name: str) -> str:
        """A placeholder for asset ``name``, resolved by :meth:`html` (a relative path or a ``data:`` URI)."""
        return f"@@asset:{name}@@"

    def _resolve(self, match: re.Match) -> str:
        name = match.group(1)
        if not self.inline:
            return esc(name)
        mime = _MIME[os.path.splitext(name)[1]]
        return f"data:{mime};base64,{base64.b64encode(self.assets[name]).decode('ascii')}"

    def audio(self, name: str, data: bytes, caption: str) -> str:
        self.assets[name] = data
        return (f"<figure><figcaption>{esc(caption)}</figcaption>"
                f"<audio controls preload=\"metadata\" src=\"{self.src(name)}\"></audio></figure>")

    def image(self, name: str, data: bytes, alt: str) -> str:
        self.assets[name] = data
        return f"<img src=\"{self.src(name)}\" alt=\"{esc(alt)}\">"

    def html(self, fragment: bool = False) -> str:
        """The page; ``fragment``: a ``<div>`` for embedding (Jupyter), without ``<html>``/``<head>``."""
        body = _ASSET.sub(self._resolve, "\n".join(self.parts))
        if fragment:
            return f"<div class=\"audionoise-page\"><style>{STYLE}</style>{body}</div>"
        return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                f"<title>{esc(self.title)}</title><style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n")

    def save(self, folder: str | os.PathLike, data: dict[str, Any] | None = None,
             data_name: str = "page.json") -> Path:
        """Write ``index.html`` and the assets (and ``data`` as JSON) into ``folder`` (created); the page's path."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name, content in self.assets.items():
            atomic_write(folder / name, content)
        if data is not None:
            atomic_write(folder / data_name, json.dumps(_finite(data), indent=1, allow_nan=False, default=str) + "\n")
        saved = Page(self.title, self.parts, self.assets, inline=False)
        atomic_write(folder / "index.html", saved.html())
        return folder / "index.html"
