"""Background-noise mixing from a bank of noise clips held in memory (or memory-mapped), on any device."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from audionoise._fs import atomic_write
from audionoise.functional._checks import expand_to, valid_mask
from audionoise.transforms._mixing import LOW_PRECISION, add_scaled_noise, check_snr_reference
from audionoise.transforms.base import (Injector, Params, check_range, check_sample_rate, draw, like, scale_int,
                                        scale_uniform, tensor)


class NoiseBank(nn.Module):
    """All noise clips of a folder, decoded and resampled once, as one contiguous mono tensor.

    ``data`` holds the clips back to back; clip ``k`` is ``data[starts[k] : starts[k] + lengths[k]]``.
    :meth:`windows` cuts a window of any length from any offset of any clip, looping clips circularly, with one
    vectorized gather (a per-length extended copy of the bank is built once and cached). The bank is an
    ``nn.Module``: ``.to(device)`` moves it (e.g. to the GPU, where mixing then runs without host syncs).

    Example:
        >>> bank = NoiseBank.from_tensors([torch.randn(8000), torch.randn(24000)], sample_rate=16000)
        >>> bank.windows(torch.tensor([0, 1]), torch.tensor([7999, 0]), 16000).shape
        torch.Size([2, 16000])
    """

    def __init__(self, data: Tensor, starts: Tensor, lengths: Tensor, sample_rate: int, names: list[str],
                 source: str | None = None, skipped: list[dict] | None = None) -> None:
        super().__init__()
        if len(names) == 0:
            raise ValueError(f"noise bank from {source or 'tensors'} holds no usable (non-silent) clip; add noise "
                             f"files (wav, flac, ogg, ...) with some signal in them")
        self.register_buffer("data", data, persistent=False)
        self.register_buffer("starts", starts.long(), persistent=False)
        self.register_buffer("lengths", lengths.long(), persistent=False)
        self.sample_rate, self.names, self.source = int(sample_rate), list(names), source
        self.skipped = list(skipped or [])
        self._extended: dict[tuple, tuple[Tensor, Tensor]] = {}

    # -- construction -------------------------------------------------------------------------------------------
    @classmethod
    def from_tensors(cls, clips: list[Tensor], sample_rate: int, names: list[str] | None = None,
                     source: str | None = None) -> "NoiseBank":
        """Build a bank from 1-D (or (channels, time), averaged to mono) clips; all-zero clips are skipped."""
        names = list(names) if names is not None else [f"clip{i}" for i in range(len(clips))]
        kept, kept_names, skipped = [], [], []
        for name, clip in zip(names, clips):
            clip = torch.as_tensor(clip, dtype=torch.float32)
            clip = clip.mean(0) if clip.dim() == 2 else clip.reshape(-1)
            if clip.numel() == 0 or not bool(torch.isfinite(clip).all()) or not bool(clip.abs().max() > 0):
                reason = "empty" if clip.numel() == 0 else (
                    "non-finite samples" if not bool(torch.isfinite(clip).all()) else "all-zero (digital silence)")
                skipped.append({"clip": name, "reason": reason})
                continue
            kept.append(clip)
            kept_names.append(name)
        lengths = torch.tensor([c.numel() for c in kept], dtype=torch.long)
        starts = torch.cumsum(lengths, 0) - lengths
        data = torch.cat(kept) if kept else torch.zeros(0)
        return cls(data, starts, lengths, sample_rate, kept_names, source, skipped)

    @classmethod
    def from_folder(cls, path: str | os.PathLike, sample_rate: int, cache_dir: str | os.PathLike | None = None,
                    extensions: set[str] | None = None) -> "NoiseBank":
        """Decode every audio file under ``path`` (recursively, sorted) once, resampled to ``sample_rate``.

        With ``cache_dir`` the decoded bank is stored there as ``.npy`` and memory-mapped on later calls (keyed
        by the files' names, sizes and modification times and the sample rate), so a large noise set costs no
        decoding and little RAM in every DataLoader worker.
        """
        from audionoise import io as aio

        root = Path(path)
        if not root.is_dir():
            raise ValueError(f"noise folder {str(root)!r} does not exist or is not a folder; pass a folder of noise "
                             f"recordings (wav/flac/ogg/...)")
        exts = {e.lower().lstrip(".") for e in (extensions or aio.AUDIO_EXTENSIONS)}
        files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower().lstrip(".") in exts)
        if not files:
            raise ValueError(f"noise folder {str(root)!r} holds no audio file (looked for {sorted(exts)})")
        rel = [p.relative_to(root).as_posix() for p in files]
        key = None
        if cache_dir is not None:
            stamp = [(r, p.stat().st_size, p.stat().st_mtime_ns) for r, p in zip(rel, files)]
            key = hashlib.blake2b(json.dumps([sample_rate, stamp]).encode(), digest_size=12).hexdigest()
            cached = cls._load_cache(Path(cache_dir), key, str(root))
            if cached is not None:
                return cached
        clips, skipped = [], []
        for r, p in zip(rel, files):
            try:
                wav, _ = aio.load(p, sample_rate=sample_rate, mono=True)
            except ValueError as exc:  # AudioFileError: report and go on
                skipped.append({"clip": r, "reason": str(exc)})
                clips.append(torch.zeros(0))
                continue
            clips.append(wav[0])
        bank = cls.from_tensors(clips, sample_rate, rel, source=str(root))
        bank.skipped = skipped + [s for s in bank.skipped if s["reason"] != "empty"]
        if key is not None:
            bank._save_cache(Path(cache_dir), key)
        return bank

    def _save_cache(self, cache_dir: Path, key: str) -> None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        data = self.data.cpu().numpy()
        atomic_write(cache_dir / f"noisebank-{key}.npy", lambda fh: np.save(fh, data))
        meta = {"names": self.names, "starts": self.starts.tolist(), "lengths": self.lengths.tolist(),
                "sample_rate": self.sample_rate, "skipped": self.skipped}
        atomic_write(cache_dir / f"noisebank-{key}.json", json.dumps(meta))

    @classmethod
    def _load_cache(cls, cache_dir: Path, key: str, source: str) -> "NoiseBank | None":
        npy, meta_path = cache_dir / f"noisebank-{key}.npy", cache_dir / f"noisebank-{key}.json"
        if not (npy.exists() and meta_path.exists()):
            return None
        meta = json.loads(meta_path.read_text())
        data = torch.from_numpy(np.load(npy, mmap_mode="c"))
        return cls(data, torch.tensor(meta["starts"]), torch.tensor(meta["lengths"]), meta["sample_rate"],
                   meta["names"], source, meta["skipped"])

    # -- access -------------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.names)

    @property
    def duration_s(self) -> float:
        return float(self.lengths.sum()) / self.sample_rate

    def _extended_bank(self, length: int) -> tuple[Tensor, Tensor]:
        """Each clip looped to ``clip_len + length - 1`` samples, concatenated, so any window is contiguous."""
        key = (length, self.data.device, self.data.dtype)
        if key not in self._extended:
            parts, ext_starts, pos = [], [], 0
            for s, n in zip(self.starts.tolist(), self.lengths.tolist()):
                need = n + length - 1
                clip = self.data[s:s + n]
                parts.append(clip.repeat(math.ceil(need / n))[:need])
                ext_starts.append(pos)
                pos += need
            self._extended = {key: (torch.cat(parts), torch.tensor(ext_starts, device=self.data.device))}
        return self._extended[key]

    def windows(self, clip: Tensor, offset: Tensor, length: int) -> Tensor:
        """``(batch, length)`` windows: clip ``clip[b]`` from sample ``offset[b]`` on, looping short clips."""
        ext, ext_starts = self._extended_bank(int(length))
        first = ext_starts[clip.to(ext.device)] + offset.to(ext.device)
        return ext.unfold(0, int(length), 1).index_select(0, first)

    def _apply(self, fn, recurse=True):  # noqa: D401 - nn.Module hook: drop cached views when moved/cast
        self._extended = {}
        return super()._apply(fn, recurse)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_extended"] = {}
        return state


@dataclasses.dataclass(frozen=True)
class BackgroundParams(Params):
    """``clip`` index into the bank, ``offset`` in samples, target ``snr_db`` (all ``(batch,)``)."""

    snr_db: Tensor
    clip: Tensor
    offset: Tensor


class BackgroundNoise(Injector):
    """Mix a random window of a random background clip into each example at an exact SNR.

    Per example: clip ~ uniform over the bank, offset ~ uniform over the clip (clips shorter than the example
    loop), ``snr ~ U(min_snr_db, max_snr_db)``. The same mono noise goes to every channel of an example. A silent
    example gets no noise (recorded as ``noise_added: false``).

    Args:
        noise: a folder of noise recordings (decoded once into a :class:`NoiseBank`) or a ``NoiseBank``.
        min_snr_db, max_snr_db: SNR range in dB.
        sample_rate: rate of the audio this will be applied to; the bank is resampled to it.
        p: probability per example.
        snr_reference: ``"full"`` or ``"active"`` (see :func:`audionoise.functional.mix_at_snr`).
        cache_dir: optional folder for a memory-mapped cache of the decoded bank.

    Example:
        >>> bank = NoiseBank.from_tensors([torch.randn(4000)], sample_rate=16000)
        >>> t = BackgroundNoise(bank, 5.0, 5.0, sample_rate=16000)
        >>> y = t(torch.randn(2, 16000), generator=torch.Generator().manual_seed(0))
    """

    def __init__(self, noise: str | os.PathLike | NoiseBank, min_snr_db: float, max_snr_db: float,
                 sample_rate: int, p: float = 1.0, snr_reference: str = "full",
                 cache_dir: str | None = None) -> None:
        super().__init__(p)
        check_range("min_snr_db", min_snr_db, "max_snr_db", max_snr_db)
        check_sample_rate(sample_rate)
        if isinstance(noise, NoiseBank):
            if noise.sample_rate != sample_rate:
                raise ValueError(f"NoiseBank sample_rate ({noise.sample_rate}) differs from sample_rate "
                                 f"({sample_rate}); build the bank with NoiseBank.from_folder(path, {sample_rate})")
            bank = noise
        elif isinstance(noise, (str, os.PathLike)):
            bank = NoiseBank.from_folder(noise, sample_rate, cache_dir=cache_dir)
        else:
            raise ValueError(f"noise must be a folder path or a NoiseBank, got {type(noise).__name__}")
        self.bank = bank
        self.min_snr_db, self.max_snr_db = float(min_snr_db), float(max_snr_db)
        self.sample_rate, self.snr_reference = sample_rate, check_snr_reference(snr_reference)
        self.cache_dir = cache_dir

    @property
    def noise(self) -> str | NoiseBank:
        """The noise folder the bank was built from, or the in-memory bank itself (which configs cannot hold)."""
        return self.bank if self.bank.source is None else self.bank.source

    def _sample(self, x: Tensor, lengths: Tensor | None, generator: torch.Generator | None) -> BackgroundParams:
        u = draw(x.shape[0], 4, generator)
        clip = scale_int(u[:, 2], len(self.bank) - 1)
        offset = scale_int(u[:, 3], like(u, self.bank.lengths)[clip] - 1)
        snr = scale_uniform(u[:, 1], self.min_snr_db, self.max_snr_db)
        return BackgroundParams(applied=tensor(u[:, 0] < self.p), snr_db=tensor(snr), clip=tensor(clip),
                                offset=tensor(offset))

    def _apply_params(self, x, params, lengths, owned):
        noise = self.bank.windows(params.clip, params.offset, x.shape[-1]).to(x.device)
        if x.dtype not in LOW_PRECISION:
            noise = noise.to(x.dtype)
        # one mono window per example, the same on every channel (coherent across the channels of an example)
        noise = noise.view(x.shape[0], *([1] * (x.dim() - 2)), x.shape[-1])
        if lengths is not None:
            noise = noise * expand_to(valid_mask(lengths, x.shape[-1], x.device), noise)
        # the windows are a fresh copy owned here: mix into them (when shapes match, i.e. mono)
        return add_scaled_noise(x, noise, params.snr_db, params.applied, lengths, self.snr_reference, owned=True)

    def records(self, params: Params, info: dict[str, Tensor] | None = None) -> list[dict]:
        rows = super().records(params, info)
        for row in rows:
            row["clip_name"] = self.bank.names[row["clip"]]
        return rows
