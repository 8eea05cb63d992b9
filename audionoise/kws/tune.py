"""Noise selection: short runs over candidate training pipelines, chosen by a stated criterion on validation data.

:func:`tune` trains a clean reference (``augment = "none"``) and one run per candidate pipeline with the same
settings, evaluates every run on the **validation** split (never the test split), clean and with a tuning noise
folder at ``snrs``, and picks by the criterion

    the best mean noisy validation accuracy among the candidates whose clean validation accuracy is at most
    ``max_clean_cost`` below the reference's (if none qualifies: the smallest clean cost).

It writes ``out/chosen.toml`` (the chosen pipeline), ``out/tune.json`` (every candidate's numbers and the
choice) and ``out/frontier.png`` (clean vs mean noisy validation accuracy per candidate).

Example:
    >>> cands = snr_range_candidates("data/generated/kws/_background_noise_", [(10, 30), (0, 20), (-5, 20)])
    >>> result = tune(TrainConfig(data="data/generated/kws", out="runs/tune", epochs=6), cands,
    ...               noise="data/tuning_noise")  # doctest: +SKIP
    >>> result["chosen"]  # doctest: +SKIP
    'snr_0_20'
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from audionoise.io.files import atomic_write
from audionoise.kws.config import TrainConfig

__all__ = ["choose", "snr_range_candidates", "tune"]


def snr_range_candidates(noise_dir: str | os.PathLike, ranges: Sequence[tuple[float, float]],
                         sample_rate: int = 16000) -> dict[str, dict[str, Any]]:
    """The default pipeline with its background-noise SNR range set to each ``(low, high)``: ``{name: config}``.

    Example:
        >>> sorted(snr_range_candidates("noise", [(0, 20), (-5, 10)]))
        ['snr_-5_10', 'snr_0_20']
    """
    from audionoise.kws.augment import default_pipeline_config

    out = {}
    for low, high in ranges:
        if low > high:
            raise ValueError(f"SNR range ({low}, {high}): low must be <= high")
        config = default_pipeline_config(noise_dir, sample_rate)
        for t in config["transforms"]:
            if t["name"] == "BackgroundNoise":
                t["min_snr_db"], t["max_snr_db"] = float(low), float(high)
        out[f"snr_{low:g}_{high:g}"] = config
    return out


def choose(scores: dict[str, dict[str, float]], reference_clean: float, max_clean_cost: float = 0.005) -> str:
    """The candidate picked by the criterion of the module docstring.

    ``scores[name] = {"clean": acc, "noisy": mean noisy acc}`` (accuracies in [0, 1]); ties go to the first.

    Example:
        >>> choose({"a": {"clean": 0.90, "noisy": 0.8}, "b": {"clean": 0.97, "noisy": 0.6}}, reference_clean=0.97)
        'b'
    """
    if not scores:
        raise ValueError("no candidates to choose from")
    ok = [n for n, s in scores.items() if s["clean"] >= reference_clean - max_clean_cost - 1e-12]
    if ok:
        return max(ok, key=lambda n: scores[n]["noisy"])
    return min(scores, key=lambda n: reference_clean - scores[n]["clean"])


def tune(base: TrainConfig, candidates: dict[str, dict[str, Any]], *, noise: str | os.PathLike,
         snrs: Sequence[float] = (10.0, 5.0, 0.0, -5.0), max_clean_cost: float = 0.005,
         device: str = "cpu") -> dict[str, Any]:
    """Train the reference and every candidate like ``base`` (into ``base.out/<name>``), evaluate, choose.

    Args:
        base: Settings shared by every run (``out`` is the tuning folder; ``augment`` is replaced).
        candidates: ``{name: pipeline config dict}`` (e.g. :func:`snr_range_candidates`).
        noise: Tuning noise folder mixed into the validation clips (keep the test noise out of it).
        snrs: SNRs of the noisy validation accuracy (its mean over them is the score).
        max_clean_cost: Allowed loss of clean validation accuracy against the reference (0.005 = 0.5 points).
        device: Training and evaluation device.

    Returns:
        ``{"reference": {"clean", "noisy"}, "candidates": {name: {"clean", "noisy", "snr"}}, "chosen", ...}``.
    """
    from audionoise import load_pipeline, save_pipeline
    from audionoise.kws.evaluate import evaluate_run
    from audionoise.kws.plots import plot_frontier
    from audionoise.kws.train import train

    out = Path(base.out)
    out.mkdir(parents=True, exist_ok=True)
    runs: dict[str, Path] = {}
    for name, config in {"reference": None, **candidates}.items():
        augment = "none"
        if config is not None:
            augment = str(out / f"{name}.toml")
            if not Path(augment).exists():
                save_pipeline(load_pipeline(config), augment)
        cfg = dataclasses.replace(base, out=str(out / name), augment=augment, resume=True, device=device)
        train(cfg)
        runs[name] = out / name
    scores = {}
    for name, run in runs.items():
        r = evaluate_run(run, base.data, subset="validation", noise=noise, snrs=snrs, checkpoint="last",
                         device=device)
        scores[name] = {"clean": r["clean"], "noisy": sum(r["snr"].values()) / len(r["snr"]), "snr": r["snr"],
                        "ci95_clean": r["ci95"]["clean"], "n": r["n"]}
    reference = scores.pop("reference")
    chosen = choose(scores, reference["clean"], max_clean_cost)
    save_pipeline(load_pipeline(candidates[chosen]), out / "chosen.toml")
    doc = {"criterion": f"best mean noisy validation accuracy at {list(snrs)} dB with clean validation accuracy "
                        f">= reference - {max_clean_cost}", "reference": reference, "candidates": scores,
           "chosen": chosen, "chosen_toml": str(out / "chosen.toml")}
    atomic_write(out / "tune.json", json.dumps(doc, indent=1) + "\n")
    plot_frontier(reference, scores, chosen, out / "frontier.png")
    return doc
