"""Robustness evaluation: accuracy on clean test clips and on the same clips mixed with noise at fixed SNRs.

For every clip the noise window is chosen once from a seed derived from ``(seed, clip path)`` (clip and offset
in a :class:`~audionoise.transforms.NoiseBank` of the ``noise`` folder), and mixed at each SNR with
:func:`audionoise.functional.mix_at_snr`, so the SNR is exact over the clip's valid samples:

.. math::

    y = x + g\\,n, \\qquad g = \\sqrt{\\frac{P_x}{P_n\\,10^{\\mathrm{SNR}/10}}}.

The same clip therefore meets the same noise at every SNR and in every evaluated run, and results do not
depend on batch size or device. Accuracy is the share of clips whose arg-max class is the label.

Example:
    >>> res = evaluate_run("runs/quickstart/augmented", "data/generated/kws",
    ...                    noise="data/generated/noise_eval", snrs=[10, 0])  # doctest: +SKIP
    >>> sorted(res)  # doctest: +SKIP
    ['clean', 'confusion', 'labels', 'n', 'noise', 'run', 'snr', 'subset']
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from audionoise._seed import derive_seed
from audionoise.functional import mix_at_snr
from audionoise.kws.checkpoint import load_model
from audionoise.kws.features import LogMel
from audionoise.kws.model import KeywordSpotter, make_frontend
from audionoise.progress import progress as progress_bar

__all__ = ["DEFAULT_SNRS", "evaluate", "evaluate_run", "format_table", "noise_windows", "run_names"]

DEFAULT_SNRS = (20.0, 10.0, 5.0, 0.0, -5.0)


def noise_windows(bank, keys: Sequence[str], length: int, seed: int = 0) -> Tensor:
    """One noise window ``(len(keys), length)`` per clip key, chosen deterministically from ``(seed, key)``.

    Clip ``k ~ U{0..len(bank)-1}`` and offset ``o ~ U{0..len_k-1}`` are drawn from a generator seeded by a
    hash of ``(seed, key)``; windows loop short noise clips (see ``NoiseBank.windows``).

    Example:
        >>> from audionoise import NoiseBank
        >>> bank = NoiseBank.from_tensors([torch.randn(8000)], sample_rate=16000)
        >>> noise_windows(bank, ["yes/a.wav", "no/b.wav"], 16000).shape
        torch.Size([2, 16000])
    """
    clips, offsets = [], []
    for key in keys:
        g = torch.Generator().manual_seed(derive_seed(seed, "noise-window", key))
        k = int(torch.randint(len(bank), (), generator=g))
        clips.append(k)
        offsets.append(int(torch.randint(int(bank.lengths[k]), (), generator=g)))
    return bank.windows(torch.tensor(clips), torch.tensor(offsets), length)


def _clip_keys(ds, start: int, stop: int) -> list[str]:
    files = getattr(ds, "files", None)
    keys = []
    for i in range(start, stop):
        f = files[i] if files is not None else None
        if f is None:
            keys.append(f"#{i}")
        else:
            try:
                keys.append(Path(f).relative_to(ds.root).as_posix())
            except ValueError:
                keys.append(Path(f).as_posix())
    return keys


def _condition_names(snrs: Sequence[float]) -> list[str]:
    return [f"{float(s):g}" for s in snrs]


@torch.no_grad()
def _predict(frontend: LogMel, model: KeywordSpotter, x: Tensor, lengths: Tensor) -> Tensor:
    return model(frontend(x, lengths)[0]).argmax(1)


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

    Returns:
        ``{"clean": acc, "snr": {"20": acc, ...}, "n": N, "run", "subset", "noise", "labels",
        "confusion": {"clean": [[...]], "20": [[...]], ...}}`` with accuracies in [0, 1] and confusion rows =
        true class, columns = predicted class.
    """
    from audionoise.kws.data import SpeechCommands, collate

    if str(device) == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    model, saved = load_model(run, device, checkpoint)
    frontend = make_frontend(model.config).to(device)
    labels = list(saved["labels"])
    tc = saved.get("train_config", {})
    ds = SpeechCommands(
        data, subset, labels=labels, clip_seconds=tc.get("clip_seconds", 1.0),
        sample_rate=model.config.sample_rate, silence_fraction=tc.get("silence_fraction", 0.1),
        unknown_fraction=tc.get("unknown_fraction", 0.1), seed=seed,
    )  # fmt: skip
    if ds.labels != labels:  # pragma: no cover - SpeechCommands keeps an explicit label list as given
        raise ValueError(f"labels of {data!r} ({ds.labels}) differ from the run's ({labels})")
    if noise is None and bank is None:
        snrs = []
    elif bank is None:
        from audionoise import NoiseBank

        bank = NoiseBank.from_folder(noise, model.config.sample_rate)
    names = ["clean"] + _condition_names(snrs)
    n_cls = len(labels)
    confusion = {c: torch.zeros(n_cls, n_cls, dtype=torch.long) for c in names}
    loader = DataLoader(ds, batch_size=batch_size, shuffle=False, num_workers=num_workers, collate_fn=collate)
    start = 0
    for x, lengths, y in progress_bar(loader, desc=f"evaluate {Path(run).name}", unit="batch", enabled=progress,
                                    leave=False):
        x, lengths = x.to(device), lengths.to(device)
        stop = start + y.shape[0]
        conditions = {"clean": x}
        if snrs:
            n = noise_windows(bank, _clip_keys(ds, start, stop), x.shape[-1], seed).to(device)[:, None, :]
            for name, snr in zip(names[1:], snrs):
                conditions[name] = mix_at_snr(x, n, float(snr), lengths)
        for name, xc in conditions.items():
            pred = _predict(frontend, model, xc, lengths).cpu()
            confusion[name].index_put_((y, pred), torch.ones_like(y), accumulate=True)
        start = stop
    acc = {c: float(m.diag().sum()) / max(int(m.sum()), 1) for c, m in confusion.items()}
    return {
        "clean": acc["clean"],
        "snr": {c: acc[c] for c in names[1:]},
        "n": len(ds),
        "run": str(run),
        "subset": subset,
        "noise": None if noise is None else str(noise),
        "labels": labels,
        "confusion": {c: m.tolist() for c, m in confusion.items()},
    }


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
            kwargs["bank"] = NoiseBank.from_folder(noise, sample_rates.pop())
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
