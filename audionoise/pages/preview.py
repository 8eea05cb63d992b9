"""Preview pages: listen to and look at what a pipeline does to your clips, and at what it draws.

:func:`preview` (Python, e.g. in Jupyter) and :func:`preview_files` (``audionoise preview IN OUT_DIR``) build a
:class:`Preview`: per example the clean clip and ``copies`` augmented copies (audio, waveform and spectrogram
pictures on one colour scale, and the record of every applied transform with the measured SNR of each noise step),
then a summary: how often each transform fired and the histograms of the drawn parameters, over the page's copies
and over a dry draw of ``dry_draws`` samples of the plan (:mod:`audionoise.pages.summary`).

Copy ``k`` of the input with key ``key`` is seeded by ``output_seed(seed, key, k)``, as ``audionoise augment``
seeds its output ``key_aug<k>`` (same engine choice too: :mod:`audionoise.pages.augment`), so a page shows the
files a run with that seed writes. Audio is written as 16-bit WAV at the clip's own rate (an augmented copy beyond
full scale is scaled down as a whole, as ``augment``'s default ``--on-clip normalize`` does).
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from audionoise.io import _wav
from audionoise.kernels.seeds import derive_seed
from audionoise.offline import clipping
from audionoise.offline.naming import output_seed
from audionoise.offline.pipelines import OfflineUsageError, Pipelines
from audionoise.pages.html import Page, esc, fmt, table
from audionoise.pages.summary import Draws, dry_draw, summarize

__all__ = ["Copy", "Example", "Preview", "preview", "preview_files"]

#: samples of the plan in the summary's dry draw
DRY_DRAWS = 1000
#: the most parameter panels in a summary picture
MAX_PANELS = 12


@dataclass
class Copy:
    """One augmented copy: its index, seed, samples ``(channels, time)``, records and clipping fields."""

    index: int
    seed: int
    samples: np.ndarray
    records: list[dict[str, Any]]
    level: dict[str, Any]
    engine: str


@dataclass
class Example:
    """One input: its key (the name that seeds its copies), rate, clean samples and copies."""

    key: str
    rate: int
    clean: np.ndarray
    copies: list[Copy] = field(default_factory=list)


@dataclass
class Preview:
    """A preview page: examples, errors (``{"input", "reason"}`` rows), summaries; ``.save(dir)`` or Jupyter."""

    examples: list[Example]
    errors: list[dict[str, Any]]
    page_draws: Draws
    dry: Draws
    seed: int
    copies: int
    pipeline: str = ""
    source: str = ""
    _page: dict[bool, Page] = field(default_factory=dict, repr=False)

    @property
    def exit_status(self) -> int:
        """0 when every input worked, 1 when some failed (as ``audionoise augment``)."""
        return 1 if self.errors else 0

    def page(self, inline: bool = False) -> Page:
        if inline not in self._page:
            self._page[inline] = render(self, inline)
        return self._page[inline]

    def _repr_html_(self) -> str:
        return self.page(inline=True).html(fragment=True)

    def save(self, folder: str | os.PathLike) -> Path:
        """Write ``folder/index.html``, its WAV and PNG files and ``preview.json``; returns the page's path."""
        return self.page().save(folder, self.to_dict(), "preview.json")

    def to_dict(self) -> dict[str, Any]:
        """Everything the page shows, JSON-able (``preview.json``)."""
        return {"seed": self.seed, "copies": self.copies, "pipeline": self.pipeline, "source": self.source,
                "errors": self.errors,
                "examples": [{"input": e.key, "sample_rate": e.rate, "channels": int(e.clean.shape[0]),
                              "frames": int(e.clean.shape[1]), "audio": _names(i, e),
                              "copies": [{"copy": c.index, "seed": c.seed, "engine": c.engine,
                                          "frames": int(c.samples.shape[-1]), **c.level, "transforms": c.records}
                                         for c in e.copies]}
                             for i, e in enumerate(self.examples)],
                "summary": {"page": self.page_draws.to_dict(), "dry_draw": self.dry.to_dict()}}


def _names(i: int, e: Example) -> dict[str, Any]:
    return {"clean": f"ex{i:02d}_clean.wav", "copies": [f"ex{i:02d}_aug{c.index}.wav" for c in e.copies],
            "picture": f"ex{i:02d}.png"}


