"""PNG plots of evaluation results: accuracy vs SNR (several runs on one plot) and confusion matrices.

Figures are drawn with matplotlib's object-oriented API on an Agg canvas, so nothing here touches pyplot's
global state or needs a display.

Example:
    >>> res = {"clean-trained": {"clean": 0.97, "snr": {"10": 0.8, "0": 0.4}, "n": 100}}
    >>> plot_accuracy_vs_snr(res, "/tmp/acc.png")  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from audionoise.runtime.extras import require

require("matplotlib", extra="plot", purpose="plotting (audionoise evaluate --plot)")
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from audionoise.io.files import atomic_write

__all__ = ["plot_accuracy_by_noise", "plot_accuracy_vs_snr", "plot_confusion", "plot_frontier"]


def _save(fig: Figure, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=120))
    return path


def plot_accuracy_vs_snr(results: Mapping[str, Mapping], path: str | os.PathLike, title: str | None = None) -> Path:
    """Accuracy (%) against SNR for each run; the clean accuracy is the left-most point.

    Where a result has ``ci95`` (``{"clean": [lo, hi], "20": [lo, hi], ...}``), its 95% interval is a shaded band.

    Args:
        results: ``{run name: {"clean": acc, "snr": {"20": acc, ...}, "n": N}}`` (accuracies in [0, 1]).
        path: PNG file to write.
        title: Figure title.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    conds: list[str] = []
    for r in results.values():
        conds += [c for c in r["snr"] if c not in conds]
    conds.sort(key=float, reverse=True)
    ticks = ["clean"] + [f"{c} dB" for c in conds]
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.add_subplot()
    for name, r in results.items():
        xs = [0] + [1 + conds.index(c) for c in r["snr"]]
        ys = [100 * r["clean"]] + [100 * r["snr"][c] for c in r["snr"]]
        order = sorted(range(len(xs)), key=xs.__getitem__)
        line, = ax.plot([xs[i] for i in order], [ys[i] for i in order], marker="o", label=f"{name} (n={r['n']})")
        ci = r.get("ci95")
        if ci:
            bands = [ci["clean"]] + [ci[c] for c in r["snr"]]
            ax.fill_between([xs[i] for i in order], [100 * bands[i][0] for i in order],
                            [100 * bands[i][1] for i in order], color=line.get_color(), alpha=0.15, linewidth=0)
    ax.set_xticks(range(len(ticks)), ticks)
    ax.set_xlabel("test condition (SNR of added noise)")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    ax.set_title(title or "Keyword-spotting accuracy vs SNR")
    return _save(fig, path)


def plot_accuracy_by_noise(results: Mapping[str, Mapping], path: str | os.PathLike,
                           title: str | None = None) -> Path:
    """Accuracy (%) against SNR per noise type: one panel per run, one line per noise clip (``by_noise``).

    Each line is the clips that drew that noise (``by_noise_n`` of them, in the legend); the run's clean
    accuracy is the left-most point of every line.
    """
    runs = [(name, r) for name, r in results.items() if r.get("by_noise")]
    fig = Figure(figsize=(5.2 * max(len(runs), 1), 4.2), layout="constrained")
    for k, (name, r) in enumerate(runs):
        ax = fig.add_subplot(1, len(runs), k + 1)
        conds = sorted(r["snr"], key=float, reverse=True)
        for noise, table in r["by_noise"].items():
            ys = [100 * r["clean"]] + [100 * table[c] for c in conds]
            ax.plot(range(len(ys)), ys, marker="o", label=f"{noise} (n={r.get('by_noise_n', {}).get(noise, '?')})")
        ax.set_xticks(range(len(conds) + 1), ["clean"] + [f"{c} dB" for c in conds])
        ax.set_ylim(0, 100)
        ax.set_ylabel("accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower left", fontsize=7)
        ax.set_title(name, fontsize=9)
    fig.suptitle(title or "Accuracy vs SNR per noise type")
    return _save(fig, path)


def plot_frontier(reference: Mapping, candidates: Mapping[str, Mapping], chosen: str | None,
                  path: str | os.PathLike, title: str | None = None) -> Path:
    """Clean vs mean noisy accuracy (%) per candidate, the clean-trained reference and the chosen one marked.

    ``reference`` and each candidate are ``{"clean": acc, "noisy": acc}`` (in [0, 1]).
    """
    fig = Figure(figsize=(5.6, 4.4), layout="constrained")
    ax = fig.add_subplot()
    ax.scatter([100 * reference["noisy"]], [100 * reference["clean"]], marker="s", color="black",
               label="clean-trained reference")
    for name, c in candidates.items():
        ax.scatter([100 * c["noisy"]], [100 * c["clean"]], marker="*" if name == chosen else "o",
                   s=160 if name == chosen else 40)
        ax.annotate(name + (" (chosen)" if name == chosen else ""), (100 * c["noisy"], 100 * c["clean"]),
                    textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.axhline(100 * reference["clean"] - 0.5, color="grey", linestyle="--", linewidth=0.8)
    ax.set_xlabel("mean noisy validation accuracy (%)")
    ax.set_ylabel("clean validation accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    ax.set_title(title or "Noise selection: clean vs noisy (dashed: 0.5-point clean cost)")
    return _save(fig, path)


def plot_confusion(
    matrices: Mapping[str, Sequence[Sequence[int]]], labels: Sequence[str], path: str | os.PathLike,
    title: str | None = None,
) -> Path:  # fmt: skip
    """Row-normalised confusion matrices side by side, one panel per condition (e.g. clean and 0 dB).

    Args:
        matrices: ``{condition: counts}`` with rows = true class, columns = predicted class.
        labels: Class names.
        path: PNG file to write.
        title: Figure title.
    """
    n = len(labels)
    size = max(3.5, 0.32 * n + 1.5)
    fig = Figure(figsize=(size * len(matrices), size), layout="constrained")
    for k, (cond, counts) in enumerate(matrices.items()):
        ax = fig.add_subplot(1, len(matrices), k + 1)
        rows = [[c / max(sum(row), 1) for c in row] for row in counts]
        ax.imshow(rows, vmin=0.0, vmax=1.0, cmap="Blues")
        ax.set_xticks(range(n), labels, rotation=90, fontsize=7)
        ax.set_yticks(range(n), labels, fontsize=7)
        ax.set_xlabel("predicted")
        if k == 0:
            ax.set_ylabel("true")
        acc = sum(counts[i][i] for i in range(n)) / max(sum(map(sum, counts)), 1)
        ax.set_title(f"{cond if cond == 'clean' else cond + ' dB'}: {100 * acc:.1f}%", fontsize=9)
        if n <= 15:
            for i in range(n):
                for j in range(n):
                    if counts[i][j]:
                        ax.text(j, i, str(counts[i][j]), ha="center", va="center", fontsize=6,
                                color="white" if rows[i][j] > 0.5 else "black")
    if title:
        fig.suptitle(title)
    return _save(fig, path)
