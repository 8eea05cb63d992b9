"""PNG pictures for the pages: waveforms and spectrograms before/after, parameter histograms, report plots.

Figures are drawn with matplotlib's object-oriented API on an Agg canvas (no pyplot state, no display), imported
on first use (``audionoise preview --help`` stays light). PNGs are reduced to a 256-colour palette before they
are stored: a spectrogram picture is ~3x smaller that way and looks the same.

Spectrograms: ``|STFT|^2`` in dB (Hann window of ~32 ms, hop a quarter of it) of the channels' mean; all rows of
one example share the colour scale (``[max - 80 dB, max]`` over the clean and augmented signals together), so a
louder noise floor is visible as colour, not hidden by per-picture scaling. Time in seconds, frequency in kHz.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from audionoise.runtime.extras import require

__all__ = ["DYNAMIC_RANGE_DB", "ExamplePainter", "confusion_png", "curves_png", "example_png", "histograms_png",
           "line_png", "png_bytes", "spectrogram_db", "training_png"]

#: colour range of the spectrograms, below the loudest bin of an example
DYNAMIC_RANGE_DB = 80.0
#: dots per inch of every picture (the pages show them at their natural size)
DPI = 80


def _figure(width: float, height: float, layout: str | None = "constrained"):
    require("matplotlib", extra="plot", purpose="the preview and report pages' pictures")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def png_bytes(fig) -> bytes:
    """The figure as a palette PNG (256 colours by fast octree quantization, zlib level 7)."""
    from PIL import Image  # matplotlib's own dependency

    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    image = Image.fromarray(rgba[..., :3]).quantize(256, method=Image.Quantize.FASTOCTREE)
    out = io.BytesIO()
    image.save(out, format="png", compress_level=7)
    return out.getvalue()


def _stft_sizes(rate: int) -> tuple[int, int]:
    n_fft = 1 << max(6, int(round(np.log2(0.032 * rate))))
    return n_fft, n_fft // 4


def spectrogram_db(x: np.ndarray, rate: int) -> tuple[np.ndarray, float, float]:
    """``(power dB (freq, frames), seconds per frame, Hz per bin)`` of ``x`` ``(channels, time)`` (channel mean).

    Example:
        >>> s, dt, df = spectrogram_db(np.zeros((1, 16000), np.float32), 16000)
        >>> s.shape, dt, df
        ((257, 126), 0.008, 31.25)
    """
    mono = np.asarray(x, dtype=np.float64).mean(axis=0)
    n_fft, hop = _stft_sizes(rate)
    if mono.shape[0] < n_fft:
        mono = np.pad(mono, (0, n_fft - mono.shape[0]))
    frames = 1 + (mono.shape[0] - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(frames)[:, None]
    window = np.hanning(n_fft)
    spec = np.abs(np.fft.rfft(mono[idx] * window, axis=1)) ** 2 / (window ** 2).sum()
    return 10.0 * np.log10(spec.T + 1e-12), hop / rate, rate / n_fft


def _envelope(y: np.ndarray, columns: int = 600) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Min/max per column of the channels' samples (a waveform drawn at the picture's resolution)."""
    t = y.shape[-1]
    cols = max(1, min(columns, t))
    edges = np.linspace(0, t, cols + 1).astype(int)
    flat = y.reshape(-1, t)
    lo = np.minimum.reduceat(flat, edges[:-1], axis=1).min(axis=0)
    hi = np.maximum.reduceat(flat, edges[:-1], axis=1).max(axis=0)
    return edges[:-1], lo, hi