# ------------------------------------------------------------------------------------------------- building
def _example(pipelines: Pipelines, key: str, x: np.ndarray, rate: int, seed: int, copies: int) -> Example:
    from audionoise.pages.augment import augment_copy

    ex = Example(key, rate, x)
    for k in range(copies):
        y, records, engine = augment_copy(pipelines, x, rate, seed, key, k)
        y, level = clipping.limit(np.ascontiguousarray(y, dtype=np.float32), "PCM_16", "normalize", key)
        ex.copies.append(Copy(k, output_seed(seed, key, k), y, records, level, engine))
    return ex


def _finish(pipelines, examples, errors, seed, copies, dry_draws, pipeline_text, source) -> Preview:
    page = summarize([c.records for e in examples for c in e.copies])
    if examples and dry_draws > 0:
        first = examples[0]
        frames = min(first.clean.shape[1], first.rate)  # parameters do not depend on length beyond this
        dry = dry_draw(pipelines, first.rate, first.clean.shape[0], frames, dry_draws, seed)
    else:
        dry = Draws(error="no dry draw (no example, or dry_draws=0)")
    return Preview(examples, errors, page, dry, seed, copies, pipeline_text, source)


def _pipeline_text(pipelines: Pipelines) -> str:
    if pipelines.config is not None:
        import tomli_w

        return tomli_w.dumps(pipelines.config)
    return repr(pipelines.module)


def preview(pipeline: Any, x: Any, sample_rate: int, copies: int = 2, seed: int = 0,
            names: list[str] | None = None, dry_draws: int = DRY_DRAWS, engine: str = "torch") -> Preview:
    """A preview of ``pipeline`` on the clip(s) ``x``: render it in Jupyter, or ``.save(folder)``.

    Args:
        pipeline: A pipeline module (``Compose``, an injector, ...), a config dict or a config file path.
        x: One clip ``(time,)`` or ``(channels, time)``, or a list of clips (tensors or NumPy arrays).
        sample_rate: Rate of the clips in Hz.
        copies: Augmented copies per clip.
        seed: Copy ``k`` of clip ``names[i]`` is seeded ``output_seed(seed, names[i], k)``, as ``augment`` seeds
            output ``k`` of the file with that key.
        names: Keys of the clips (default ``clip0``, ``clip1``, ...).
        dry_draws: Samples of the plan in the summary (0: none).
        engine: ``"torch"`` (default: the copies are ``pipeline(x[None], generator=Generator().manual_seed(s))``)
            or ``"auto"`` (configs the NumPy engine implements run there, as ``augment`` does by default).

    Example:
        >>> import torch, audionoise as an
        >>> page = an.preview(an.WhiteNoise(5, 5), torch.randn(16000) * 0.1, 16000, copies=1, dry_draws=10)
        >>> page.examples[0].copies[0].records[0]["snr_db_measured"]
        5.0
    """
    clips = list(x) if isinstance(x, (list, tuple)) else [x]
    arrays = [_as_array(c, i) for i, c in enumerate(clips)]
    names = [f"clip{i}" for i in range(len(arrays))] if names is None else [str(n) for n in names]
    if len(names) != len(arrays):
        raise ValueError(f"names has {len(names)} entries for {len(arrays)} clips; give one name per clip")
    if int(copies) < 1:
        raise ValueError(f"copies must be >= 1, got {copies}")
    pipelines = Pipelines(pipeline, engine)
    examples = [_example(pipelines, n, a, int(sample_rate), int(seed), int(copies)) for n, a in zip(names, arrays)]
    return _finish(pipelines, examples, [], int(seed), int(copies), int(dry_draws), _pipeline_text(pipelines),
                   "Python call")


def _as_array(clip: Any, i: int) -> np.ndarray:
    if hasattr(clip, "detach"):
        clip = clip.detach().cpu().numpy()
    a = np.asarray(clip, dtype=np.float32)
    if a.ndim == 1:
        a = a[None]
    if a.ndim != 2 or a.shape[1] == 0:
        raise ValueError(f"clip {i} has shape {tuple(a.shape)}; pass (time,) or (channels, time) with samples")
    if not np.isfinite(a).all():
        raise ValueError(f"clip {i} contains NaN/Inf samples; clean it first")
    return np.ascontiguousarray(a)


