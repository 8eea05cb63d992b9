"""Keyword-spotting trainer: ``train(cfg)``, read top to bottom. One training step is

    f, y = batch.features, batch.labels                  # CPU: a batch prepared in a DataLoader worker
    # (GPU: x, lengths, y = batch; x, lengths = aug.apply_waveform(x, lengths, g); f, frames = frontend(x, lengths);
    #       f = aug.apply_spectrogram(f, frames, g)   -- on the device, in the step)
    loss = cross_entropy(model(f), y)                    # network, loss; then AdamW, schedule, weight average

Batch ``b`` of epoch ``e`` is augmented with a generator seeded by ``(seed, e, b)``
(:mod:`audionoise.kws.batches`): on the CPU, DataLoader workers load, augment and featurise whole batches
while the step runs (the augmentation is off the critical path); on a GPU the step augments on the device.
Either way a batch depends on ``(seed, epoch, batch index)`` only, so results do not depend on
``num_workers`` and a resume needs no generator state. AdamW with linear warm-up and cosine decay, AMP on CUDA,
and a moving average of the weights (``torch.optim.swa_utils.AveragedModel``) that is what gets validated and
saved for inference. Every epoch ends with validation, ``last.pt`` (and ``best.pt`` when validation accuracy
improves; see :mod:`audionoise.kws.checkpoint`), ``metrics.json`` and a line in ``train.log``. ``resume=True``
continues from ``last.pt`` exactly: the data order is a function of ``(seed, epoch)`` and everything else is
restored, so 2 epochs == 1 epoch + resume 1 epoch, bit for bit on CPU.

Under ``torchrun --nproc_per_node=N -m audionoise train ...`` it runs DistributedDataParallel
(:mod:`audionoise.kws.distributed`): each rank trains on its shard with its own augmentation seed,
validation is sharded and summed, rank 0 writes the files.

Example:
    >>> cfg = TrainConfig(data="data/generated/kws", out="runs/demo", epochs=1)  # doctest: +SKIP
    >>> summary = train(cfg)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel
from torch.utils.data import DataLoader, Subset

from audionoise import io
from audionoise.io.files import atomic_write
from audionoise.kernels.seeds import derive_seed
from audionoise.kws import distributed
from audionoise.runtime.progress import progress as progress_bar
from audionoise.data import batch_generator
from audionoise.robustness.evaluation import noise_windows
from audionoise.functional import mix_at_snr
from audionoise.kws.augment import Augmentation, build_augmentation
from audionoise.kws.batches import ClipBatches, PreparedBatches, epoch_batches, first
from audionoise.kws.checkpoint import TrainState, checkpoint_doc, load_checkpoint, restore, save_checkpoint
from audionoise.kws.config import TrainConfig, clean_share, curriculum_plan, describe_curriculum, load_train_config
from audionoise.kws.data import SpeechCommands, collate, split_unreadable
from audionoise.kws.distributed import Dist
from audionoise.kws.features import LogMel
from audionoise.kws.model import KeywordSpotter, ModelConfig, count_parameters, init_weights, make_frontend
from audionoise.kws.monitor import StepTimer, WaitTimer, run_log
from audionoise.runtime import keep_freed_memory
from audionoise.corpora.scan import BadFile, BadFilesError, write_bad_files

__all__ = ["TrainConfig", "load_train_config", "train"]

log = logging.getLogger("audionoise.kws.train")


@dataclass
class _Run:
    """The fixed parts of a run, built once: where it runs and the modules a step goes through."""

    cfg: TrainConfig
    env: Dist
    device: torch.device
    amp_dtype: torch.dtype | None
    net: nn.Module  # the model, wrapped in DistributedDataParallel under torchrun
    frontend: LogMel
    aug: Augmentation
    out: Path
    bad: list[BadFile]  # unreadable files met so far (header check at start, then mid-epoch)
    skipped_at_start: int = 0
    aug_seed: int = 0  # this rank's augmentation seed: batch b of epoch e uses batch_generator(aug_seed, e, b)
    val_bank: Any = None  # training-noise bank of the noisy validation pass (select_on = "clean+noisy")

    @property
    def prepare_in_workers(self) -> bool:
        """CPU: DataLoader workers augment and featurise whole batches; GPU: the step does, on the device."""
        return self.device.type == "cpu"

    def report_unreadable(self, ds: SpeechCommands, indices: list[int], where: str) -> int:
        """Log (once per file) and list the clips of ``ds`` that failed to decode; return how many there were."""
        known = {b.path for b in self.bad}
        for i in indices:
            path = str(ds.files[i])
            if path in known:
                continue
            try:
                io.load(path)
                reason = "failed to decode during the run (readable now: flaky storage?)"
            except io.AudioFileError as err:
                reason = err.reason
            self.bad.append(BadFile(path, reason))
            known.add(path)
            log.warning("skipped unreadable file during %s: %s: %s", where, path, reason)
            if self.env.main:
                write_bad_files(self.out / "bad_files.txt", self.bad)
        return len(indices)


# ---------------------------------------------------------------------------------------------------------------
# the trainer
# ---------------------------------------------------------------------------------------------------------------
def train(cfg: TrainConfig) -> dict[str, Any]:
    """Train a keyword spotter as described by ``cfg``; return a summary dict.

    Files in ``cfg.out``: ``config.toml`` (the resolved config), ``augmentation.json``, ``run.json`` (the resolved
    curriculum, :func:`~audionoise.kws.config.curriculum_plan`), ``train.log``,
    ``metrics.json`` (per-epoch metrics, updated every epoch), ``last.pt`` and ``best.pt``
    (see :func:`audionoise.kws.checkpoint.load_model`).

    Returns:
        ``{"run_dir", "labels", "params", "epochs_done", "best_epoch", "best_val_acc", "last_val_acc",
        "aug_fraction", "history"}``.

    Raises:
        ValueError: bad config, missing data, or an existing run without ``resume``.
    """
    keep_freed_memory()  # no page faults on every batch-sized buffer (audionoise.runtime)
    env, device = distributed.setup(cfg.device)
    out = Path(cfg.out)
    if env.main:
        out.mkdir(parents=True, exist_ok=True)
    distributed.barrier(env)
    if (out / "last.pt").exists() and not cfg.resume:
        raise ValueError(f"{str(out)!r} already holds a run (last.pt); pass --resume to continue it or choose "
                         f"another --out")
    with _threads(cfg, env, device), run_log(out, env.main, cfg.progress):
        return _train(cfg, env, device, out)


def _train(cfg: TrainConfig, env: Dist, device: torch.device, out: Path) -> dict[str, Any]:
    # data
    train_ds, val_ds = _datasets(cfg)
    bad = _check_files(cfg, out, env, train_ds, val_ds)
    labels = list(train_ds.labels)
    steps_per_epoch = len(epoch_batches(len(train_ds), cfg.batch_size, cfg.seed, 0, env.world, env.rank))
    val_loader = _val_loader(val_ds, cfg, env, device)
    # model, features, augmentation
    model_cfg = ModelConfig(n_classes=len(labels), arch=cfg.arch, sample_rate=cfg.sample_rate, n_mels=cfg.n_mels,
                            width=cfg.width)
    model = init_weights(KeywordSpotter(model_cfg), torch.Generator().manual_seed(derive_seed(cfg.seed, "init")))
    model.to(device)
    net: nn.Module = model
    if env.world > 1:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    aug = build_augmentation(cfg.augment, noise_dir=cfg.noise_dir, data_root=cfg.data,
                             sample_rate=cfg.sample_rate).to(device)
    amp_dtype = _amp_dtype(device, cfg.amp)
    run = _Run(cfg, env, device, amp_dtype, net, make_frontend(model_cfg).to(device), aug, out, list(bad), len(bad),
               derive_seed(cfg.seed, "augment", env.rank), _validation_noise(cfg, device))
    # optimisation state
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    total_steps = cfg.epochs * steps_per_epoch
    warmup_steps = min(round(cfg.warmup_epochs * steps_per_epoch), total_steps // 5)  # short runs still decay
    st = TrainState(
        model=model,
        optimizer=optimizer,
        scheduler=torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(total_steps, warmup_steps)),
        scaler=torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16),
        ema=_weight_average(model, cfg.ema_epochs * steps_per_epoch),
    )

    last_path, best_path = out / "last.pt", out / "best.pt"
    if cfg.resume and last_path.exists():
        restore(st, load_checkpoint(last_path), cfg, env)
        log.info("resumed %s at epoch %d", last_path, st.epoch)
    elif env.main:
        import tomli_w

        atomic_write(out / "config.toml", tomli_w.dumps({k: v for k, v in cfg.to_dict().items() if v is not None}))
        if aug.config is not None:
            _write_json(out / "augmentation.json", aug.config)
        log.info("training %s: %d train / %d validation clips, %d classes, %d parameters, device %s, world %d",
                 cfg.data, len(train_ds), len(val_ds), len(labels), count_parameters(model), device, env.world)
    if env.main:
        _announce_curriculum(cfg, out)

    epochs_this_run = 0
    while st.epoch < cfg.epochs and (cfg.stop_after is None or epochs_this_run < cfg.stop_after):
        t0 = time.perf_counter()
        metrics = _train_epoch(run, st, _loader(run, train_ds, st.epoch))
        metrics["train_seconds"] = time.perf_counter() - t0
        metrics.update(_validate(run, st.eval_model, val_loader))
        metrics.update(epoch=st.epoch + 1, lr=st.scheduler.get_last_lr()[0], seconds=time.perf_counter() - t0)
        improved = st.end_epoch(metrics)
        epochs_this_run += 1
        if env.main:
            doc = checkpoint_doc(st, cfg, labels, aug.config)
            save_checkpoint(doc, last_path)
            if improved:
                save_checkpoint(doc, best_path)
            _write_json(out / "metrics.json", {"labels": labels, "params": count_parameters(model),
                                               "best_epoch": st.best_epoch, "best_val_acc": st.best_val_acc,
                                               "bad_files": {"skipped_at_start": run.skipped_at_start,
                                                             "unreadable_total": len(run.bad),
                                                             "list": "bad_files.txt" if run.bad else None},
                                               "epochs": st.history, "config": cfg.to_dict()})
            log.info("epoch %d/%d train_loss %.4f train_acc %.4f val_loss %.4f val_acc %.4f lr %.2e %.1fs "
                     "(augmentation %.1f%% of a step, %.1f ms/batch in workers; waiting for data %.1f%%)%s",
                     st.epoch, cfg.epochs, metrics["train_loss"], metrics["train_acc"], metrics["val_loss"],
                     metrics["val_acc"], metrics["lr"], metrics["seconds"], 100 * metrics["aug_fraction"],
                     metrics["worker_aug_ms_per_batch"], 100 * metrics["data_wait_fraction"],
                     "  *best*" if improved else "")
        distributed.barrier(env)
    return _summary(st, labels, out)


def _announce_curriculum(cfg: TrainConfig, out: Path) -> None:
    """Log the resolved curriculum, save it in ``run.json``, and warn when no epoch would get any noise."""
    line, warning = describe_curriculum(cfg)
    _write_json(out / "run.json", {"augment": cfg.augment, "epochs": cfg.epochs, **curriculum_plan(cfg)})
    log.info(line)
    if warning is not None:
        log.warning("warning: %s", warning)
        if not cfg.progress:  # the console handler is off: the warning still reaches the terminal
            print(f"audionoise train: warning: {warning}", file=sys.stderr)


def _train_epoch(run: _Run, st: TrainState, loader: DataLoader) -> dict[str, float]:
    cfg, device = run.cfg, run.device
    run.net.train()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = skipped = 0
    timer = StepTimer(device)
    waits = WaitTimer()
    bar = progress_bar(loader, desc=f"epoch {st.epoch + 1}/{cfg.epochs}", unit="batch",
                       enabled=cfg.progress and run.env.main, leave=False)
    for i, batch in enumerate(waits.wrap(bar)):
        if batch.unreadable:  # files that failed to decode: reported and left out of the batch
            skipped += run.report_unreadable(loader.dataset.dataset, batch.unreadable, f"epoch {st.epoch + 1}")
            if batch.labels.numel() == 0:
                continue
        timer.start(i)
        f, y = _features(run, batch, st.epoch, timer)
        with torch.autocast(device_type=device.type, dtype=run.amp_dtype, enabled=run.amp_dtype is not None):
            logits = run.net(f).float()
        loss = F.cross_entropy(logits, y, label_smoothing=cfg.label_smoothing)
        st.optimizer.zero_grad(set_to_none=True)
        st.scaler.scale(loss).backward()
        st.scaler.step(st.optimizer)
        st.scaler.update()
        st.scheduler.step()
        if st.ema is not None:
            st.ema.update_parameters(st.model)
        loss_sum += loss.detach() * y.shape[0]
        correct += (logits.detach().argmax(1) == y).sum()
        seen += y.shape[0]
        timer.stop()
        waits.add_work(batch.aug_s)
        if cfg.progress and run.env.main and i % 10 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}")
    loss_total, correct_total, n = distributed.all_reduce_sum([loss_sum.item(), float(correct.item()), float(seen)],
                                                              run.env, device)
    return {"train_loss": loss_total / max(n, 1), "train_acc": correct_total / max(n, 1), **timer.metrics(),
            **waits.metrics(timer.step_s), "skipped_unreadable": skipped, "clean_share": clean_share(cfg, st.epoch)}


def _features(run: _Run, batch, epoch: int, timer: StepTimer) -> tuple[Tensor, Tensor]:
    """The batch's augmented log-Mel features and labels on the device (augmented here when on a GPU)."""
    device = run.device
    if run.prepare_in_workers:
        return batch.features.to(device), batch.labels.to(device)
    x, lengths, y = (t.to(device, non_blocking=True) for t in (batch.x, batch.lengths, batch.labels))
    gen = batch_generator(run.aug_seed, epoch, batch.index, device)
    with torch.no_grad():
        with timer.augmenting():
            x, lengths = run.aug.apply_waveform(x, lengths, gen, clean_share(run.cfg, epoch))
        f, frames = run.frontend(x, lengths)
        with timer.augmenting():
            f = run.aug.apply_spectrogram(f, frames, gen)
    return f, y