def _ticks(top: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values from 0 to ``top``."""
    if top <= 0:
        return [0.0]
    raw = top / count
    step = 10 ** np.floor(np.log10(raw))
    step *= next(m for m in (1, 2, 2.5, 5, 10) if m * step >= raw)
    return [round(k * step, 10) for k in range(int(top / step + 1e-9) + 1)]


class ExamplePainter:
    """Draws the picture of each example: a row per signal (clean first), waveform left, spectrogram right.

    The figure of a given row count is built once and its data replaced for each example: building the axes
    and their ticks costs more than drawing them, and a page has many examples of the same shape.
    """

    def __init__(self) -> None:
        self._figures: dict[int, tuple[Any, Any, list, Any]] = {}

    def _build(self, n: int):
        height = 1.45 * n + 0.45
        fig = _figure(10.0, height, layout=None)  # fixed layout: constrained layout would cost more than the rest
        fig.subplots_adjust(left=0.065, right=0.93, bottom=0.4 / height, top=1 - 0.22 / height, wspace=0.16,
                            hspace=0.36 * n / max(height - 0.6, 1))
        axes = fig.subplots(n, 2, squeeze=False, width_ratios=[1, 1.35])
        images = []
        for r in range(n):
            ax_w, ax_s = axes[r]
            ax_w.set_ylabel("amplitude", fontsize=8)
            ax_s.set_ylabel("kHz", fontsize=8)
            images.append(ax_s.imshow(np.zeros((2, 2)), origin="lower", aspect="auto", cmap="magma",
                                      interpolation="nearest"))
            for ax in (ax_w, ax_s):
                ax.tick_params(labelsize=7)
                if r == n - 1:
                    ax.set_xlabel("time (s)", fontsize=8)
        bar = fig.add_axes((0.945, 0.4 / height, 0.012, 1 - 0.62 / height))
        fig.colorbar(images[0], cax=bar)
        self._figures[n] = (fig, axes, images, bar)
        return self._figures[n]

    def png(self, rows: Sequence[tuple[str, np.ndarray]], rate: int) -> bytes:
        """The example's picture as PNG bytes.

        Args:
            rows: ``(title, samples (channels, time) float32)`` per signal.
            rate: Sample rate in Hz (time axes in seconds, frequency axis in kHz).
        """
        fig, axes, images, bar = self._figures.get(len(rows)) or self._build(len(rows))
        specs = [spectrogram_db(y, rate) for _, y in rows]
        vmax = max(float(s[0].max()) for s in specs)
        vmin = vmax - DYNAMIC_RANGE_DB
        peak = max(float(np.abs(y).max()) if y.size else 0.0 for _, y in rows) or 1.0
        seconds = max(y.shape[-1] for _, y in rows) / rate
        khz = rate / 2000.0
        time_ticks, freq_ticks = _ticks(seconds), _ticks(khz, 4)
        for r, ((title, y), (s, dt, df)) in enumerate(zip(rows, specs)):
            ax_w, ax_s = axes[r]
            for old in list(ax_w.collections):
                old.remove()
            pos, lo, hi = _envelope(y)
            ax_w.fill_between(pos / rate, lo, hi, color="#1f5fa8", linewidth=0.6, step="post")
            ax_w.set_xlim(0, seconds)
            ax_w.set_ylim(-1.05 * peak, 1.05 * peak)
            ax_w.set_yticks([-peak, 0, peak], [f"{-peak:.2g}", "0", f"{peak:.2g}"])
            ax_w.set_title(title, fontsize=9, loc="left")
            images[r].set_data(s)
            images[r].set_extent((0, s.shape[1] * dt, 0, s.shape[0] * df / 1000.0))
            images[r].set_clim(vmin, vmax)
            ax_s.set_xlim(0, seconds)
            ax_s.set_ylim(0, khz)
            ax_s.set_yticks(freq_ticks, [f"{v:g}" for v in freq_ticks])
            for ax in (ax_w, ax_s):  # time ticks on the bottom row only: ticks are most of the drawing time
                if r == len(rows) - 1:
                    ax.set_xticks(time_ticks, [f"{v:g}" for v in time_ticks])
                else:
                    ax.set_xticks([])
        bar.set_yticks([vmin, vmax - DYNAMIC_RANGE_DB / 2, vmax],
                       [f"{vmin:.0f}", f"{vmax - DYNAMIC_RANGE_DB / 2:.0f}", f"{vmax:.0f} dB"], fontsize=7)
        return png_bytes(fig)


def example_png(rows: Sequence[tuple[str, np.ndarray]], rate: int) -> bytes:
    """:meth:`ExamplePainter.png` of a one-off painter."""
    return ExamplePainter().png(rows, rate)


def histograms_png(values: Mapping[str, Sequence[float]], marks: Mapping[str, Sequence[float]] | None = None,
                   bins: int = 30) -> bytes:
    """Histograms of drawn parameters, one panel each (``marks``: the page's own examples, as ticks below)."""
    names = list(values)
    cols = min(3, max(1, len(names)))
    nrows = -(-len(names) // cols)
    fig = _figure(3.3 * cols, 2.2 * nrows)
    axes = fig.subplots(nrows, cols, squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        if i >= len(names):
            ax.set_axis_off()
            continue
        name = names[i]
        v = np.asarray(values[name], dtype=np.float64)
        v = v[np.isfinite(v)]
        ax.hist(v, bins=bins, color="#4a7fc1", edgecolor="white", linewidth=0.4)
        own = np.asarray((marks or {}).get(name, []), dtype=np.float64)
        if own.size:
            ax.plot(own, np.zeros_like(own), "|", color="#d1495b", markersize=14, markeredgewidth=2,
                    label="this page", clip_on=False)
            ax.legend(fontsize=7, loc="upper right")
        ax.set_title(f"{name} (n={v.size})", fontsize=9)
        ax.tick_params(labelsize=7)
    return png_bytes(fig)


def line_png(series: Mapping[str, tuple[Sequence[Any], Sequence[float]]], title: str, xlabel: str, ylabel: str,
             bands: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None = None,
             xticks: Sequence[str] | None = None, ylim: tuple[float, float] | None = None,
             size: tuple[float, float] = (6.4, 3.6)) -> bytes:
    """Lines (one per series: ``name -> (x, y)``), with optional shaded bands ``name -> (lo, hi)``."""
    fig = _figure(*size)
    ax = fig.add_subplot()
    for name, (x, y) in series.items():
        line, = ax.plot(x, y, marker="o", markersize=3, label=name)
        if bands and name in bands:
            lo, hi = bands[name]
            ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.15, linewidth=0)
    if xticks is not None:
        ax.set_xticks(range(len(xticks)), xticks)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.grid(alpha=0.3)
    ax.tick_params(labelsize=8)
    if series:
        ax.legend(fontsize=7)
    return png_bytes(fig)


def confusion_png(matrix: Sequence[Sequence[int]], labels: Sequence[str], title: str) -> bytes:
    """A confusion matrix (rows: true label, columns: predicted), each row normalised, counts written in."""
    m = np.asarray(matrix, dtype=np.float64)
    share = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    n = len(labels)
    fig = _figure(1.2 + 0.42 * n, 1.0 + 0.38 * n)
    ax = fig.add_subplot()
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(n), labels, fontsize=7)
    for i in range(n):
        for j in range(n):
            if m[i, j]:
                ax.text(j, i, str(int(m[i, j])), ha="center", va="center", fontsize=6,
                        color="white" if share[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted", fontsize=8)
    ax.set_ylabel("true", fontsize=8)
    ax.set_title(title, fontsize=9)
    return png_bytes(fig)


def curves_png(panels: Mapping[str, Mapping[str, tuple[Sequence[float], Sequence[float], Sequence[float]]]],
               xticks: Sequence[str], ylabel: str = "accuracy (%)", cols: int = 3,
               ylim: tuple[float, float] = (0, 100)) -> bytes:
    """Small multiples: one panel per title, one line per run ``name -> (y, lo, hi)`` over the ``xticks``
    positions, each with its interval as a shaded band (runs keep their colour across panels)."""
    titles = list(panels)
    cols = max(1, min(cols, len(titles)))
    nrows = -(-len(titles) // cols)
    fig = _figure(3.6 * cols if len(titles) > 1 else 6.4, 2.7 * nrows if len(titles) > 1 else 3.8)
    axes = fig.subplots(nrows, cols, squeeze=False)
    colours: dict[str, str] = {}
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#7f7f7f"]
    x = list(range(len(xticks)))
    for i, ax in enumerate(axes.ravel()):
        if i >= len(titles):
            ax.set_axis_off()
            continue
        for name, (y, lo, hi) in panels[titles[i]].items():
            colour = colours.setdefault(name, palette[len(colours) % len(palette)])
            ax.plot(x[:len(y)], y, marker="o", markersize=3, color=colour, label=name)
            ax.fill_between(x[:len(y)], lo, hi, color=colour, alpha=0.15, linewidth=0)
        ax.set_xticks(x, xticks, fontsize=7)
        ax.set_ylim(*ylim)
        ax.set_title(titles[i], fontsize=9)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if i == 0:
            ax.legend(fontsize=7, loc="lower left")
    return png_bytes(fig)


def training_png(histories: Mapping[str, Mapping[str, Sequence[float]]]) -> bytes:
    """Training curves per run: loss, accuracy (train solid, validation dashed) and the curriculum's clean share,
    against the epoch (``histories[run]`` holds ``epoch``, ``train_loss``, ``val_loss``, ``train_acc``,
    ``val_acc``, ``clean_share`` lists; missing ones are left out)."""
    fig = _figure(11.0, 3.0)
    axes = fig.subplots(1, 3, squeeze=False)[0]
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#7f7f7f"]
    for k, (name, h) in enumerate(histories.items()):
        colour = palette[k % len(palette)]
        epochs = h.get("epoch", [])
        for ax, keys, scale in ((axes[0], ("train_loss", "val_loss"), 1), (axes[1], ("train_acc", "val_acc"), 100),
                                (axes[2], ("clean_share",), 100)):
            for key, style in zip(keys, ("-", "--")):
                values = h.get(key)
                if values and len(values) == len(epochs):
                    ax.plot(epochs, [scale * v for v in values], style, color=colour, linewidth=1.2,
                            label=f"{name} {key.split('_')[0]}" if key != "clean_share" else name)
    for ax, title, ylabel in ((axes[0], "loss (train solid, validation dashed)", "loss"),
                              (axes[1], "accuracy (train solid, validation dashed)", "%"),
                              (axes[2], "clean share of training batches", "%")):
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=6)
    axes[2].set_ylim(-5, 105)
    return png_bytes(fig)