def preview_files(in_path: str | os.PathLike, pipeline_or_config: Any, n: int = 8, copies: int = 2,
                  seed: int = 0, engine: str = "auto", extensions: Any = None,
                  dry_draws: int = DRY_DRAWS, out_dir: str | os.PathLike | None = None) -> Preview:
    """A preview of ``n`` inputs of ``in_path`` (a folder, an audio file or a JSONL manifest, as ``augment``).

    Inputs are taken in a seeded order (``derive_seed(seed, "preview")``) until ``n`` of them read and augment;
    every input that fails on the way, and every entry the scan rejects (a symlink out of the folder, ...), is an
    error row (``{"input", "reason"}``) on the page. ``out_dir`` (where the page will be saved) is checked like
    ``augment``'s: never an input folder or inside one.

    Raises:
        OfflineUsageError: ``in_path`` missing or not an input, ``out_dir`` inside the input, bad options/config.
    """
    from audionoise import io
    from audionoise.offline.runner import error_reason
    from audionoise.offline.inputs import collect
    from audionoise.offline.spec import check_paths

    in_path = Path(in_path)
    if int(n) < 1 or int(copies) < 1:
        raise OfflineUsageError(f"-n ({n}) and --copies ({copies}) must be >= 1")
    check_paths(in_path, Path(out_dir) if out_dir is not None else in_path.parent / ".audionoise-preview")
    exts = frozenset(e if e.startswith(".") else f".{e}" for e in (e.lower() for e in extensions)) \
        if extensions else io.READABLE_EXTENSIONS
    if in_path.is_file() and in_path.suffix.lower() != ".jsonl" and in_path.suffix.lower() not in exts:
        raise OfflineUsageError(f"input {str(in_path)!r} is neither a folder, an audio file nor a .jsonl manifest")
    pipelines = Pipelines(pipeline_or_config, engine)
    pipelines.validate()
    try:
        inputs = collect(in_path, exts)
    except (OSError, UnicodeDecodeError) as exc:
        raise OfflineUsageError(f"cannot read the input {str(in_path)!r}: {exc}") from None
    errors = [{"input": key if row.get("input") is None else row["input"], "reason": row["reason"]}
              for key, row in sorted(inputs.bad.items())]
    order = list(inputs.items)
    random.Random(derive_seed(seed, "preview")).shuffle(order)
    examples = []
    for item in order:
        if len(examples) == int(n):
            break
        try:
            data, meta = io.load_array(item.source, offset=item.offset, duration=item.duration)
            examples.append(_example(pipelines, item.key, data, meta.sample_rate, int(seed), int(copies)))
        except Exception as exc:  # one bad file never stops the page
            errors.append({"input": item.key, "reason": error_reason(exc)})
    examples.sort(key=lambda e: e.key)
    return _finish(pipelines, examples, errors, int(seed), int(copies), int(dry_draws),
                   _pipeline_text(pipelines), str(in_path))


# ------------------------------------------------------------------------------------------------ rendering
def _wav_bytes(x: np.ndarray, rate: int) -> bytes:
    frames = np.ascontiguousarray(x.T)
    return _wav.header(rate, frames.shape[1], frames.shape[0]) + _wav.encode_pcm16(frames)