@torch.no_grad()
def _validate(run: _Run, model: KeywordSpotter, loader: DataLoader) -> dict[str, float]:
    """Validation loss and accuracy; with ``select_on = "clean+noisy"`` also the accuracy at ``val_snr_db``
    (training noise, one window per validation clip from ``(seed, clip)``) and ``val_score``, their mean."""
    model.eval()
    loss_sum = correct = noisy_correct = n = 0.0
    indices = loader.dataset.indices
    pos = 0
    for x, lengths, y in loader:
        rows = indices[pos:pos + y.shape[0]]
        pos += y.shape[0]
        x, lengths, y, bad = split_unreadable(x, lengths, y)
        if bad:
            run.report_unreadable(loader.dataset.dataset, bad, "validation")  # dataset indices
            rows = [r for r in rows if r not in set(bad)]
            if y.numel() == 0:
                continue
        x, lengths, y = x.to(run.device), lengths.to(run.device), y.to(run.device)
        logits = _logits(run, model, x, lengths)
        loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
        correct += (logits.argmax(1) == y).sum().item()
        n += y.shape[0]
        if run.val_bank is not None:
            noise = noise_windows(run.val_bank, [f"validation#{r}" for r in rows], x.shape[-1], run.cfg.seed)
            noisy = mix_at_snr(x, noise.to(run.device)[:, None], run.cfg.val_snr_db, lengths)
            noisy_correct += (_logits(run, model, noisy, lengths).argmax(1) == y).sum().item()
    loss_sum, correct, noisy_correct, n = distributed.all_reduce_sum([loss_sum, correct, noisy_correct, n], run.env,
                                                                     run.device)
    out = {"val_loss": loss_sum / max(n, 1), "val_acc": correct / max(n, 1), "val_n": int(n)}
    if run.val_bank is not None:
        out["val_noisy_acc"] = noisy_correct / max(n, 1)
        out["val_score"] = (out["val_acc"] + out["val_noisy_acc"]) / 2
    return out


