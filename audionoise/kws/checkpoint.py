"""Checkpoints of the keyword-spotting trainer: what a run's state is, how it is saved, resumed and loaded.

A checkpoint (``RUN_DIR/last.pt`` every epoch, ``RUN_DIR/best.pt`` when validation accuracy improves) is one
``torch.save`` dict, written atomically (:func:`audionoise.io.files.atomic_write`, fsynced):

=========================  ==========================================================================
``model``                  weights to evaluate: the weight average when the run keeps one
``model_config``, ``labels``  what :func:`load_model` needs to rebuild the network and name its classes
``train_model``, ``ema``   the trained weights and the weight average (``AveragedModel`` state)
``optimizer``, ``scheduler``, ``scaler``   for an exact resume (augmentation is seeded per batch from
                           ``(seed, epoch, batch index)``: no generator state to keep; ``augment_seeding`` says so)
``train_config``, ``augmentation``, ``epoch``, ``best_val_acc``, ``best_epoch``, ``history``
=========================  ==========================================================================

Example:
    >>> model, ckpt = load_model("runs/quickstart/augmented")  # doctest: +SKIP
    >>> ckpt["labels"][:3]  # doctest: +SKIP
    ['yes', 'no', 'up']
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.optim.swa_utils import AveragedModel

from audionoise.io.files import atomic_write
from audionoise.kws.config import TrainConfig
from audionoise.kws.distributed import Dist
from audionoise.kws.model import KeywordSpotter, ModelConfig

__all__ = ["CHECKPOINT_VERSION", "TrainState", "checkpoint_doc", "load_checkpoint", "load_model", "restore",
           "save_checkpoint"]

log = logging.getLogger("audionoise.kws.train")

#: 2: the model takes features (no ``frontend.*`` weights), ``ema`` is an ``AveragedModel`` state dict.
#: 3: augmentation seeded per batch by ``(seed, epoch, batch index)`` (no augmentation generator states).
CHECKPOINT_VERSION = 3
#: How version-3 runs seed their augmentation (stored in the checkpoint).
AUGMENT_SEEDING = "per batch: batch_generator(derive_seed(seed, 'augment', rank), epoch, batch index)"
#: Fields that must not change between a checkpoint and the run that resumes it.
RESUME_FIXED = ("labels", "arch", "width", "n_mels", "sample_rate", "clip_seconds", "batch_size", "seed",
                "augment", "ema_epochs", "curriculum")
#: values of RESUME_FIXED fields in checkpoints written before the field existed
RESUME_OLD_DEFAULTS = {"curriculum": "off"}


@dataclass
class TrainState:
    """Everything that changes while training, i.e. what a checkpoint holds besides the config."""

    model: KeywordSpotter
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    ema: AveragedModel | None = None
    epoch: int = 0  # completed epochs
    best_val_acc: float = -1.0
    best_epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def eval_model(self) -> KeywordSpotter:
        """The model to validate, save as ``model`` and evaluate: the weight average when there is one."""
        return self.model if self.ema is None else self.ema.module

    def end_epoch(self, metrics: dict[str, Any]) -> bool:
        """Record one finished epoch's metrics; return whether its validation score is the best so far.

        The score is ``val_score`` when the run selects on clean and noisy accuracy, else ``val_acc``.
        """
        self.epoch += 1
        self.history.append(metrics)
        score = metrics.get("val_score", metrics["val_acc"])
        improved = score > self.best_val_acc
        if improved:
            self.best_val_acc, self.best_epoch = score, self.epoch
        return improved


def checkpoint_doc(st: TrainState, cfg: TrainConfig, labels: list[str],
                   augmentation: dict[str, Any] | None) -> dict[str, Any]:
    """The checkpoint dict of ``st``."""
    return {
        "version": CHECKPOINT_VERSION,
        "model": st.eval_model.state_dict(),
        "model_config": st.model.config.to_dict(),
        "labels": list(labels),
        "train_model": st.model.state_dict(),
        "ema": None if st.ema is None else st.ema.state_dict(),
        "optimizer": st.optimizer.state_dict(),
        "scheduler": st.scheduler.state_dict(),
        "scaler": st.scaler.state_dict(),
        "augment_seeding": AUGMENT_SEEDING,
        "train_config": cfg.to_dict(),
        "augmentation": augmentation,
        "epoch": st.epoch,
        "best_val_acc": st.best_val_acc,
        "best_epoch": st.best_epoch,
        "history": st.history,
    }


def save_checkpoint(doc: dict[str, Any], path: str | os.PathLike) -> None:
    """Write ``doc`` to ``path`` atomically and durably (a crash leaves the previous checkpoint intact)."""
    atomic_write(path, lambda fh: torch.save(doc, fh), fsync=True)


def _checkpoint_file(path: Path, which: str) -> Path:
    if which not in ("best", "last"):
        raise ValueError(f"checkpoint must be 'best' or 'last', got {which!r}")
    if not path.is_dir():
        return path
    file = path / f"{which}.pt"
    return path / "last.pt" if which == "best" and not file.is_file() else file


def _load_file(file: Path) -> Any:
    """``torch.load(file, weights_only=True)`` with every failure as one ``ValueError`` line naming the file (torch's
    own messages, one of which advises turning the safe loader off, are not passed on)."""
    import pickle
    import zipfile

    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # an object the safe loader refuses: a class, a function, a reduce call, ...
        raise ValueError(f"{str(file)!r} holds objects other than tensors and plain values, which could run code "
                         "when loaded; it was refused. Evaluate a checkpoint written by `audionoise train`, and do "
                         "not load this file from an untrusted source") from None
    except PermissionError:
        raise ValueError(f"{str(file)!r}: permission denied; this user cannot read the checkpoint") from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, KeyError, ValueError, AttributeError,
            IndexError, TypeError, UnicodeDecodeError) as err:
        with open(file, "rb") as fh:
            zipped = fh.read(4) == b"PK\x03\x04"  # torch.save's format is a zip archive
        kind = "a PyTorch file that is truncated or damaged" if zipped else "not a PyTorch checkpoint"
        raise ValueError(f"{str(file)!r} cannot be read as a checkpoint: {kind} ({type(err).__name__}); evaluate a "
                         "run folder or .pt file written by `audionoise train` (copy it again if it was cut "
                         "short)") from None


def load_checkpoint(path: str | os.PathLike, which: str = "best") -> dict[str, Any]:
    """Read a checkpoint (on the CPU) from a run folder or a ``.pt`` file.

    Args:
        path: A run folder (``which`` picks ``best.pt`` or ``last.pt``; ``best.pt`` falls back to ``last.pt``)
            or a ``.pt`` file written by :func:`audionoise.kws.train.train`.
        which: ``"best"`` or ``"last"``.

    Checkpoints of version 1 (whose model held the log-Mel frontend) load too: their ``frontend.*`` entries,
    fixed filterbank buffers, are dropped.

    Raises:
        ValueError: no checkpoint there, or the file is not an audionoise KWS checkpoint.
    """
    file = _checkpoint_file(Path(path), which)
    if not file.is_file():
        raise ValueError(f"no checkpoint at {str(file)!r}; pass a run folder written by `audionoise train` "
                         f"(with best.pt/last.pt) or a .pt file")
    saved = _load_file(file)
    if not isinstance(saved, dict) or "model_config" not in saved or "model" not in saved:
        raise ValueError(f"{str(file)!r} is not an audionoise KWS checkpoint (no model_config/model entries)")
    if saved.get("version", 1) == 1:
        for key in ("model", "train_model"):
            if saved.get(key) is not None:
                saved[key] = {k: v for k, v in saved[key].items() if not k.startswith("frontend.")}
    saved["path"] = str(file)
    return saved


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu",
               checkpoint: str = "best") -> tuple[KeywordSpotter, dict[str, Any]]:
    """Load a trained model in eval mode from a run folder or a checkpoint file (see :func:`load_checkpoint`).

    The model takes log-Mel features: ``make_frontend(model.config)`` makes them.

    Returns:
        ``(model, checkpoint_dict)``; ``checkpoint_dict["labels"]`` names the classes.
    """
    saved = load_checkpoint(path, checkpoint)
    model = KeywordSpotter(ModelConfig(**saved["model_config"]))
    model.load_state_dict(saved["model"])
    return model.to(device).eval(), saved


def restore(st: TrainState, saved: dict[str, Any], cfg: TrainConfig, env: Dist) -> None:
    """Continue from checkpoint ``saved`` (from :func:`load_checkpoint`): every part of ``st`` as it was saved.

    Raises:
        ValueError: a field of :data:`RESUME_FIXED` differs from the checkpoint's, or the checkpoint is of an
            older version (it can still be evaluated).
    """
    where = saved.get("path", "the checkpoint")
    if saved.get("version", 1) != CHECKPOINT_VERSION:
        raise ValueError(f"cannot resume {where!r}: written by an older audionoise (checkpoint version "
                         f"{saved.get('version', 1)}); evaluate it as it is or train into a new --out")
    old = saved.get("train_config", {})
    old = {**RESUME_OLD_DEFAULTS, **old} if old else old
    changed = [k for k in RESUME_FIXED if k in old and old[k] != getattr(cfg, k)]
    if changed:
        diffs = ", ".join(f"{k}: {old[k]!r} -> {getattr(cfg, k)!r}" for k in changed)
        raise ValueError(f"cannot resume {where!r}: {diffs} changed since the checkpoint; use the original "
                         f"settings or a new --out")
    st.model.load_state_dict(saved["train_model"])
    if st.ema is not None:
        st.ema.load_state_dict(saved["ema"])
    st.optimizer.load_state_dict(saved["optimizer"])
    st.scheduler.load_state_dict(saved["scheduler"])
    st.scaler.load_state_dict(saved["scaler"])
    st.epoch = int(saved["epoch"])
    st.best_val_acc = float(saved["best_val_acc"])
    st.best_epoch = int(saved["best_epoch"])
    st.history = list(saved["history"])
