"""Keyword-spotting trainer: one readable ``train(cfg)`` with on-the-fly noise augmentation.

Per step: a batch of clips is moved to the device, the waveform augmentation pipeline runs on the whole
batch there (one explicit ``torch.Generator``, saved in every checkpoint), the model computes the log-Mel
features, spectrogram transforms are applied, and AdamW takes a step (linear warm-up, cosine decay; AMP on
CUDA); a moving average of the weights is what gets validated and saved for inference.
Every epoch ends with validation, ``last.pt`` (and ``best.pt`` when validation accuracy improves),
``metrics.json`` and a line in ``train.log``. ``resume=True`` continues from ``last.pt`` exactly: the data
order is a function of ``(seed, epoch)``, and the weights, weight average, optimiser, schedule, AMP scaler and
augmentation generators are restored, so 2 epochs == 1 epoch + resume 1 epoch, bit for bit on CPU.

Under ``torchrun --nproc_per_node=N -m audionoise train ...`` it runs DistributedDataParallel (NCCL on
CUDA, gloo on CPU): each rank trains on its shard with its own augmentation generator, validation is
sharded and summed, rank 0 writes the files.

Example:
    >>> cfg = TrainConfig(data="data/generated/kws", out="runs/demo", epochs=1)  # doctest: +SKIP
    >>> summary = train(cfg)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import json
import logging
import math
import os
import sys
import time
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, DistributedSampler, Subset
from tqdm.auto import tqdm

from audionoise.progress import progress as progress_bar
from audionoise.runtime import keep_freed_memory
from audionoise.kws.augment import Augmentation, build_augmentation
from audionoise.kws.model import KeywordSpotter, ModelConfig, count_parameters, init_weights

__all__ = ["TrainConfig", "load_train_config", "train"]

log = logging.getLogger("audionoise.kws.train")

CHECKPOINT_VERSION = 1
# fields that must not change between a checkpoint and a resumed run
_RESUME_FIXED = ("labels", "arch", "width", "n_mels", "sample_rate", "clip_seconds", "batch_size", "seed",
                 "augment", "ema_epochs")


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
        try:
            with open(path, "rb") as fh:
                values = tomllib.load(fh)
        except FileNotFoundError:
            raise ValueError(f"config file {str(path)!r} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"config file {str(path)!r} is not valid TOML: {exc}") from None
        unknown = sorted(set(values) - set(allowed))
        if unknown:
            raise ValueError(f"unknown field(s) {unknown} in {str(path)!r}; allowed fields: {allowed}")
    values.update({k: v for k, v in overrides.items() if v is not None})
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise ValueError(f"unknown TrainConfig field(s) {unknown}; allowed fields: {allowed}")
    return TrainConfig(**values)


# ---------------------------------------------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------------------------------------------
def derive_seed(*parts: Any) -> int:
    """A 63-bit seed from any printable parts (stable across processes and Python versions)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