def _logits(run: _Run, model: KeywordSpotter, x: Tensor, lengths: Tensor) -> Tensor:
    f, _ = run.frontend(x, lengths)
    with torch.autocast(device_type=run.device.type, dtype=run.amp_dtype, enabled=run.amp_dtype is not None):
        return model(f).float()


def _validation_noise(cfg: TrainConfig, device: torch.device):
    """The training-noise bank of the noisy validation pass, or ``None`` when the run selects on clean only."""
    if cfg.select_on != "clean+noisy":
        return None
    from audionoise import NoiseBank
    from audionoise.kws.augment import resolve_noise_dir

    return NoiseBank.from_folder(resolve_noise_dir(cfg.noise_dir, cfg.data), cfg.sample_rate).to(device)


def _summary(st: TrainState, labels: list[str], out: Path) -> dict[str, Any]:
    fractions = [h["aug_fraction"] for h in st.history if h.get("step_ms", 0) > 0]
    return {
        "run_dir": str(out),
        "labels": labels,
        "params": count_parameters(st.model),
        "epochs_done": st.epoch,
        "best_epoch": st.best_epoch,
        "best_val_acc": st.best_val_acc,
        "last_val_acc": st.history[-1]["val_acc"] if st.history else None,
        "aug_fraction": sum(fractions) / len(fractions) if fractions else 0.0,
        "history": st.history,
    }