def _record_rows(records: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for rec in records:
        target = rec.get("snr_db")
        measured = rec.get("snr_db_measured")
        other = {k: v for k, v in rec.items() if k not in ("transform", "applied", "snr_db", "snr_db_measured")}
        rows.append([rec.get("transform", "?"), "yes" if rec.get("applied") else "no",
                     fmt(target, 2) if isinstance(target, (int, float)) else "",
                     fmt(measured, 2) if measured is not None else "",
                     ", ".join(f"{k}={fmt(v, 3)}" for k, v in other.items())])
    return rows


def _fired_table(page: Draws, dry: Draws) -> str:
    names = list(dict.fromkeys([*dry.fired, *page.fired]))
    rows = []
    for name in names:
        def share(d: Draws) -> str:
            return f"{d.fired.get(name, 0)}/{d.n} ({100 * d.fired.get(name, 0) / d.n:.1f}%)" if d.n else "-"
        rows.append([name, share(page), share(dry)])
    return table(["transform", "fired on this page", "fired in the dry draw"], rows, [False, True, True])


def _stats_table(page: Draws, dry: Draws) -> str:
    rows = []
    for name in list(dict.fromkeys([*dry.values, *page.values])):
        d = np.asarray(dry.values.get(name, []), dtype=np.float64)
        p = np.asarray(page.values.get(name, []), dtype=np.float64)
        whole = bool(np.all(np.concatenate([d, p]) == np.round(np.concatenate([d, p]))))
        digits = 0 if whole else 2  # sample counts and indices as integers
        rows.append([name, str(d.size), fmt(float(d.min()), digits) if d.size else "",
                     fmt(float(np.median(d)), digits) if d.size else "", fmt(float(d.max()), digits) if d.size else "",
                     str(p.size), fmt(p.tolist(), digits) if 0 < p.size <= 16 else
                     (f"median {np.median(p):.{digits}f}" if p.size else "")])
    return table(["parameter", "dry draw n", "min", "median", "max", "page n", "page values"], rows,
                 [False, True, True, True, True, True, False])


def render(pv: Preview, inline: bool = False) -> Page:
    """The :class:`~audionoise.pages.html.Page` of a preview (assets inline as data: URIs or as files)."""
    from audionoise.pages import images

    page = Page("audionoise preview", inline=inline)
    n_copies = sum(len(e.copies) for e in pv.examples)
    page.add("<h1>audionoise preview</h1>")
    page.add(f"<p class=\"muted\">{len(pv.examples)} example(s) from {esc(pv.source)}, {pv.copies} augmented "
             f"cop{'y' if pv.copies == 1 else 'ies'} each ({n_copies} in all), seed {pv.seed}. Copy <i>k</i> of "
             f"an input is what <code>audionoise augment --seed {pv.seed}</code> writes as its "
             f"<code>_aug<i>k</i></code> file. Spectrograms of one example share one colour scale "
             f"({images.DYNAMIC_RANGE_DB:.0f} dB below its loudest bin).</p>")
    if pv.pipeline:
        page.add(f"<details><summary>pipeline</summary><pre>{esc(pv.pipeline)}</pre></details>")
    if pv.errors:
        items = "".join(f"<li><code>{esc(e['input'])}</code>: {esc(e['reason'])}</li>" for e in pv.errors)
        page.add(f"<div class=\"errors\"><h2 id=\"errors\">{len(pv.errors)} input(s) failed</h2><ul>{items}</ul>"
                 "</div>")
    page.add("<h2 id=\"summary\">What the pipeline draws</h2>")
    if pv.dry.error:
        page.add(f"<p class=\"bad\">{esc(pv.dry.error)}</p>")
    page.add(f"<p class=\"muted\">This page's {pv.page_draws.n} copies and a dry draw of {pv.dry.n} samples of "
             "the plan (silent clips, one seed each: the parameters as the config draws them).</p>")
    page.add(_fired_table(pv.page_draws, pv.dry))
    page.add(_stats_table(pv.page_draws, pv.dry))
    draws = pv.dry if pv.dry.values else pv.page_draws
    varying = {k: v for k, v in draws.values.items() if len(v) and min(v) != max(v)}  # constants: table only
    panels = dict(list(varying.items())[:MAX_PANELS])
    if panels:
        page.add(page.image("summary.png", images.histograms_png(panels, pv.page_draws.values),
                            "histograms of the drawn parameters"))
    page.add("<h2 id=\"examples\">Examples</h2>")
    painter = images.ExamplePainter()
    for i, ex in enumerate(pv.examples):
        names = _names(i, ex)
        seconds = ex.clean.shape[1] / ex.rate
        players = [page.audio(names["clean"], _wav_bytes(ex.clean, ex.rate), "clean")]
        rows = [("clean", ex.clean)]
        for c, name in zip(ex.copies, names["copies"]):
            players.append(page.audio(name, _wav_bytes(c.samples, ex.rate), f"copy {c.index} (seed {c.seed})"))
            rows.append((f"copy {c.index}", c.samples))
        parts = [f"<div class=\"example\" id=\"ex{i:02d}\"><h3>{esc(ex.key)}</h3>",
                 f"<p class=\"muted\">{ex.rate} Hz, {ex.clean.shape[0]} channel(s), {seconds:.2f} s</p>",
                 f"<div class=\"players\">{''.join(players)}</div>",
                 page.image(names["picture"], painter.png(rows, ex.rate),
                            f"waveforms and spectrograms of {ex.key}: clean and augmented")]
        for c in ex.copies:
            extra = ""
            if c.level.get("normalized_db") is not None:
                extra = f", scaled by {c.level['normalized_db']:.2f} dB to stay within full scale"
            parts.append(f"<p class=\"muted\">copy {c.index}: seed {c.seed}, {c.engine} engine{esc(extra)}</p>")
            parts.append(table(["transform", "applied", "target SNR (dB)", "measured SNR (dB)", "parameters"],
                               _record_rows(c.records), [False, False, True, True, False]))
        parts.append("</div>")
        page.add("\n".join(parts))
    return page

