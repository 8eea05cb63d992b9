"""The robustness report as a page (``audionoise evaluate ... --html REPORT_DIR``).

From the results of :func:`audionoise.kws.evaluate.evaluate` (or :func:`audionoise.robustness.evaluation.evaluate_model`
per run): the accuracy table with 95% Wilson intervals, accuracy vs SNR (one curve per run, its interval as a
band), the same per noise type (each clip's noisy results under the noise it drew, intervals from those clips),
the paired comparison (McNemar's exact test on the same clips), confusion matrices (clean and the hardest
condition, or 0 dB), the training curves of each run (``metrics.json``: loss and accuracy per epoch, the
curriculum's clean share) and a few misclassified test clips to listen to, clean and noisy
(:func:`audionoise.kws.evaluate.listening_clips`). Self-contained like every page (:mod:`audionoise.pages.html`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from audionoise.pages.html import Page, esc, table
from audionoise.robustness.stats import wilson_interval

__all__ = ["report_page", "training_history", "write_report"]

#: result fields saved in report.json (the per-clip lists are what the page needs, not what a reader wants)
_SAVED = ("clean", "snr", "n", "ci95", "by_noise", "by_noise_n", "labels", "run", "subset", "noise", "adapted_bn")


def training_history(run: str | os.PathLike) -> dict[str, list[float]] | None:
    """Per-epoch ``epoch``, ``train_loss``, ``val_loss``, ``train_acc``, ``val_acc``, ``clean_share`` lists from a
    run folder's ``metrics.json`` (``None`` when there is none or it is unreadable)."""
    path = Path(run)
    path = path / "metrics.json" if path.is_dir() else path.with_name("metrics.json")
    try:
        doc = json.loads(path.read_text())
        epochs = doc["epochs"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    keys = ("epoch", "train_loss", "val_loss", "train_acc", "val_acc", "clean_share")
    out = {k: [float(e[k]) for e in epochs] for k in keys if epochs and all(k in e for e in epochs)}
    if "clean_share" in out and (doc.get("config") or {}).get("augment") == "none":
        out["clean_share"] = [1.0] * len(epochs)  # no augmentation: every batch is clean (metrics record 0)
    return out


def _conditions(results: Mapping[str, Mapping]) -> list[str]:
    conds: list[str] = []
    for r in results.values():
        conds += [c for c in r["snr"] if c not in conds]
    return sorted(conds, key=float, reverse=True)


def _pct(v: float) -> str:
    return f"{100 * v:.1f}"


def _accuracy_table(results: Mapping[str, Mapping], conds: list[str]) -> str:
    rows = []
    for name, r in results.items():
        row = [name]
        for c in ["clean", *conds]:
            acc = r["clean"] if c == "clean" else r["snr"].get(c)
            ci = r.get("ci95", {}).get(c)
            row.append("-" if acc is None else f"{_pct(acc)} [{_pct(ci[0])}, {_pct(ci[1])}]" if ci else _pct(acc))
        rows.append(row + [str(r["n"])])
    header = ["run", "clean", *[f"{c} dB" for c in conds], "n"]
    return table(header, rows, [False] + [True] * (len(header) - 1))


def _curve(r: Mapping, conds: list[str]) -> tuple[list[float], list[float], list[float]]:
    ys, lo, hi = [100 * r["clean"]], [100 * r["ci95"]["clean"][0]], [100 * r["ci95"]["clean"][1]]
    for c in conds:
        if c in r["snr"]:
            ys.append(100 * r["snr"][c])
            lo.append(100 * r["ci95"][c][0])
            hi.append(100 * r["ci95"][c][1])
    return ys, lo, hi


def _noise_panels(results: Mapping[str, Mapping], conds: list[str]) -> dict[str, dict[str, tuple]]:
    """Per noise type: each run's accuracy over the clips that drew it, Wilson intervals from those clips
    (the clean point is the run's clean accuracy on the same clips)."""
    panels: dict[str, dict[str, tuple]] = {}
    for name, r in results.items():
        correct, noise_of = r.get("correct"), r.get("noise_of")
        for noise, accs in sorted(r.get("by_noise", {}).items()):
            n = int(r["by_noise_n"][noise])
            if correct is not None and noise_of is not None:
                rows = [i for i, k in enumerate(noise_of) if k == noise]
                clean_k = sum(correct["clean"][i] for i in rows)
            else:
                clean_k = round(r["clean"] * n)
            ks = [clean_k] + [round(accs[c] * n) for c in conds if c in accs]
            cis = [wilson_interval(k, n) for k in ks]
            panels.setdefault(f"{noise} (n={n})", {})[name] = (
                [100 * k / max(n, 1) for k in ks], [100 * a for a, _ in cis], [100 * b for _, b in cis])
    return panels


def _paired_table(paired: Mapping[str, Mapping]) -> str:
    rows = []
    for pair, conds in paired.items():
        for c, t in conds.items():
            verdict = "significant" if t["p"] < 0.05 else "not significant"
            rows.append([pair, c if c == "clean" else f"{c} dB", f"{100 * t['delta']:+.1f}", str(t["b"]),
                         str(t["c"]), f"{t['p']:.3g}", verdict])
    return table(["comparison", "condition", "difference (points)", "b: only reference right",
                  "c: only this run right", "McNemar p", "at 5%"], rows,
                 [False, False, True, True, True, True, False])


def _wav(x: np.ndarray, rate: int) -> bytes:
    from audionoise.io import _wav as wav
    from audionoise.offline import clipping

    y, _ = clipping.limit(np.ascontiguousarray(x, dtype=np.float32), "PCM_16", "normalize", "listening clip")
    frames = np.ascontiguousarray(y.T)
    return wav.header(rate, frames.shape[1], frames.shape[0]) + wav.encode_pcm16(frames)


def report_page(results: Mapping[str, Mapping], paired: Mapping[str, Mapping] | None = None,
                histories: Mapping[str, Mapping[str, list[float]] | None] | None = None,
                listening: Sequence[Mapping[str, Any]] = (), condition: str = "0",
                title: str = "audionoise robustness report") -> Page:
    """The report's :class:`~audionoise.pages.html.Page` (see the module docstring for its sections).

    Args:
        results: ``{run name: result}`` as :func:`audionoise.kws.evaluate.evaluate` returns it.
        paired: :func:`audionoise.robustness.evaluation.compare` of the results (``None``: one run, no comparison).
        histories: ``{run name: training_history(run)}``.
        listening: :func:`audionoise.kws.evaluate.listening_clips` rows.
        condition: The SNR condition of the listening clips (a key of ``result["snr"]``).
    """
    from audionoise.pages import images

    page = Page(title)
    conds = _conditions(results)
    first = next(iter(results.values()))
    page.add(f"<h1>{esc(title)}</h1>")
    page.add(f"<p class=\"muted\">{len(results)} run(s) on {first['n']} {esc(first.get('subset', 'test'))} clips; "
             f"noise: {esc(first.get('noise') or 'none')}. Every clip meets the same noise window at every SNR and "
             "in every run (paired comparison). Intervals: 95% Wilson.</p>")
    page.add("<h2 id=\"accuracy\">Accuracy</h2>")
    page.add(_accuracy_table(results, conds))
    ticks = ["clean", *[f"{c} dB" for c in conds]]
    page.add(page.image("accuracy.png", images.curves_png(
        {"accuracy vs SNR (all clips)": {n: _curve(r, conds) for n, r in results.items()}}, ticks),
        "accuracy vs SNR, one curve per run, 95% intervals as bands"))
    panels = _noise_panels(results, conds)
    if panels:
        page.add("<h3>Per noise type</h3><p class=\"muted\">Each panel: the clips that drew that noise (clean point: "
                 "the same clips without noise).</p>")
        page.add(page.image("accuracy_by_noise.png", images.curves_png(panels, ticks),
                            "accuracy vs SNR per noise type"))
    if paired:
        page.add("<h2 id=\"comparison\">Paired comparison</h2>")
        page.add("<p class=\"muted\">McNemar's exact test on the discordant clips of each condition (b: only the "
                 "reference run right, c: only the other run right).</p>")
        page.add(_paired_table(paired))
    page.add("<h2 id=\"confusion\">Confusion matrices</h2>")
    for k, (name, r) in enumerate(results.items()):
        if not r.get("confusion") or not r.get("labels"):
            continue
        hard = condition if condition in r["snr"] else (min(r["snr"], key=float) if r["snr"] else None)
        cells = [page.image(f"confusion_{k}_clean.png", images.confusion_png(
            r["confusion"]["clean"], r["labels"], f"{name}: clean"), f"confusion matrix of {name}, clean")]
        if hard is not None:
            cells.append(page.image(f"confusion_{k}_{hard}dB.png", images.confusion_png(
                r["confusion"][hard], r["labels"], f"{name}: {hard} dB"), f"confusion matrix of {name} at {hard} dB"))
        page.add(f"<h3>{esc(name)}</h3><div class=\"players\">{''.join(cells)}</div>")
    known = {n: h for n, h in (histories or {}).items() if h}
    page.add("<h2 id=\"training\">Training curves</h2>")
    if known:
        page.add(page.image("training.png", images.training_png(known), "training curves of each run"))
    else:
        page.add("<p class=\"muted\">No run folder with a metrics.json.</p>")
    if listening:
        page.add(f"<h2 id=\"listen\">Misclassified at {esc(condition)} dB: listen</h2>")
        page.add(f"<p class=\"muted\">Test clips the last run got wrong at {esc(condition)} dB, clean and with the "
                 "noise it was tested with.</p>")
        for i, clip in enumerate(listening):
            rate = int(clip["sample_rate"])
            players = [page.audio(f"listen_{i:02d}_clean.wav", _wav(clip["clean"], rate), "clean"),
                       page.audio(f"listen_{i:02d}_noisy.wav", _wav(clip["noisy"], rate),
                                  f"{condition} dB, noise {clip['noise']}")]
            preds = ", ".join(f"{n}: {p}{' (right)' if p == clip['label'] else ''}"
                              for n, p in clip["predictions"].items())
            page.add(f"<div class=\"example\"><h3>{esc(clip['key'])}</h3><p>word <b>{esc(clip['label'])}</b>; "
                     f"heard as {esc(preds)}</p><div class=\"players\">{''.join(players)}</div></div>")
    return page


def write_report(folder: str | os.PathLike, results: Mapping[str, Mapping],
                 paired: Mapping[str, Mapping] | None = None, runs: Mapping[str, str | os.PathLike] | None = None,
                 listening: Sequence[Mapping[str, Any]] = (), condition: str = "0") -> Path:
    """Write ``folder/index.html``, its PNG/WAV files and ``report.json``; the page's path.

    ``runs``: ``{run name: run folder}`` for the training curves (default: each result's ``"run"``).
    """
    runs = dict(runs) if runs is not None else {n: r.get("run") for n, r in results.items()}
    histories = {n: training_history(r) for n, r in runs.items() if r is not None}
    page = report_page(results, paired, histories, listening, condition)
    doc = {"runs": {n: {k: r[k] for k in _SAVED if k in r} for n, r in results.items()}, "paired": paired,
           "listening": [{k: v for k, v in c.items() if k not in ("clean", "noisy")} for c in listening]}
    return page.save(folder, doc, "report.json")