# ---------------------------------------------------------------------------------------------------------------
# building blocks: data, schedule, precision, weight average
# ---------------------------------------------------------------------------------------------------------------
def _datasets(cfg: TrainConfig) -> tuple[SpeechCommands, SpeechCommands]:
    kw = dict(labels=cfg.labels, clip_seconds=cfg.clip_seconds, sample_rate=cfg.sample_rate,
              silence_fraction=cfg.silence_fraction, unknown_fraction=cfg.unknown_fraction, seed=cfg.seed,
              skip_unreadable=True)
    train_ds = SpeechCommands(cfg.data, subset="training", **kw)
    val_ds = SpeechCommands(cfg.data, subset="validation", **kw)
    if len(train_ds) == 0:
        raise ValueError(f"no training clips found in {cfg.data!r} for labels={cfg.labels!r}")
    if list(val_ds.labels) != list(train_ds.labels):
        raise ValueError(f"validation labels {val_ds.labels} differ from training labels {train_ds.labels}")
    return train_ds, val_ds


def _check_files(cfg: TrainConfig, out: Path, env: Dist, train_ds: SpeechCommands,
                 val_ds: SpeechCommands) -> list[BadFile]:
    """Read every clip's header before training (no decoding); stop on unreadable ones unless ``skip_bad``.

    All of them are listed at once, one line each, in the log and in ``out/bad_files.txt``. With ``skip_bad``
    they are left out of both subsets; otherwise :class:`~audionoise.corpora.scan.BadFilesError` is raised.
    """
    t0 = time.perf_counter()
    bad = train_ds.check_files() + val_ds.check_files()
    log.info("checked %d audio file headers in %.1fs: %d unreadable", len(train_ds.files) + len(val_ds.files),
             time.perf_counter() - t0, len(bad))
    if bad:
        if env.main:
            write_bad_files(out / "bad_files.txt", bad)
        for b in bad:
            log.warning("unreadable: %s", b.line())
        if not cfg.skip_bad:
            raise BadFilesError(bad, f"data set {cfg.data}", f"fix or remove them, or pass --skip-bad to train "
                                f"without them (the list is in {out / 'bad_files.txt'})")
        removed = train_ds.exclude(b.path for b in bad) + val_ds.exclude(b.path for b in bad)
        log.warning("skipping %d unreadable file(s) (--skip-bad); listed in %s", removed, out / "bad_files.txt")
    if cfg.preload:
        train_ds.preload()
        val_ds.preload()
    return bad


