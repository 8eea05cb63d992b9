"""Training configuration: the :class:`TrainConfig` dataclass, read from TOML with command-line overrides.

Precedence: the dataclass defaults < a ``TRAIN.toml`` (keys = field names) < overrides (``None`` = not given), so
``audionoise train`` only parses options into this config. ``RUN_DIR/config.toml`` holds the resolved config.

Example:
    >>> load_train_config(None, data="d", out="o", epochs=3).epochs
    3
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["TrainConfig", "clean_share", "curriculum_plan", "curriculum_settings", "load_train_config"]


@dataclass
class TrainConfig:
    """Everything a training run depends on (saved as ``RUN_DIR/config.toml`` and in checkpoints).

    Attributes:
        data: Speech-Commands-layout folder (one folder per word, split lists, ``_background_noise_``).
        out: Run folder for checkpoints, ``train.log`` and ``metrics.json``.
        labels: ``"v2-12"`` (10 words + silence + unknown), ``"all"`` (every word folder) or a word list.
        epochs: Total number of epochs of the run.
        batch_size: Clips per step and per process.
        lr: Peak AdamW learning rate (after ``warmup_epochs`` of linear warm-up, then cosine to 0).
        weight_decay: AdamW weight decay.
        warmup_epochs: Length of the linear warm-up, in epochs (fractions allowed; at most a fifth of the run).
        label_smoothing: Cross-entropy label smoothing.
        ema_epochs: Validate, save and evaluate an exponential moving average of the weights (and BatchNorm
            statistics) over about this many epochs (decay ``1 - 1/(ema_epochs * steps_per_epoch)``); 0 = off.
        arch: ``"matchboxnet"`` (1-D separable convs: 87k parameters at width 1, 183k at 1.5) or
            ``"bcresnet"`` (BC-ResNet-``width``: 9k parameters at 1, 54k at 3).
        width: Channel multiplier of the network.
        n_mels: Mel bins of the frontend.
        augment: ``"default"``, ``"none"`` or a pipeline TOML path.
        noise_dir: Background noise folder of the default pipeline (else the data's ``_background_noise_``).
        seed: Seed of everything random in the run (init, data order, augmentation, silence clips).
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        amp: Mixed precision on CUDA (bfloat16 where supported, else float16 with loss scaling).
        num_workers: DataLoader worker processes (0 = load in the training process).
        preload: Decode every clip once into memory (fast epochs for small datasets).
        clip_seconds: Clip length; shorter clips are zero-padded (with ``lengths``), longer ones cropped.
        sample_rate: Sample rate the clips are loaded at.
        silence_fraction: Share of ``_silence_`` examples in 12-class mode.
        unknown_fraction: Share of ``_unknown_`` examples in 12-class mode.
        resume: Continue from ``out/last.pt`` when it exists.
        stop_after: Stop this invocation after that many epochs (resume later), e.g. for job time limits.
        progress: Show tqdm progress bars.
        threads: torch intra-op threads per process during the run (``None``: leave as is; split between
            ranks under DDP). On a CPU shared with other jobs, 1 thread is often several times faster than 2.
        eval_batch_size: Batch size of validation.
        clean_epochs: Epochs at the start of the run trained on clean clips (the waveform stage of the
            augmentation, i.e. every noise, is left out; spectrogram masks still apply). A curriculum: the
            network first learns the words, then meets noise.
        clean_fraction: After ``clean_epochs`` (and the ramp), this share of every batch (``round(share *
            batch)`` rows, drawn per batch) stays clean, so the clean condition is always trained on.
        noise_ramp_epochs: Epochs over which the clean share falls linearly from 1 to ``clean_fraction`` after
            ``clean_epochs`` (the noisy share of a batch widens gradually).
        curriculum: ``"auto"`` (default): when the run augments and none of ``clean_epochs``,
            ``noise_ramp_epochs``, ``clean_fraction`` is set, the schedule is in quarters of the run: the first
            quarter of the epochs clean, the noisy share widening linearly over the second, then a quarter of
            every batch kept clean (see :func:`curriculum_settings`; measured in ``recipes/clean_cost_study.py``:
            no clean-accuracy cost at equal epochs, where constant augmentation costs some). ``"off"``: the
            waveform augmentation on every batch from the first step, unless the three fields say otherwise.
        select_on: ``"clean"`` (best.pt = best clean validation accuracy) or ``"clean+noisy"`` (best.pt = best
            mean of the clean accuracy and the accuracy with the training noise mixed in at ``val_snr_db``).
        val_snr_db: SNR of the noisy validation pass of ``select_on = "clean+noisy"``.
        skip_bad: Leave out audio files whose header shows they are unreadable (checked for every file before
            training; listed in ``out/bad_files.txt`` and counted in ``metrics.json``) instead of stopping. A
            file that still fails to decode during an epoch is always skipped and reported, never a crash.
    """

    data: str = ""
    out: str = ""
    labels: str | list[str] = "v2-12"
    epochs: int = 30
    batch_size: int = 64
    lr: float = 5e-3
    weight_decay: float = 1e-3
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.1
    ema_epochs: float = 2.0
    arch: str = "matchboxnet"
    width: float = 1.5
    n_mels: int = 40
    augment: str = "default"
    noise_dir: str | None = None
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    num_workers: int = 2
    preload: bool = False
    clip_seconds: float = 1.0
    sample_rate: int = 16000
    silence_fraction: float = 0.1
    unknown_fraction: float = 0.1
    resume: bool = False
    stop_after: int | None = None
    progress: bool = True
    threads: int | None = None
    eval_batch_size: int = 256
    clean_epochs: float = 0.0
    clean_fraction: float = 0.0
    noise_ramp_epochs: float = 0.0
    curriculum: str = "auto"
    select_on: str = "clean"
    val_snr_db: float = 0.0
    skip_bad: bool = False

    def __post_init__(self) -> None:
        self.data, self.out, self.augment = str(self.data), str(self.out), str(self.augment)
        if self.noise_dir is not None:
            self.noise_dir = str(self.noise_dir)
        if not self.data:
            raise ValueError("data is required: the Speech-Commands-layout folder to train on (--data DIR)")
        if not self.out:
            raise ValueError("out is required: the run folder to write checkpoints to (--out RUN_DIR)")
        positive = {"epochs": self.epochs, "batch_size": self.batch_size, "eval_batch_size": self.eval_batch_size,
                    "lr": self.lr, "width": self.width, "n_mels": self.n_mels, "clip_seconds": self.clip_seconds,
                    "sample_rate": self.sample_rate}
        for name, value in positive.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        for name in ("epochs", "batch_size", "eval_batch_size", "n_mels", "sample_rate", "seed", "num_workers"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"{name} must be an integer, got {value!r}")
        if self.num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {self.num_workers}")
        if self.stop_after is not None and (not isinstance(self.stop_after, int) or self.stop_after < 1):
            raise ValueError(f"stop_after must be a positive integer or None, got {self.stop_after!r}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing!r}")
        if not 0.0 <= self.clean_fraction <= 1.0:
            raise ValueError(f"clean_fraction must be in [0, 1], got {self.clean_fraction!r}")
        if self.clean_epochs < 0 or self.noise_ramp_epochs < 0:
            raise ValueError(f"clean_epochs ({self.clean_epochs}) and noise_ramp_epochs ({self.noise_ramp_epochs}) "
                             f"must be >= 0")
        if self.curriculum not in CURRICULA:
            raise ValueError(f"curriculum must be one of {list(CURRICULA)}, got {self.curriculum!r}")
        if self.select_on not in ("clean", "clean+noisy"):
            raise ValueError(f"select_on must be 'clean' or 'clean+noisy', got {self.select_on!r}")
        if self.weight_decay < 0 or self.warmup_epochs < 0 or self.ema_epochs < 0:
            raise ValueError(f"weight_decay ({self.weight_decay}), warmup_epochs ({self.warmup_epochs}) and "
                             f"ema_epochs ({self.ema_epochs}) must be >= 0")
        from audionoise.kws.model import ARCHITECTURES

        if self.arch not in ARCHITECTURES:
            raise ValueError(f"arch must be one of {sorted(ARCHITECTURES)}, got {self.arch!r}")
        if not (self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:")):
            raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")
        if isinstance(self.labels, (list, tuple)):
            self.labels = [str(w) for w in self.labels]
            if len(self.labels) < 2:
                raise ValueError(f"labels needs at least 2 words, got {self.labels!r}")
        elif self.labels not in ("v2-12", "all"):
            raise ValueError(f"labels must be 'v2-12', 'all' or a list of words, got {self.labels!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_train_config(path: str | os.PathLike | None = None, **overrides: Any) -> TrainConfig:
    """Build a :class:`TrainConfig` from a TOML file (keys = field names), then ``overrides``.

    ``None`` overrides are ignored, so a CLI can pass every option. Unknown keys raise ``ValueError``.

    Example:
        >>> load_train_config(None, data="d", out="o", epochs=3).epochs
        3
    """
    values: dict[str, Any] = {}
    allowed = [f.name for f in dataclasses.fields(TrainConfig)]
    if path is not None:
        from audionoise.config_files import MAX_CONFIG_BYTES
        from audionoise.runtime.limits import MAX_CONFIG_DEPTH, check_config_shape

        try:
            if os.path.getsize(path) > MAX_CONFIG_BYTES:
                raise ValueError(f"config file {str(path)!r} is larger than {MAX_CONFIG_BYTES >> 20} MiB; a training "
                                 "config is a few kB")
            with open(path, "rb") as fh:
                values = tomllib.load(fh)
        except FileNotFoundError:
            raise ValueError(f"config file {str(path)!r} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"config file {str(path)!r} is not valid TOML: {exc}") from None
        except RecursionError:
            raise ValueError(f"config file {str(path)!r} nests deeper than {MAX_CONFIG_DEPTH} levels; flatten "
                             "it") from None
        check_config_shape(values, f"config file {str(path)!r}")
        unknown = sorted(set(values) - set(allowed))
        if unknown:
            raise ValueError(f"unknown field(s) {unknown} in {str(path)!r}; allowed fields: {allowed}")
    values.update({k: v for k, v in overrides.items() if v is not None})
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise ValueError(f"unknown TrainConfig field(s) {unknown}; allowed fields: {allowed}")
    return TrainConfig(**values)


#: values of ``TrainConfig.curriculum``
CURRICULA = ("auto", "off")
#: the ``"auto"`` curriculum: clean epochs, ramp epochs (as shares of the run) and the clean share of a batch after
AUTO_CURRICULUM = (0.25, 0.25, 0.25)


def curriculum_settings(cfg: TrainConfig) -> tuple[float, float, float]:
    """``(clean_epochs, noise_ramp_epochs, clean_fraction)`` the run uses.

    The three fields as given when any of them is set (or ``curriculum="off"``, or no augmentation); else, for
    ``curriculum="auto"``, a quarter of the epochs clean, a quarter of ramp, and a quarter of every later batch
    clean: shares of the run, so the schedule scales with any number of epochs.

    Example:
        >>> curriculum_settings(TrainConfig(data="d", out="o", epochs=40))
        (10.0, 10.0, 0.25)
        >>> curriculum_settings(TrainConfig(data="d", out="o", epochs=40, curriculum="off"))
        (0.0, 0.0, 0.0)
    """
    given = (float(cfg.clean_epochs), float(cfg.noise_ramp_epochs), float(cfg.clean_fraction))
    if any(given) or cfg.curriculum == "off" or cfg.augment == "none":
        return given
    clean, ramp, share = AUTO_CURRICULUM
    return clean * cfg.epochs, ramp * cfg.epochs, share


def clean_share(cfg: TrainConfig, epoch: int) -> float:
    """Share of the batches of ``epoch`` (0-based) kept clean by the curriculum of ``cfg``.

    1 for the first ``clean_epochs``; then a linear fall over ``noise_ramp_epochs`` (evaluated at the middle of
    the epoch) to ``clean_fraction``, which holds for the rest of the run (:func:`curriculum_settings`).

    Example:
        >>> cfg = TrainConfig(data="d", out="o", clean_epochs=2, noise_ramp_epochs=2, clean_fraction=0.2)
        >>> [round(clean_share(cfg, e), 2) for e in range(6)]
        [1.0, 1.0, 0.8, 0.4, 0.2, 0.2]
    """
    clean_epochs, ramp_epochs, fraction = curriculum_settings(cfg)
    if epoch < clean_epochs:
        return 1.0
    if ramp_epochs > 0:
        t = (epoch + 0.5 - clean_epochs) / ramp_epochs
        if t < 1.0:
            return 1.0 - (1.0 - fraction) * t
    return fraction


def curriculum_plan(cfg: TrainConfig) -> dict[str, Any]:
    """The resolved curriculum of ``cfg``, as printed at the start of a run and saved in ``RUN_DIR/run.json``.

    ``clean_share_per_epoch`` is the share of each epoch's batches left out of the waveform stage;
    ``augmented_epochs`` counts the epochs where any part of a batch gets noise (0 means the run trains on clean
    audio only, e.g. ``epochs=1`` under ``curriculum="auto"``: the first quarter of the run is clean).

    Example:
        >>> plan = curriculum_plan(TrainConfig(data="d", out="o", epochs=1))
        >>> plan["clean_epochs"], plan["augmented_epochs"]
        (0.25, 0)
    """
    clean_epochs, ramp_epochs, fraction = curriculum_settings(cfg)
    shares = [round(clean_share(cfg, e), 4) for e in range(cfg.epochs)] if cfg.augment != "none" else []
    given = any((cfg.clean_epochs, cfg.noise_ramp_epochs, cfg.clean_fraction))
    source = "none" if cfg.augment == "none" else "given" if given else cfg.curriculum
    return {"curriculum": source, "clean_epochs": clean_epochs, "noise_ramp_epochs": ramp_epochs,
            "clean_fraction": fraction, "clean_share_per_epoch": shares,
            "augmented_epochs": sum(share < 1.0 for share in shares)}


def describe_curriculum(cfg: TrainConfig) -> tuple[str, str | None]:
    """One line describing the resolved curriculum, and a warning when the run would apply no noise at all."""
    plan = curriculum_plan(cfg)
    if cfg.augment == "none":
        return "curriculum: none (--augment none: no waveform augmentation)", None
    line = (f"curriculum ({plan['curriculum']}): {plan['clean_epochs']:g} clean epoch(s), then the clean share of "
            f"a batch falls over {plan['noise_ramp_epochs']:g} epoch(s) to {plan['clean_fraction']:g}; "
            f"{plan['augmented_epochs']} of {cfg.epochs} epoch(s) get noise")
    warning = None
    if plan["augmented_epochs"] == 0 and cfg.epochs > 0:
        warning = (f"no waveform augmentation will be applied: all {cfg.epochs} epoch(s) fall in the clean warm-up "
                   f"of {plan['clean_epochs']:g} epoch(s); train longer, or pass --curriculum off (or "
                   f"--clean-epochs 0 --clean-fraction F) to augment from the first epoch")
    return line, warning
