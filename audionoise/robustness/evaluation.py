"""Robustness evaluation of any classifier: accuracy on clean clips and on the same clips mixed with noise.

Works for any ``model(waveform, lengths) -> logits`` (``waveform`` ``(batch, channels, time)``, ``lengths`` valid
samples, ``logits`` ``(batch, classes)``) and any labelled dataset whose items are

* ``(waveform, label)`` with an integer label,
* ``(waveform, metadata)`` with ``metadata["label"]`` (an integer, or a class name found in ``labels``), as
  :class:`audionoise.data.AudioFolder` / :class:`audionoise.data.AudioManifest` items carry it, or
* ``(waveform, valid_length, label)`` (fixed-length padded clips, e.g. :class:`audionoise.kws.SpeechCommands`).

An item with a negative integer label marks a clip that failed to decode (as ``SpeechCommands`` with
``skip_unreadable`` returns it): it is left out of every count and its key listed in ``unreadable``.

For every clip one noise window is chosen from a seed derived from ``(seed, clip key)`` (a clip and an offset in a
:class:`~audionoise.transforms.NoiseBank`), and mixed at each SNR with :func:`audionoise.functional.mix_at_snr`, so
the SNR is exact over the clip's valid samples and the clean clip is never rescaled:

.. math::

    y = x + g\\,n, \\qquad g = \\sqrt{\\frac{P_x}{P_n\\,10^{\\mathrm{SNR}/10}}}.

The same clip therefore meets the same noise at every SNR and for every model, which is what makes the paired
comparison (:func:`compare`, McNemar's exact test) valid. Accuracies come with 95% Wilson intervals and a table
per noise clip (``by_noise``: each clip's noisy results under the noise it drew).

Example:
    >>> res = evaluate_model(model, AudioManifest("test.jsonl", 16000), noise="noise/", snrs=[10, 0],
    ...                      labels=["yes", "no"])  # doctest: +SKIP
    >>> sorted(res)  # doctest: +SKIP
    ['by_noise', 'by_noise_n', 'ci95', 'clean', 'confusion', 'correct', 'keys', 'labels', 'n', 'noise_of', 'snr']
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset
from audionoise.runtime.progress import progress as progress_bar

from audionoise.kernels.seeds import derive_seed
from audionoise.functional import mix_at_snr
from audionoise.robustness.stats import mcnemar_exact, paired_counts, wilson_interval

__all__ = ["DEFAULT_SNRS", "FeatureModel", "adapt_batchnorm", "LabelledCollate", "compare", "condition_names", "dataset_keys",
           "evaluate_model", "noise_choice", "noise_windows", "summarise"]

DEFAULT_SNRS = (20.0, 10.0, 5.0, 0.0, -5.0)


def condition_names(snrs: Sequence[float]) -> list[str]:
    """JSON keys of the SNR conditions: ``[20, 0, -5.5] -> ["20", "0", "-5.5"]``."""
    return [f"{float(s):g}" for s in snrs]


def noise_choice(bank, keys: Sequence[str], seed: int = 0) -> tuple[Tensor, Tensor]:
    """``(clips, offsets)``, one noise clip index and sample offset per clip key, from ``(seed, key)`` alone.

    Clip ``k ~ U{0..len(bank)-1}`` and offset ``o ~ U{0..len_k-1}`` are drawn from a generator seeded by a hash
    of ``(seed, key)``.
    """
    clips, offsets = [], []
    for key in keys:
        g = torch.Generator().manual_seed(derive_seed(seed, "noise-window", key))
        k = int(torch.randint(len(bank), (), generator=g))
        clips.append(k)
        offsets.append(int(torch.randint(int(bank.lengths[k]), (), generator=g)))
    return torch.tensor(clips, dtype=torch.long), torch.tensor(offsets, dtype=torch.long)


def noise_windows(bank, keys: Sequence[str], length: int, seed: int = 0) -> Tensor:
    """One noise window ``(len(keys), length)`` per clip key (see :func:`noise_choice`; short clips loop).

    Example:
        >>> from audionoise import NoiseBank
        >>> bank = NoiseBank.from_tensors([torch.randn(8000)], sample_rate=16000)
        >>> noise_windows(bank, ["yes/a.wav", "no/b.wav"], 16000).shape
        torch.Size([2, 16000])
    """
    clips, offsets = noise_choice(bank, keys, seed)
    return bank.windows(clips, offsets, length)


# --------------------------------------------------------------------------------------------------- batching
def _key_of(meta: dict[str, Any]) -> str | None:
    for field in ("relative_path", "audio_filepath", "path"):
        if meta.get(field) is not None:
            key = str(meta[field])
            if "offset" in meta and meta.get("offset") is not None:
                key += f"@{meta['offset']}"
            return key
    return None


class LabelledCollate:
    """Collate labelled items (see the module docstring) into ``(x (B, C, T), lengths, labels, keys)``.

    Shorter clips are zero-padded at the end; ``keys`` are the items' relative paths or file paths (``None``
    when an item carries none). String labels are looked up in ``labels``.
    """

    def __init__(self, labels: Sequence[str] | None = None) -> None:
        self.index = {name: i for i, name in enumerate(labels)} if labels is not None else None

    def _label(self, value: Any, i: int) -> int:
        if isinstance(value, bool):
            raise ValueError(f"item {i}: label {value!r} is a bool; use an integer class id or a class name")
        if isinstance(value, (int, Tensor)):
            return int(value)
        if isinstance(value, str):
            if self.index is None:
                raise ValueError(f"item {i}: label {value!r} is a class name; pass labels=[...] (the class names "
                                 f"in the model's output order)")
            if value not in self.index:
                raise ValueError(f"item {i}: label {value!r} is not one of the labels {list(self.index)}")
            return self.index[value]
        raise ValueError(f"item {i}: label {value!r} must be an integer class id or a class name")

    def __call__(self, items: Sequence[Any]) -> tuple[Tensor, Tensor, Tensor, list[str | None]]:
        waves, lengths, labels, keys = [], [], [], []
        for i, item in enumerate(items):
            if not isinstance(item, (tuple, list)) or not item or not isinstance(item[0], Tensor):
                raise ValueError(f"item {i} is a {type(item).__name__}; labelled items are (waveform, label), "
                                 f"(waveform, metadata with 'label') or (waveform, valid_length, label)")
            wave = item[0] if item[0].dim() == 2 else item[0].reshape(1, -1)
            key = None
            if len(item) == 3:
                length, label = int(item[1]), item[2]
            elif len(item) == 2 and isinstance(item[1], dict):
                if "label" not in item[1]:
                    raise ValueError(f"item {i} ({item[1].get('path', '?')}) has no 'label' in its metadata")
                length, label, key = wave.shape[-1], item[1]["label"], _key_of(item[1])
            elif len(item) == 2:
                length, label = wave.shape[-1], item[1]
            else:
                raise ValueError(f"item {i} has {len(item)} fields; expected 2 or 3")
            waves.append(wave.float())
            lengths.append(length)
            labels.append(self._label(label, i))
            keys.append(key)
        channels = {w.shape[0] for w in waves}
        if len(channels) > 1:
            raise ValueError(f"items of one batch have different channel counts {sorted(channels)}; make them all "
                             f"mono (mono=True) or all the same")
        width = max(w.shape[-1] for w in waves)
        x = torch.zeros(len(waves), channels.pop(), width)
        for b, w in enumerate(waves):
            x[b, :, : w.shape[-1]] = w
        return x, torch.tensor(lengths, dtype=torch.long), torch.tensor(labels, dtype=torch.long), keys


# --------------------------------------------------------------------------------------------------- evaluation
def _bank(noise, sample_rate: int | None):
    if noise is None or hasattr(noise, "windows"):
        return noise
    if sample_rate is None:
        raise ValueError("sample_rate is needed to load the noise folder (the rate of the dataset's clips)")
    from audionoise import NoiseBank

    return NoiseBank.from_source(noise, sample_rate)  # a folder, file, glob, list file or manifest


def evaluate_model(
    model: Callable[[Tensor, Tensor], Tensor],
    dataset: Dataset,
    *,
    noise=None,
    snrs: Sequence[float] = DEFAULT_SNRS,
    seed: int = 0,
    sample_rate: int | None = None,
    labels: Sequence[str] | None = None,
    keys: Sequence[str] | None = None,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    num_workers: int = 0,
    progress: bool = False,
    desc: str = "evaluate",
    adapt_bn: bool = False,
) -> dict[str, Any]:
    """Accuracy of ``model`` on ``dataset``, clean and at every SNR of ``snrs`` with noise from ``noise``.

    Args:
        model: ``model(waveform (B, C, T), lengths (B,)) -> logits (B, classes)`` (called under ``no_grad``;
            put it in eval mode first).
        dataset: Labelled items (see the module docstring).
        noise: Noise folder (loaded at ``sample_rate``) or a ``NoiseBank``; ``None`` evaluates clean only.
        snrs: SNRs in dB (ignored without ``noise``).
        seed: Seed of the per-clip noise choice.
        sample_rate: Rate of the dataset's clips (needed to load a noise folder).
        labels: Class names (for string labels and the confusion matrix size).
        keys: One key per item naming the clip (default: its relative path, else file path, else ``#index``);
            the noise window of a clip depends on its key, so the same clip meets the same noise in every
            dataset order.
        batch_size: Clips per forward pass (results do not depend on it).
        device: Device of the forward passes.
        num_workers: DataLoader workers.
        progress: Show a progress bar.
        desc: Progress bar label.
        adapt_bn: Test-time adaptation (AdaBN, :func:`adapt_batchnorm`): for each condition, re-estimate the
            model's BatchNorm statistics on that condition's (unlabelled) clips first, then predict them.

    Returns:
        ``{"clean": acc, "snr": {"20": acc, ...}, "n": N, "ci95": {"clean": [lo, hi], "20": [lo, hi], ...},
        "by_noise": {noise clip: {"20": acc, ...}}, "by_noise_n": {noise clip: clips}, "labels",
        "confusion": {condition: rows = true, columns = predicted}, "correct": {condition: [0/1 per clip]},
        "predictions": {condition: [predicted class per clip]},
        "keys": [clip key...], "noise_of": [noise clip per clip], "unreadable": [keys left out]}`` with accuracies
        in [0, 1].
    """
    device = torch.device(device)
    bank = _bank(noise, sample_rate) if snrs else None
    snrs = [float(s) for s in snrs] if bank is not None else []
    names = ["clean"] + condition_names(snrs)
    if keys is not None and len(keys) != len(dataset):
        raise ValueError(f"keys has {len(keys)} entries for a dataset of {len(dataset)} items")
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                        collate_fn=LabelledCollate(labels))
    def batches():
        """``(keys, y, noise names, {condition: (x, lengths)})`` per batch, the same on every pass."""
        seen = 0
        for x, lengths, y, batch_keys in loader:
            batch_keys = [keys[seen + b] if keys is not None else (k if k is not None else f"#{seen + b}")
                          for b, k in enumerate(batch_keys)]
            seen += len(batch_keys)
            bad = []
            if bool((y < 0).any()):  # items that failed to decode (negative label marker): left out, listed
                keep = y >= 0
                bad = [k for k, ok in zip(batch_keys, keep.tolist()) if not ok]
                x, lengths, y = x[keep], lengths[keep], y[keep]
                batch_keys = [k for k, ok in zip(batch_keys, keep.tolist()) if ok]
            if y.numel() == 0:
                yield batch_keys, y, [], {}, bad
                continue
            x, lengths = x.to(device), lengths.to(device)
            conditions = {"clean": x}
            drawn = []
            if snrs:
                clips, offsets = noise_choice(bank, batch_keys, seed)
                n = bank.windows(clips, offsets, x.shape[-1]).to(device)[:, None, :]
                drawn = [bank.names[k] for k in clips.tolist()]
                for name, snr in zip(names[1:], snrs):
                    conditions[name] = mix_at_snr(x, n, snr, lengths)
            yield batch_keys, y, drawn, {c: (xc, lengths) for c, xc in conditions.items()}, bad

    models = {c: model for c in names}
    if adapt_bn:
        models = {c: adapt_batchnorm(model, (conds[c] for *_, conds, _ in batches() if conds)) for c in names}
    preds: dict[str, list[int]] = {c: [] for c in names}
    targets: list[int] = []
    all_keys: list[str] = []
    noise_of: list[str] = []
    unreadable: list[str] = []
    with torch.no_grad():
        for batch_keys, y, drawn, conditions, bad in progress_bar(batches(), total=len(loader), desc=desc,
                                                                  unit="batch", enabled=progress, leave=False):
            unreadable += bad
            for name, (xc, lengths) in conditions.items():
                preds[name] += models[name](xc, lengths).argmax(1).cpu().tolist()
            targets += y.tolist()
            all_keys += batch_keys
            noise_of += drawn
    return {**summarise(preds, targets, all_keys, noise_of, labels), "unreadable": unreadable,
            "adapted_bn": bool(adapt_bn)}


def adapt_batchnorm(model: nn.Module, batches) -> nn.Module:
    """AdaBN: a copy of ``model`` whose BatchNorm statistics are re-estimated on unlabelled ``batches``.

    Every BatchNorm layer's running mean and variance are reset and recomputed as the plain average over the
    batches (``momentum=None``) of ``(x, lengths)`` fed through the copy in training mode; weights, biases and
    every other layer stay as they are, nothing is learnt from labels. The copy is returned in eval mode (the
    original is untouched). A model without BatchNorm comes back unchanged (as a copy).

    Example:
        >>> net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)).eval()
        >>> class Wrap(nn.Module):
        ...     def __init__(self): super().__init__(); self.net = net
        ...     def forward(self, x, lengths): return self.net(x)
        >>> adapted = adapt_batchnorm(Wrap(), [(torch.randn(8, 3) + 5, None)])
        >>> bool((adapted.net[1].running_mean != net[1].running_mean).all())
        True
    """
    import copy

    adapted = copy.deepcopy(model).eval()
    norms = [m for m in adapted.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches
        m.train()
    if norms:
        with torch.no_grad():
            for x, lengths in batches:
                adapted(x, lengths)
    for m in norms:
        m.eval()
    return adapted


def summarise(preds: dict[str, list[int]], targets: list[int], keys: list[str], noise_of: list[str],
              labels: Sequence[str] | None = None) -> dict[str, Any]:
    """The result dict of :func:`evaluate_model` from per-clip predictions (``preds[condition][clip]``)."""
    n = len(targets)
    n_cls = len(labels) if labels is not None else max([*targets, *(p for v in preds.values() for p in v), 0]) + 1
    correct = {c: [int(p == t) for p, t in zip(v, targets)] for c, v in preds.items()}
    acc = {c: sum(v) / max(n, 1) for c, v in correct.items()}
    ci = {c: list(wilson_interval(sum(v), n)) for c, v in correct.items()}
    confusion = {}
    for c, v in preds.items():
        m = [[0] * n_cls for _ in range(n_cls)]
        for p, t in zip(v, targets):
            m[t][p] += 1
        confusion[c] = m
    by_noise: dict[str, dict[str, float]] = {}
    by_noise_n: dict[str, int] = {}
    for name in sorted(set(noise_of)):
        rows = [i for i, k in enumerate(noise_of) if k == name]
        by_noise_n[name] = len(rows)
        by_noise[name] = {c: sum(correct[c][i] for i in rows) / len(rows) for c in correct if c != "clean"}
    return {
        "clean": acc["clean"],
        "snr": {c: acc[c] for c in preds if c != "clean"},
        "n": n,
        "ci95": ci,
        "by_noise": by_noise,
        "by_noise_n": by_noise_n,
        "labels": list(labels) if labels is not None else None,
        "confusion": confusion,
        "correct": correct,
        "keys": list(keys),
        "noise_of": list(noise_of),
        "predictions": {c: list(v) for c, v in preds.items()},
    }


def compare(results: dict[str, dict[str, Any]], reference: str | None = None) -> dict[str, dict[str, Any]]:
    """Paired comparison of every run against ``reference`` (default: the first) on the identical clips.

    For each condition (clean and every SNR) the discordant counts ``b`` (only the reference right) and ``c``
    (only the other run right) and McNemar's exact two-sided p-value (:func:`audionoise.robustness.stats.mcnemar_exact`).

    Returns:
        ``{"<run> vs <reference>": {condition: {"b", "c", "p", "delta"}}}`` where ``delta`` is the other run's
        accuracy minus the reference's.

    Raises:
        ValueError: the runs were not evaluated on the same clips (keys differ) or conditions differ.
    """
    names = list(results)
    reference = reference if reference is not None else names[0]
    ref = results[reference]
    out = {}
    for name in names:
        if name == reference:
            continue
        other = results[name]
        if other["keys"] != ref["keys"]:
            raise ValueError(f"{name!r} and {reference!r} were evaluated on different clips; a paired comparison "
                             f"needs the same data, subset and seed")
        table = {}
        for cond in ref["correct"]:
            if cond not in other["correct"]:
                continue
            b, c = paired_counts(ref["correct"][cond], other["correct"][cond])
            n = max(len(ref["correct"][cond]), 1)
            table[cond] = {"b": b, "c": c, "p": mcnemar_exact(b, c), "delta": (c - b) / n}
        out[f"{name} vs {reference}"] = table
    return out


class FeatureModel(nn.Module):
    """``model(frontend(waveform, lengths)[0])``: a features-taking classifier as a ``(waveform, lengths)`` one."""

    def __init__(self, frontend: nn.Module, model: nn.Module) -> None:
        super().__init__()
        self.frontend, self.model = frontend, model

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        return self.model(self.frontend(x, lengths)[0])


def dataset_keys(files: Sequence[os.PathLike | str | None], root: os.PathLike | str | None = None) -> list[str]:
    """Clip keys for a list of files: paths relative to ``root`` (posix), ``#index`` where a file is ``None``."""
    keys = []
    for i, f in enumerate(files):
        if f is None:
            keys.append(f"#{i}")
            continue
        try:
            keys.append(Path(f).relative_to(root).as_posix() if root is not None else Path(f).as_posix())
        except ValueError:
            keys.append(Path(f).as_posix())
    return keys