def _worker_init(worker_id: int) -> None:
    """DataLoader worker setup: one intra-op thread per worker.

    Seeding needs no code here: each worker's torch/random/numpy seeds are ``base_seed + worker_id`` where
    ``base_seed`` comes from the loader's seeded generator (see :func:`_loader`), so they are distinct per
    worker and reproducible per epoch.
    """
    torch.set_num_threads(1)


def _loader(run: _Run, ds: SpeechCommands, epoch: int) -> DataLoader:
    """The training batches of ``epoch`` on this rank: batch ``b`` depends only on ``(seed, epoch, b)``.

    On the CPU each item is a :class:`~audionoise.kws.batches.PreparedBatch` (augmented features, built in the
    ``num_workers`` worker processes while the step runs); on a GPU a loaded, collated clip batch.
    """
    cfg, env, device = run.cfg, run.env, run.device
    batches = epoch_batches(len(ds), cfg.batch_size, cfg.seed, epoch, env.world, env.rank)
    if run.prepare_in_workers:
        items = PreparedBatches(ds, batches, run.aug, run.frontend, run.aug_seed, epoch, clean_share(cfg, epoch))
    else:
        items = ClipBatches(ds, batches)
    gen = torch.Generator().manual_seed(derive_seed(cfg.seed, "loader", epoch, env.rank))
    return DataLoader(items, batch_size=None, shuffle=False, num_workers=cfg.num_workers, collate_fn=first,
                      generator=gen, worker_init_fn=_worker_init, pin_memory=device.type == "cuda")