@dataclass
class _Dist:
    world: int = 1
    rank: int = 0
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def _setup_distributed(device_name: str) -> tuple[_Dist, torch.device]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    env = _Dist(world, int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0")))
    use_cuda = device_name.startswith("cuda") or (device_name == "auto" and torch.cuda.is_available())
    if use_cuda and not torch.cuda.is_available():
        raise ValueError(f"device {device_name!r} requested but CUDA is not available; use --device cpu")
    if use_cuda:
        index = env.local_rank if world > 1 or ":" not in device_name else int(device_name.split(":")[1])
        device = torch.device("cuda", index)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return env, device


def _atomic_write_bytes(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    write(tmp)
    os.replace(tmp, path)


def _write_json(path: Path, obj: Any) -> None:
    _atomic_write_bytes(path, lambda p: p.write_text(json.dumps(obj, indent=2) + "\n"))


def _write_toml(path: Path, obj: dict[str, Any]) -> None:
    import tomli_w

    clean = {k: v for k, v in obj.items() if v is not None}
    _atomic_write_bytes(path, lambda p: p.write_text(tomli_w.dumps(clean)))


class _ConsoleHandler(logging.Handler):
    """Log lines on stderr that do not break tqdm progress bars."""

    def emit(self, record: logging.LogRecord) -> None:
        tqdm.write(self.format(record), file=sys.stderr)


def _setup_logging(out: Path, main: bool, console: bool) -> list[logging.Handler]:
    if not main:
        return []
    handlers: list[logging.Handler] = [logging.FileHandler(out / "train.log")]
    handlers[0].setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    if console:
        handlers.append(_ConsoleHandler())
        handlers[1].setFormatter(logging.Formatter(f"[{out.name}] %(message)s"))
    for h in handlers:
        log.addHandler(h)
    log.setLevel(logging.INFO)
    return handlers


def _worker_init(worker_id: int) -> None:
    """DataLoader worker setup: one intra-op thread per worker.

    Seeding needs no code here: each worker's torch/random/numpy seeds are ``base_seed + worker_id`` where
    ``base_seed`` comes from the loader's seeded generator (see :func:`_loader`), so they are distinct per
    worker and reproducible per epoch.
    """
    torch.set_num_threads(1)


# ---------------------------------------------------------------------------------------------------------------
# building blocks: data, model, optimiser
# ---------------------------------------------------------------------------------------------------------------
def _datasets(cfg: TrainConfig):
    from audionoise.kws.data import SpeechCommands

    kw = dict(labels=cfg.labels, clip_seconds=cfg.clip_seconds, sample_rate=cfg.sample_rate,
              silence_fraction=cfg.silence_fraction, unknown_fraction=cfg.unknown_fraction, seed=cfg.seed,
              preload=cfg.preload)
    train_ds = SpeechCommands(cfg.data, subset="training", **kw)
    val_ds = SpeechCommands(cfg.data, subset="validation", **kw)
    if len(train_ds) == 0:
        raise ValueError(f"no training clips found in {cfg.data!r} for labels={cfg.labels!r}")
    if list(val_ds.labels) != list(train_ds.labels):
        raise ValueError(f"validation labels {val_ds.labels} differ from training labels {train_ds.labels}")
    return train_ds, val_ds


def _loader(ds, cfg: TrainConfig, env: _Dist, epoch: int, device: torch.device) -> DataLoader:
    from audionoise.kws.data import collate

    sampler = DistributedSampler(ds, num_replicas=env.world, rank=env.rank, shuffle=True, seed=cfg.seed)
    sampler.set_epoch(epoch)
    gen = torch.Generator().manual_seed(derive_seed(cfg.seed, "loader", epoch, env.rank))
    return DataLoader(ds, batch_size=cfg.batch_size, sampler=sampler, num_workers=cfg.num_workers,
                      collate_fn=collate, generator=gen, worker_init_fn=_worker_init,
                      pin_memory=device.type == "cuda", drop_last=False)


def _val_loader(ds, cfg: TrainConfig, env: _Dist, device: torch.device) -> DataLoader:
    from audionoise.kws.data import collate

    shard = Subset(ds, range(env.rank, len(ds), env.world))
    return DataLoader(shard, batch_size=cfg.eval_batch_size, shuffle=False, num_workers=cfg.num_workers,
                      collate_fn=collate, worker_init_fn=_worker_init, pin_memory=device.type == "cuda")


def _lr_lambda(total_steps: int, warmup_steps: int):
    def fn(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return fn


def _amp_dtype(device: torch.device, enabled: bool) -> torch.dtype | None:
    if not enabled or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


# ---------------------------------------------------------------------------------------------------------------
# one epoch, validation, checkpoints
# ---------------------------------------------------------------------------------------------------------------
class _WeightAverage:
    """Exponential moving average of a model's floating-point parameters and buffers.

    After update ``n`` the average is ``a <- d a + (1 - d) w`` with ``d = min(decay, (1 + n) / (10 + n))``: the
    short memory of the first updates keeps the random initial weights from lingering in short runs. Integer
    buffers (BatchNorm's batch counter) are copied.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.module = copy.deepcopy(model).requires_grad_(False)
        self.decay = decay
        self.updates = 0

    @staticmethod
    def _tensors(model: nn.Module) -> tuple[list[Tensor], list[Tensor]]:
        tensors = list(model.parameters()) + list(model.buffers())
        return [t for t in tensors if t.is_floating_point()], [t for t in tensors if not t.is_floating_point()]

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        (avg_f, avg_i), (cur_f, cur_i) = self._tensors(self.module), self._tensors(model)
        torch._foreach_lerp_(avg_f, [t.detach() for t in cur_f], 1.0 - d)
        for a, c in zip(avg_i, cur_i):
            a.copy_(c)

    def state_dict(self) -> dict[str, Any]:
        return {"module": self.module.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state["module"])
        self.updates = int(state["updates"])


@dataclass
class _State:
    """Everything that changes while training (and goes into checkpoints)."""

    model: nn.Module  # DDP wrapper or the model itself
    raw: KeywordSpotter
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    aug: Augmentation
    aug_gen: torch.Generator
    amp_dtype: torch.dtype | None
    ema: _WeightAverage | None = None
    epoch: int = 0  # completed epochs
    best_val_acc: float = -1.0
    best_epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


class _StepTimer:
    """Wall time of whole training steps and of the augmentation inside them.

    On CPU every step is timed; on CUDA only every 10th (timing needs device syncs, which slow training).
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.timed = False
        self.step_s = self.aug_s = 0.0
        self.steps = 0
        self._t0 = 0.0

    def _sync(self) -> None:
        if self.timed and self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def start(self, step: int) -> None:
        self.timed = self.device.type == "cpu" or step % 10 == 5
        self._sync()
        self._t0 = time.perf_counter()

    @contextlib.contextmanager
    def augmenting(self):
        self._sync()
        t0 = time.perf_counter()
        yield
        self._sync()
        if self.timed:
            self.aug_s += time.perf_counter() - t0

    def stop(self) -> None:
        self._sync()
        if self.timed:
            self.step_s += time.perf_counter() - self._t0
            self.steps += 1

    def metrics(self) -> dict[str, float]:
        n = max(self.steps, 1)
        return {"aug_ms_per_step": 1000 * self.aug_s / n, "step_ms": 1000 * self.step_s / n,
                "aug_fraction": self.aug_s / self.step_s if self.step_s > 0 else 0.0}


def _all_reduce_sum(values: list[float], env: _Dist, device: torch.device) -> list[float]:
    totals = torch.tensor(values, dtype=torch.float64)
    if env.world > 1:  # NCCL reduces CUDA tensors only
        totals = totals.to(device)
        dist.all_reduce(totals)
    return totals.cpu().tolist()


def _train_epoch(st: _State, loader: DataLoader, cfg: TrainConfig, env: _Dist, device: torch.device,
                 epoch: int) -> dict[str, float]:
    st.model.train()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0
    timer = _StepTimer(device)

    def spec_aug(spec: Tensor, flen: Tensor) -> Tensor:
        with timer.augmenting():
            return st.aug.apply_spectrogram(spec, flen, st.aug_gen)

    bar = progress_bar(loader, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="batch",
                       enabled=cfg.progress and env.main, leave=False)
    for i, (x, lengths, y) in enumerate(bar):
        timer.start(i)
        x, lengths, y = (t.to(device, non_blocking=True) for t in (x, lengths, y))
        with timer.augmenting(), torch.no_grad():
            x = st.aug.apply_waveform(x, lengths, st.aug_gen)
        with torch.autocast(device_type=device.type, dtype=st.amp_dtype, enabled=st.amp_dtype is not None):
            logits = st.model(x, lengths, spec_transform=spec_aug if st.aug.spectrogram is not None else None)
            loss = F.cross_entropy(logits.float(), y, label_smoothing=cfg.label_smoothing)
        st.optimizer.zero_grad(set_to_none=True)
        st.scaler.scale(loss).backward()
        st.scaler.step(st.optimizer)
        st.scaler.update()
        st.scheduler.step()
        if st.ema is not None:
            st.ema.update(st.raw)
        loss_sum += loss.detach() * y.shape[0]
        correct += (logits.detach().argmax(1) == y).sum()
        seen += y.shape[0]
        timer.stop()
        if env.main and cfg.progress and i % 10 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}")
    loss_total, correct_total, n = _all_reduce_sum([loss_sum.item(), float(correct.item()), float(seen)], env,
                                                   device)
    return {"train_loss": loss_total / max(n, 1), "train_acc": correct_total / max(n, 1), **timer.metrics()}


@torch.no_grad()
def _validate(model: KeywordSpotter, loader: DataLoader, env: _Dist, device: torch.device,
              amp_dtype: torch.dtype | None) -> dict[str, float]:
    model.eval()
    loss_sum = correct = n = 0.0
    for x, lengths, y in loader:
        x, lengths, y = x.to(device), lengths.to(device), y.to(device)
        with torch.autocast(device_type=device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            logits = model(x, lengths).float()
        loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
        correct += (logits.argmax(1) == y).sum().item()
        n += y.shape[0]
    loss_sum, correct, n = _all_reduce_sum([loss_sum, correct, n], env, device)
    return {"val_loss": loss_sum / max(n, 1), "val_acc": correct / max(n, 1), "val_n": int(n)}


def _gather_generator_states(gen: torch.Generator, env: _Dist) -> list[Tensor]:
    state = gen.get_state()
    if env.world == 1:
        return [state]
    states: list[Any] = [None] * env.world
    dist.all_gather_object(states, state)
    return states


def _eval_model(st: _State) -> KeywordSpotter:
    """The model to validate, save as ``model`` and evaluate: the weight average when there is one."""
    return st.raw if st.ema is None else st.ema.module


def _checkpoint(st: _State, cfg: TrainConfig, labels: list[str], aug_states: list[Tensor]) -> dict[str, Any]:
    return {
        "version": CHECKPOINT_VERSION,
        "model": _eval_model(st).state_dict(),
        "train_model": st.raw.state_dict(),
        "ema": None if st.ema is None else st.ema.state_dict(),
        "model_config": st.raw.config.to_dict(),
        "labels": list(labels),
        "train_config": cfg.to_dict(),
        "augmentation": st.aug.config,
        "optimizer": st.optimizer.state_dict(),
        "scheduler": st.scheduler.state_dict(),
        "scaler": st.scaler.state_dict(),
        "aug_generator_states": aug_states,
        "epoch": st.epoch,
        "best_val_acc": st.best_val_acc,
        "best_epoch": st.best_epoch,
        "history": st.history,
    }


def _save(obj: dict[str, Any], path: Path) -> None:
    _atomic_write_bytes(path, lambda p: torch.save(obj, p))


def _check_resumable(saved: dict[str, Any], cfg: TrainConfig, path: Path) -> None:
    old = saved.get("train_config", {})
    changed = [k for k in _RESUME_FIXED if k in old and old[k] != getattr(cfg, k)]
    if changed:
        diffs = ", ".join(f"{k}: {old[k]!r} -> {getattr(cfg, k)!r}" for k in changed)
        raise ValueError(f"cannot resume {str(path)!r}: {diffs} changed since the checkpoint; "
                         f"use the original settings or a new --out")


def _restore(st: _State, saved: dict[str, Any], env: _Dist, device: torch.device) -> None:
    st.raw.load_state_dict(saved["train_model"])
    if st.ema is not None:
        st.ema.load_state_dict(saved["ema"])
    st.optimizer.load_state_dict(saved["optimizer"])
    st.scheduler.load_state_dict(saved["scheduler"])
    st.scaler.load_state_dict(saved["scaler"])
    states = saved.get("aug_generator_states") or []
    if len(states) == env.world:
        st.aug_gen.set_state(states[env.rank])
    else:
        log.info("checkpoint has %d augmentation generator state(s) for %d process(es): reseeding per epoch",
                 len(states), env.world)
        st.aug_gen.manual_seed(derive_seed(saved["train_config"]["seed"], "augment", env.rank, saved["epoch"]))
    st.epoch = int(saved["epoch"])
    st.best_val_acc = float(saved["best_val_acc"])
    st.best_epoch = int(saved["best_epoch"])
    st.history = list(saved["history"])


# ---------------------------------------------------------------------------------------------------------------
# the trainer
# ---------------------------------------------------------------------------------------------------------------
def train(cfg: TrainConfig) -> dict[str, Any]:
    """Train a keyword spotter as described by ``cfg``; return a summary dict.

    Files in ``cfg.out``: ``config.toml`` (the resolved config), ``train.log``, ``metrics.json`` (per-epoch
    metrics, updated every epoch), ``last.pt`` and ``best.pt`` (see :func:`audionoise.kws.model.load_model`).

    Returns:
        ``{"run_dir", "labels", "params", "epochs_done", "best_epoch", "best_val_acc", "last_val_acc",
        "aug_fraction", "history"}``.

    Raises:
        ValueError: bad config, missing data, or an existing run without ``resume``.
    """
    keep_freed_memory()  # no page faults on every batch-sized buffer (audionoise.runtime)
    env, device = _setup_distributed(cfg.device)
    out = Path(cfg.out)
    last_path, best_path = out / "last.pt", out / "best.pt"
    if env.main:
        out.mkdir(parents=True, exist_ok=True)
    if env.world > 1:
        dist.barrier()
    if last_path.exists() and not cfg.resume:
        raise ValueError(f"{str(out)!r} already holds a run (last.pt); pass --resume to continue it or choose "
                         f"another --out")
    threads, previous_threads = cfg.threads, torch.get_num_threads()
    if threads is None and env.world > 1 and device.type == "cpu":
        threads = max(1, (os.cpu_count() or 1) // env.world)
    if threads is not None:
        torch.set_num_threads(threads)
    handlers = _setup_logging(out, env.main, cfg.progress)
    try:
        return _run(cfg, env, device, out, last_path, best_path)
    finally:
        torch.set_num_threads(previous_threads)
        for h in handlers:
            log.removeHandler(h)
            h.close()


def _run(cfg: TrainConfig, env: _Dist, device: torch.device, out: Path, last_path: Path,
         best_path: Path) -> dict[str, Any]:
    train_ds, val_ds = _datasets(cfg)
    labels = list(train_ds.labels)
    model_cfg = ModelConfig(n_classes=len(labels), arch=cfg.arch, sample_rate=cfg.sample_rate, n_mels=cfg.n_mels,
                            width=cfg.width)
    raw = init_weights(KeywordSpotter(model_cfg), torch.Generator().manual_seed(derive_seed(cfg.seed, "init")))
    raw.to(device)
    model: nn.Module = raw
    if env.world > 1:
        model = nn.parallel.DistributedDataParallel(raw, device_ids=[device.index] if device.type == "cuda" else None)
    aug = build_augmentation(cfg.augment, noise_dir=cfg.noise_dir, data_root=cfg.data,
                             sample_rate=cfg.sample_rate).to(device)
    aug_gen = torch.Generator(device=device).manual_seed(derive_seed(cfg.seed, "augment", env.rank))
    steps_per_epoch = len(_loader(train_ds, cfg, env, 0, device))
    optimizer = torch.optim.AdamW(raw.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    total_steps = cfg.epochs * steps_per_epoch
    warmup_steps = min(round(cfg.warmup_epochs * steps_per_epoch), total_steps // 5)  # short runs still decay
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(total_steps, warmup_steps))
    amp_dtype = _amp_dtype(device, cfg.amp)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    ema = None
    if cfg.ema_epochs > 0:
        decay = 1.0 - 1.0 / max(1.0, cfg.ema_epochs * steps_per_epoch)
        ema = _WeightAverage(raw, decay)
    st = _State(model, raw, optimizer, scheduler, scaler, aug, aug_gen, amp_dtype, ema)

    if cfg.resume and last_path.exists():
        saved = torch.load(last_path, map_location=device, weights_only=True)
        _check_resumable(saved, cfg, last_path)
        _restore(st, saved, env, device)
        log.info("resumed %s at epoch %d", last_path, st.epoch)
    elif env.main:
        _write_toml(out / "config.toml", cfg.to_dict())
        if aug.config is not None:
            _write_json(out / "augmentation.json", aug.config)
        log.info("training %s: %d train / %d validation clips, %d classes, %d parameters, device %s, world %d",
                 cfg.data, len(train_ds), len(val_ds), len(labels), count_parameters(raw), device, env.world)

    val_loader = _val_loader(val_ds, cfg, env, device)
    epochs_this_run = 0
    while st.epoch < cfg.epochs and (cfg.stop_after is None or epochs_this_run < cfg.stop_after):
        epoch = st.epoch
        t0 = time.perf_counter()
        metrics = _train_epoch(st, _loader(train_ds, cfg, env, epoch, device), cfg, env, device, epoch)
        metrics.update(_validate(_eval_model(st), val_loader, env, device, amp_dtype))
        metrics.update(epoch=epoch + 1, lr=scheduler.get_last_lr()[0], seconds=time.perf_counter() - t0)
        st.epoch = epoch + 1
        epochs_this_run += 1
        st.history.append(metrics)
        improved = metrics["val_acc"] > st.best_val_acc
        if improved:
            st.best_val_acc, st.best_epoch = metrics["val_acc"], st.epoch
        aug_states = _gather_generator_states(st.aug_gen, env)
        if env.main:
            ckpt = _checkpoint(st, cfg, labels, aug_states)
            _save(ckpt, last_path)
            if improved:
                _save(ckpt, best_path)
            _write_json(out / "metrics.json", _metrics_doc(st, cfg, labels, raw))
            log.info("epoch %d/%d train_loss %.4f train_acc %.4f val_loss %.4f val_acc %.4f lr %.2e %.1fs "
                     "(augmentation %.1f%% of a step)%s", st.epoch, cfg.epochs, metrics["train_loss"],
                     metrics["train_acc"], metrics["val_loss"], metrics["val_acc"], metrics["lr"],
                     metrics["seconds"], 100 * metrics["aug_fraction"], "  *best*" if improved else "")
        if env.world > 1:
            dist.barrier()
    return _summary(st, cfg, labels, raw, out)


def _metrics_doc(st: _State, cfg: TrainConfig, labels: list[str], raw: KeywordSpotter) -> dict[str, Any]:
    return {
        "labels": labels,
        "params": count_parameters(raw),
        "best_epoch": st.best_epoch,
        "best_val_acc": st.best_val_acc,
        "epochs": st.history,
        "config": cfg.to_dict(),
    }


def _summary(st: _State, cfg: TrainConfig, labels: list[str], raw: KeywordSpotter, out: Path) -> dict[str, Any]:
    fractions = [h["aug_fraction"] for h in st.history if h.get("step_ms", 0) > 0]
    return {
        "run_dir": str(out),
        "labels": labels,
        "params": count_parameters(raw),
        "epochs_done": st.epoch,
        "best_epoch": st.best_epoch,
        "best_val_acc": st.best_val_acc,
        "last_val_acc": st.history[-1]["val_acc"] if st.history else None,
        "aug_fraction": sum(fractions) / len(fractions) if fractions else 0.0,
        "history": st.history,
    }
