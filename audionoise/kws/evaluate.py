"""Robustness evaluation of keyword-spotting runs: :mod:`audionoise.robustness.evaluation` applied to a trained run.

A run's model takes log-Mel features; :class:`audionoise.robustness.evaluation.FeatureModel` puts the run's frontend in
front of it, so the task-independent core evaluates it like any ``model(waveform, lengths) -> logits``. The test
clips are the run's :class:`~audionoise.kws.data.SpeechCommands` subset, keyed by their path relative to the
data root: the same clip meets the same noise window at every SNR and in every evaluated run (see
:func:`audionoise.robustness.evaluation.noise_choice`), results do not depend on batch size or device, and runs can be
compared pairwise (:func:`audionoise.robustness.evaluation.compare`).

Example:
    >>> res = evaluate_run("runs/quickstart/augmented", "data/generated/kws",
    ...                    noise="data/generated/noise_eval", snrs=[10, 0])  # doctest: +SKIP
    >>> res["clean"], res["ci95"]["clean"]  # doctest: +SKIP
    (0.97, [0.95, 0.98])
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from audionoise.robustness.evaluation import DEFAULT_SNRS, FeatureModel, dataset_keys, evaluate_model, noise_windows
from audionoise.kws.checkpoint import load_model
from audionoise.kws.model import make_frontend

__all__ = ["DEFAULT_SNRS", "evaluate", "evaluate_run", "format_table", "listening_clips", "noise_windows",
           "run_names"]


def evaluate_run(
    run: str | os.PathLike,
    data: str | os.PathLike,
    *,
    subset: str = "testing",
    noise: str | os.PathLike | None = None,
    snrs: Sequence[float] = DEFAULT_SNRS,
    seed: int = 0,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    checkpoint: str = "best",
    num_workers: int = 0,
    progress: bool = False,
    bank=None,
    skip_bad: bool = False,
    adapt_bn: bool = False,
) -> dict[str, Any]:
    """Accuracy of one trained run, clean and at each SNR of ``snrs`` with noise from ``noise``.

    Args:
        run: Run folder (or ``.pt`` checkpoint) written by ``audionoise train``.
        data: Speech-Commands-layout folder; the run's labels (and clip settings) are used.
        subset: ``"testing"`` (default), ``"validation"`` or ``"training"``.
        noise: Folder of noise recordings; ``None`` evaluates clean only.
        snrs: SNRs in dB (ignored without ``noise``).
        seed: Seed of the per-clip noise choice and of the test set's silence/unknown examples (the same for
            every run, so runs trained with different seeds meet the same test clips).
        batch_size: Clips per forward pass.
        device: Evaluation device (``"auto"``: CUDA when available).
        checkpoint: ``"best"`` or ``"last"``.
        num_workers: DataLoader workers.
        progress: Show a progress bar.
        bank: An already built ``NoiseBank`` to use instead of loading ``noise``.
        skip_bad: Leave out test files whose header shows they are unreadable (else raise); a file that fails
            to decode later is always left out and listed in ``unreadable``.
        adapt_bn: AdaBN test-time adaptation per condition (:func:`audionoise.robustness.evaluation.adapt_batchnorm`).

    Returns:
        The dict of :func:`audionoise.robustness.evaluation.evaluate_model` (``clean``, ``snr``, ``n``, ``ci95``,
        ``by_noise``, ``confusion``, ...) plus ``run``, ``subset``, ``noise`` and ``bad_files`` (``path: reason``
        lines of the files left out after the header check).

    Raises:
        audionoise.corpora.scan.BadFilesError: unreadable test files (all listed) and not ``skip_bad``.
    """
    from audionoise.kws.data import SpeechCommands

    if str(device) == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    model, saved = load_model(run, device, checkpoint)
    labels = list(saved["labels"])
    tc = saved.get("train_config", {})
    ds = SpeechCommands(
        data, subset, labels=labels, clip_seconds=tc.get("clip_seconds", 1.0),
        sample_rate=model.config.sample_rate, silence_fraction=tc.get("silence_fraction", 0.1),
        unknown_fraction=tc.get("unknown_fraction", 0.1), seed=seed, skip_unreadable=True,
    )  # fmt: skip
    bad = ds.check_files()
    if bad and not skip_bad:
        from audionoise.corpora.scan import BadFilesError

        raise BadFilesError(bad, f"{subset} set of {data}", "fix or remove them, or pass --skip-bad to evaluate "
                            "without them")
    ds.exclude(b.path for b in bad)
    if ds.labels != labels:  # pragma: no cover - SpeechCommands keeps an explicit label list as given
        raise ValueError(f"labels of {data!r} ({ds.labels}) differ from the run's ({labels})")
    net = FeatureModel(make_frontend(model.config).to(device), model).eval()
    res = evaluate_model(net, ds, noise=bank if bank is not None else noise, snrs=snrs if (noise or bank) else [],
                         seed=seed, sample_rate=model.config.sample_rate, labels=labels,
                         keys=dataset_keys(ds.files, ds.root), batch_size=batch_size, device=device,
                         num_workers=num_workers, progress=progress, desc=f"evaluate {Path(run).name}",
                         adapt_bn=adapt_bn)
    return {**res, "run": str(run), "subset": subset, "noise": None if noise is None else str(noise),
            "bad_files": [b.line() for b in bad]}


def run_names(runs: Sequence[str | os.PathLike]) -> list[str]:
    """Short unique display names for run folders (folder name, with parents added to break ties).

    Example:
        >>> run_names(["a/clean", "b/clean", "c/augmented"])
        ['a/clean', 'b/clean', 'augmented']
    """
    parts = [Path(r).resolve().parts for r in runs]
    names = []
    for p in parts:
        depth = 1
        while depth < len(p) and sum(q[-depth:] == p[-depth:] for q in parts) > 1:
            depth += 1
        names.append("/".join(p[-depth:]))
    return names


def evaluate(runs: Sequence[str | os.PathLike], data: str | os.PathLike, **kwargs: Any) -> dict[str, dict]:
    """:func:`evaluate_run` for several runs (the noise bank is loaded once); ``{name: result}``."""
    noise = kwargs.get("noise")
    if noise is not None and kwargs.get("bank") is None:
        from audionoise import NoiseBank

        sample_rates = {load_model(r, "cpu", kwargs.get("checkpoint", "best"))[0].config.sample_rate for r in runs}
        if len(sample_rates) == 1:
            kwargs["bank"] = NoiseBank.from_source(noise, sample_rates.pop())
    return {name: evaluate_run(run, data, **kwargs) for name, run in zip(run_names(runs), runs)}


def format_table(results: dict[str, dict]) -> str:
    """A plain-text accuracy table: one row per run, columns clean and each SNR (in %).

    Example:
        >>> print(format_table({"m": {"clean": 0.975, "snr": {"0": 0.5}, "n": 200}}))
        run  clean   0 dB    n
        m    97.5%  50.0%  200
    """
    conds = []
    for r in results.values():
        for c in r["snr"]:
            if c not in conds:
                conds.append(c)
    header = ["run", "clean"] + [f"{c} dB" for c in conds] + ["n"]
    rows = [[name, f"{100 * r['clean']:.1f}%"]
            + [f"{100 * r['snr'][c]:.1f}%" if c in r["snr"] else "-" for c in conds]
            + [str(r["n"])] for name, r in results.items()]
    widths = [max(len(row[i]) for row in [header] + rows) for i in range(len(header))]
    lines = []
    for row in [header] + rows:
        cells = [row[0].ljust(widths[0])] + [cell.rjust(w + 1) for cell, w in zip(row[1:], widths[1:])]
        lines.append(" ".join(cells).rstrip())
    return "\n".join(lines)


def listening_clips(results: dict[str, dict], data: str | os.PathLike, noise: str | os.PathLike, *,
                    condition: str = "0", count: int = 4, seed: int = 0, subset: str = "testing",
                    checkpoint: str = "best") -> list[dict[str, Any]]:
    """Up to ``count`` test clips the last run of ``results`` got wrong in ``condition``, clean and noisy, to listen to.

    The clips are rebuilt exactly as :func:`evaluate_run` fed them (the run's :class:`SpeechCommands` item, its
    noise window from ``(seed, key)``, :func:`audionoise.functional.mix_at_snr` over the valid samples), chosen
    in a seeded order among the misclassified word clips (silence examples have no file).

    Returns:
        ``[{"key", "label", "noise", "sample_rate", "clean" (channels, time) float32 NumPy, "noisy",
        "predictions": {run: label}}]``.
    """
    import random

    from audionoise import NoiseBank
    from audionoise.kernels.seeds import derive_seed
    from audionoise.functional import mix_at_snr
    from audionoise.kws.data import SpeechCommands

    names = list(results)
    last = results[names[-1]]
    if condition not in last.get("correct", {}) or "predictions" not in last:
        return []
    model, saved = load_model(last["run"], "cpu", checkpoint)
    labels, rate = list(saved["labels"]), model.config.sample_rate
    tc = saved.get("train_config", {})
    ds = SpeechCommands(data, subset, labels=labels, clip_seconds=tc.get("clip_seconds", 1.0), sample_rate=rate,
                        silence_fraction=tc.get("silence_fraction", 0.1),
                        unknown_fraction=tc.get("unknown_fraction", 0.1), seed=seed, skip_unreadable=True)
    index = {k: i for i, k in enumerate(dataset_keys(ds.files, ds.root))}
    wrong = [j for j, (k, ok) in enumerate(zip(last["keys"], last["correct"][condition]))
             if not ok and not k.startswith("#") and k in index]
    random.Random(derive_seed(seed, "listening-clips", condition)).shuffle(wrong)
    chosen = sorted(wrong[:count], key=lambda j: last["keys"][j])
    if not chosen:
        return []
    bank = NoiseBank.from_source(noise, rate)
    out = []
    for j in chosen:
        key = last["keys"][j]
        x, length, target = ds[index[key]]
        x = x.reshape(1, 1, -1) if x.dim() == 1 else x.reshape(1, x.shape[-2] if x.dim() > 1 else 1, -1)
        n = noise_windows(bank, [key], x.shape[-1], seed)[:, None, :]
        y = mix_at_snr(x, n, float(condition), torch.tensor([int(length)]))
        out.append({"key": key, "label": labels[int(target)], "noise": last["noise_of"][j], "sample_rate": rate,
                    "clean": x[0, :, :int(length)].numpy().copy(), "noisy": y[0, :, :int(length)].numpy().copy(),
                    "predictions": {name: labels[r["predictions"][condition][r["keys"].index(key)]]
                                    for name, r in results.items() if key in r["keys"]}})
    return out