def _val_loader(ds: SpeechCommands, cfg: TrainConfig, env: Dist, device: torch.device) -> DataLoader:
    shard = Subset(ds, range(env.rank, len(ds), env.world))
    return DataLoader(shard, batch_size=cfg.eval_batch_size, shuffle=False, num_workers=cfg.num_workers,
                      collate_fn=collate, worker_init_fn=_worker_init, pin_memory=device.type == "cuda")


def _lr_lambda(total_steps: int, warmup_steps: int):
    """Learning-rate factor of step ``s``: linear warm-up to 1 over ``warmup_steps``, then cosine to 0."""
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


def _ema_with_warmup(decay: float):
    """``multi_avg_fn`` for :class:`~torch.optim.swa_utils.AveragedModel`: an EMA whose decay ramps up.

    Update with ``n`` weight sets already averaged: ``a <- d a + (1 - d) w`` with ``d = min(decay, (1 + n) /
    (10 + n))``. Not torch's ``get_ema_multi_avg_fn(decay)``: its constant decay keeps the weights of the first
    steps (copied at the first update) in the average for ~``1 / (1 - decay)`` steps, thousands in a real run;
    the ramp forgets them within a few dozen. Integer buffers (BatchNorm's ``num_batches_tracked``) take the
    current value instead of a truncated average. (``AveragedModel.update_parameters`` reads its ``n_averaged``
    counter on the host, one device sync per step on CUDA; ``float(n_averaged)`` here adds none.)
    """
    @torch.no_grad()
    def update(averaged: list[Tensor], current: list[Tensor], n_averaged: Tensor) -> None:
        if not averaged[0].is_floating_point():
            for a, c in zip(averaged, current):
                a.copy_(c)
            return
        n = float(n_averaged)
        torch._foreach_lerp_(averaged, current, 1.0 - min(decay, (1.0 + n) / (10.0 + n)))

    return update


def _weight_average(model: nn.Module, horizon_steps: float) -> AveragedModel | None:
    """Average of the weights and of the BatchNorm statistics (``use_buffers=True``) over ~``horizon_steps``."""
    if horizon_steps <= 0:
        return None
    decay = 1.0 - 1.0 / max(1.0, horizon_steps)
    return AveragedModel(model, multi_avg_fn=_ema_with_warmup(decay), use_buffers=True).requires_grad_(False)


# ---------------------------------------------------------------------------------------------------------------
# process settings and files
# ---------------------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _threads(cfg: TrainConfig, env: Dist, device: torch.device):
    """``cfg.threads`` torch threads during the run (split between ranks on a CPU under DDP), restored after."""
    threads, previous = cfg.threads, torch.get_num_threads()
    if threads is None and env.world > 1 and device.type == "cpu":
        threads = max(1, (os.cpu_count() or 1) // env.world)
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _write_json(path: Path, obj: Any) -> None:
    atomic_write(path, json.dumps(obj, indent=2) + "\n")
