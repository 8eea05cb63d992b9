"""A bank of noise clips decoded once into one flat (memory-mapped) tensor; windows by index arithmetic."""

from __future__ import annotations

import os
import time
import warnings
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from audionoise.kernels.loopable import DEFAULT_CROSSFADE_S
from audionoise.functional.loop import loop_crossfade, loop_window, loop_windows, make_loopable
from audionoise.transforms import _bank_cache as cache
from audionoise.corpora.noise_sources import Entry, NoiseBankWarning, collect, flatten_sources, skip

#: default length of the cross-fade that makes each clip loop without a seam, seconds

__all__ = ["DEFAULT_CROSSFADE_S", "NoiseBank", "NoiseBankWarning"]


class NoiseBank(nn.Module):
    """Noise clips decoded and resampled once, held back to back in one mono tensor, each made loopable.

    ``data`` holds the clips; clip ``k`` is ``data[starts[k] : starts[k] + lengths[k]]``. :meth:`windows` cuts a
    window of any length from any offset of any clip, looping the clip circularly, by index arithmetic on that one
    storage (no copy of the bank, nothing cached per window length; see
    :func:`audionoise.functional.loop.loop_windows`). Built from files, the bank is cached on disk and
    memory-mapped, so it costs no decoding the next time and its pages are shared by every process that uses it
    (DataLoader workers). The bank is an ``nn.Module``: ``.to(device)`` moves it (e.g. to the GPU).

    **Seamless loops.** Each clip is stored with its last ``crossfade`` samples cross-faded (equal power) into its
    first ones and is that much shorter (:func:`audionoise.functional.loop.make_loopable`), so a window that runs
    past the clip's end continues smoothly instead of clicking. A clip shorter than twice the cross-fade gets a
    cross-fade of half its length; ``crossfade_s=0`` keeps clips exactly as decoded (butt-joined loops).

    Example:
        >>> bank = NoiseBank.from_tensors([torch.randn(8000), torch.randn(24000)], sample_rate=16000)
        >>> bank.windows(torch.tensor([0, 1]), torch.tensor([7000, 0]), 16000).shape
        torch.Size([2, 16000])
    """

    def __init__(self, data: Tensor, starts: Tensor, lengths: Tensor, sample_rate: int, names: list[str],
                 source: Any = None, skipped: list[dict] | None = None, crossfade: int = 0,
                 cache_file: str | os.PathLike | None = None) -> None:
        super().__init__()
        if len(names) == 0:
            raise ValueError(f"noise bank from {source or 'tensors'} holds no usable (non-silent) clip; add noise "
                             f"files (wav, flac, ogg, ...) with some signal in them")
        self.register_buffer("data", data, persistent=False)
        self.register_buffer("starts", starts.long(), persistent=False)
        self.register_buffer("lengths", lengths.long(), persistent=False)
        #: clip lengths on the host, for sampling without a device round trip
        self.clip_lengths = self.lengths.cpu().numpy().copy()
        self.clip_starts = self.starts.cpu().numpy().copy()
        self.sample_rate, self.names, self.source = int(sample_rate), list(names), source
        #: ``{"clip": name, "reason": why}`` for every entry that was left out
        self.skipped = list(skipped or [])
        #: cross-fade length in samples asked for when the clips were made loopable
        self.crossfade = int(crossfade)
        #: the memory-mapped ``.npy`` the samples come from (``None``: in memory)
        self.cache_file = None if cache_file is None else str(cache_file)
        self._mapped_ptr = data.data_ptr() if cache_file is not None else None
        #: most bytes of a memory-mapped bank read into this process between two page drops (see :meth:`windows`)
        self.resident_limit_bytes = max(int(self.RESIDENT_FRACTION * data.numel() * 4), self.RESIDENT_MIN_BYTES)
        self._touched = 0
        #: lazy verification of a cached bank's samples (see :mod:`audionoise.transforms._bank_cache`)
        self._check: cache.BlockCheck | None = None
        self._clip_ok = np.zeros(len(names), dtype=bool)
        self._token: str | None = None
        self._origin: dict[str, Any] | None = None  # from_source's arguments: what a rebuild needs

    # -- construction -------------------------------------------------------------------------------------------
    @classmethod
    def from_tensors(cls, clips: list[Tensor], sample_rate: int, names: list[str] | None = None,
                     source: Any = None, crossfade_s: float = DEFAULT_CROSSFADE_S) -> "NoiseBank":
        """Build a bank from 1-D (or (channels, time), averaged to mono) clips held in memory.

        Empty, non-finite and all-zero clips are skipped (one :class:`NoiseBankWarning` each, listed in
        ``skipped``).
        """
        names = list(names) if names is not None else [f"clip{i}" for i in range(len(clips))]
        fade = _crossfade_samples(crossfade_s, sample_rate)
        kept, kept_names, skipped = [], [], []
        for name, clip in zip(names, clips):
            clip = torch.as_tensor(clip, dtype=torch.float32)
            clip = clip.mean(0) if clip.dim() == 2 else clip.reshape(-1)
            reason = _unusable(clip)
            if reason:
                skip(skipped, name, reason)
                continue
            kept.append(make_loopable(clip, loop_crossfade(clip.numel(), fade)))
            kept_names.append(name)
        lengths = torch.tensor([c.numel() for c in kept], dtype=torch.long)
        data = torch.cat(kept) if kept else torch.zeros(0)
        return cls(data, torch.cumsum(lengths, 0) - lengths, lengths, sample_rate, kept_names, source, skipped, fade)

    @classmethod
    def from_source(cls, source: Any, sample_rate: int, *, cache_dir: Any = None,
                    crossfade_s: float = DEFAULT_CROSSFADE_S, max_clips: int | None = None,
                    max_clips_seed: int = 0, extensions: Any = None, progress: bool | None = None) -> "NoiseBank":
        """Decode every clip named by ``source`` once, resampled to ``sample_rate`` (mono), into a bank.

        Args:
            source: a folder (every audio file under it, recursively, sorted; hidden ones skipped), a text file
                listing audio paths (one per line, relative to the list's folder; blank lines and ``#`` comments
                skipped), a NeMo-style JSONL manifest (``audio_filepath`` relative to the manifest's folder;
                the segment rule of :mod:`audionoise.corpora.manifests`: a line with ``offset`` is the segment from there,
                ``duration`` seconds long or to the end; without ``offset`` the whole file, its ``duration``
                informative), an audio file, a glob pattern (``"noise/**/*.wav"``), or a list of any of these.
            sample_rate: rate to resample every clip to.
            cache_dir: folder of the on-disk cache (``None``: the default, ``$AUDIONOISE_CACHE_DIR`` or
                ``$XDG_CACHE_HOME/audionoise/noisebanks`` or ``~/.cache/audionoise/noisebanks``; ``False``: no
                cache, the bank is held in memory). The cache is keyed by every entry's path, size, modification
                time and segment, the sample rate and the cross-fade: touching a file rebuilds the bank.
            crossfade_s: seam cross-fade of each looped clip (see the class docstring); 0 = none.
            max_clips: keep only this many entries, a uniform random subset drawn with ``max_clips_seed`` (the
                same subset every time for the same source list), kept in source order; decoded entries that turn
                out unusable are not replaced.
            max_clips_seed: seed of that subset.
            extensions: file suffixes to take from folders and patterns (default: every format of
                :mod:`audionoise.io`).
            progress: ``False`` hides the progress of the first build; otherwise
                :func:`audionoise.runtime.progress.progress` shows it (a bar on a terminal, a line every 10 s in a log).

        Bad entries (missing file, undecodable or silent audio, bad list or manifest line) are skipped with one
        :class:`NoiseBankWarning` each naming the entry and the reason, and listed in ``bank.skipped``.

        Raises:
            ValueError: a source that does not exist or matches nothing, or no usable clip at all (the message
                lists what was tried).
        """
        from audionoise.transforms.base import check_sample_rate

        check_sample_rate(sample_rate)
        if max_clips is not None and (not isinstance(max_clips, int) or isinstance(max_clips, bool) or max_clips < 1):
            raise ValueError(f"max_clips must be a positive integer or None (every clip), got {max_clips!r}")
        if not isinstance(max_clips_seed, int) or isinstance(max_clips_seed, bool):
            raise ValueError(f"max_clips_seed must be an integer, got {max_clips_seed!r}")
        fade = _crossfade_samples(crossfade_s, sample_rate)
        label = _label(source)
        if isinstance(extensions, str):
            extensions = (extensions,)
        entries, skipped = collect(source, None if extensions is None else frozenset(extensions))
        tried = len(entries) + len(skipped)
        stamps, kept = [], []
        for e in entries:
            try:
                st = os.stat(e.path)
            except OSError as err:
                skip(skipped, e.name, f"cannot read ({err.strerror})")
                continue
            stamps.append([e.name, e.path, st.st_size, st.st_mtime_ns, e.offset, e.duration])
            kept.append(e)
        if max_clips is not None and max_clips < len(kept):
            pick = np.sort(np.random.default_rng(max_clips_seed).choice(len(kept), max_clips, replace=False))
            kept, stamps = [kept[i] for i in pick], [stamps[i] for i in pick]
        root = cache.resolve_cache_dir(cache_dir)
        key = cache.cache_key(stamps, sample_rate, fade) if kept else None
        hit = cache.load(root, key) if root is not None and key is not None else None
        lock = None
        if hit is None and root is not None and key is not None:
            try:  # one builder per bank: the others wait here, then map what it wrote
                lock = cache.build_lock(root, key)
            except OSError:  # a read-only cache folder: built in memory below (with a warning)
                lock = None
            hit = cache.load(root, key, quiet=True) if lock is not None else None
        try:
            if hit is not None:
                data, meta, npy, check = hit
                for s in meta["skipped"]:
                    skip(skipped, s["clip"], s["reason"])
                names, lengths, token = meta["names"], torch.tensor(meta["lengths"], dtype=torch.long), meta["token"]
            else:
                data, names, lengths, npy, decode_skipped, fields = _decode(kept, sample_rate, fade, root, key,
                                                                            progress)
                skipped += decode_skipped
                check = token = None
                if npy is not None:
                    meta = {"samples": int(data.shape[0]), "sample_rate": int(sample_rate), "crossfade": fade,
                            "names": names, "lengths": lengths.tolist(), "skipped": decode_skipped, **fields,
                            "source": label, "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
                    check = cache.BlockCheck(bytes.fromhex(fields["blocks"]), fields["block_samples"],
                                             int(data.shape[0]))
                    token = fields["token"]
                    cache.write_metadata(root, key, meta)
        finally:
            if lock is not None:
                lock.release()
        if not names:
            reasons = "; ".join(f"{s['clip']}: {s['reason']}" for s in skipped[:3])
            raise ValueError(f"noise bank from {label} holds no usable clip: {tried} entr{'y' if tried == 1 else 'ies'}"
                             f" tried, {len(skipped)} skipped ({reasons}{'; ...' if len(skipped) > 3 else ''}); "
                             f"add noise recordings with some signal in them")
        starts = torch.cumsum(lengths, 0) - lengths
        bank = cls(data, starts, lengths, sample_rate, names, _keep_source(source), skipped, fade, npy)
        if npy is not None:
            bank._check, bank._token = check, token
            bank._origin = {"source": source, "sample_rate": sample_rate, "cache_dir": root, "crossfade_s": crossfade_s,
                            "max_clips": max_clips, "max_clips_seed": max_clips_seed, "extensions": extensions}
        return bank

    @classmethod
    def from_folder(cls, path: str | os.PathLike, sample_rate: int, cache_dir: Any = None,
                    extensions: Any = None, **kwargs: Any) -> "NoiseBank":
        """:meth:`from_source` for one folder (every audio file under it, recursively, sorted)."""
        if not os.path.isdir(path):
            raise ValueError(f"noise folder {os.fspath(path)!r} does not exist or is not a folder; pass a folder of "
                             f"noise recordings (wav/flac/ogg/...)")
        return cls.from_source(path, sample_rate, cache_dir=cache_dir, extensions=extensions, **kwargs)

    # -- access -------------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.names)

    @property
    def duration_s(self) -> float:
        return float(self.clip_lengths.sum()) / self.sample_rate

    #: a memory-mapped bank keeps at most this fraction of its size resident in a process (or RESIDENT_MIN_BYTES)
    RESIDENT_FRACTION = 0.1
    RESIDENT_MIN_BYTES = 32 << 20
    #: what the kernel maps beyond a window it faults in (fault-around, and whole large page-cache folios: 512 KB
    #: measured on Linux 6.18), counted once per window so the count bounds the real resident set
    MAP_GRANULE_BYTES = 1 << 20

    def windows(self, clip: Tensor, offset: Tensor, length: int) -> Tensor:
        """``(batch, length)`` windows: clip ``clip[b]`` from sample ``offset[b]`` on, looping (a fresh tensor).

        A memory-mapped bank counts the bytes its windows read; past ``resident_limit_bytes`` (10 % of the bank,
        at least 32 MB) it drops its mapped pages from this process (``madvise(MADV_DONTNEED)``; they stay in the
        page cache), so random windows over hours of noise never make the whole bank resident in every worker.
        """
        if self._check is not None:
            self.check_clips(clip)
        data = self.data
        if data.is_cpu:  # host index arithmetic from the host copies (no buffer lookups)
            self.note_read((4 * int(length) + self.MAP_GRANULE_BYTES) * int(clip.numel()))
            return loop_windows(data, self.clip_starts, self.clip_lengths, clip, offset, int(length))
        return loop_windows(data, self.starts, self.lengths, clip, offset, int(length))

    def window(self, clip: int, offset: int, length: int) -> Tensor:
        """``(1, length)``: the window of :meth:`windows` for one clip index and offset given as integers (a CPU
        bank; the per-item shortcuts), checked and counted the same way."""
        if self._check is not None and not self._clip_ok[clip]:  # (a clip already checked costs one lookup)
            self.check_clips([clip])
        self.note_read(4 * int(length) + self.MAP_GRANULE_BYTES)
        return loop_window(self.data, int(self.clip_starts[clip]), int(self.clip_lengths[clip]), int(offset),
                           int(length))

    def check_clips(self, clip: Any) -> None:
        """Verify the cached samples of clips ``clip`` (indices) the first time each is read in this process (their
        blocks' BLAKE2b digests and finiteness, :class:`audionoise.transforms._bank_cache.BlockCheck`); a failure
        rebuilds the cache (one warning) and swaps the rebuilt samples in. A no-op for banks held in memory and
        for clips already checked. Callers that index ``data`` directly call this first (:meth:`windows` does)."""
        if self._check is None:
            return
        ids = np.asarray(clip.cpu() if isinstance(clip, Tensor) else clip, dtype=np.int64).reshape(-1)
        todo = ids[~self._clip_ok[ids]]
        if todo.size == 0:
            return
        arr = cache.mapped_array(self.data)
        for k in np.unique(todo).tolist():
            lo = int(self.clip_starts[k])
            bad = self._check.first_bad(arr, lo, lo + int(self.clip_lengths[k])) if arr is not None else None
            if bad is not None:
                self._rebuild(f"block {bad} (samples from {bad * self._check.block}) of clip {self.names[k]!r} "
                              "differs from its checksum")
                return self.check_clips(ids)
            self._clip_ok[k] = True

    def _rebuild(self, why: str) -> None:
        """Replace a cache that failed a block check with a fresh build of the same clips."""
        npy = self.cache_file
        warnings.warn(f"noise bank cache {npy} is damaged ({why}); rebuilding it", NoiseBankWarning, stacklevel=4)
        origin = self._origin
        if origin is None or origin.get("cache_dir") is None:
            raise ValueError(f"noise bank cache {npy} is damaged ({why}) and this bank cannot rebuild it; delete "
                             "the cache file and build the bank again")
        key = os.path.basename(npy)[len("noisebank-"):-len(".npy")]
        try:
            with cache.build_lock(origin["cache_dir"], key):
                cache.discard(cache.paths(origin["cache_dir"], key)[0], self._token)
        except OSError:
            pass
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NoiseBankWarning)  # the skipped entries were reported at the first build
            fresh = type(self).from_source(**origin, progress=False)
        if fresh.names != self.names or not np.array_equal(fresh.clip_lengths, self.clip_lengths):
            raise ValueError(f"noise bank cache {npy} was damaged and its sources changed since the bank was opened; "
                             "open the bank again")
        self._buffers["data"] = fresh.data.to(self.data.device)
        self.cache_file, self._mapped_ptr = fresh.cache_file, fresh._mapped_ptr
        self._check, self._token, self._touched = fresh._check, fresh._token, 0
        self._clip_ok[:] = False

    def _apply(self, fn, *args, **kwargs):
        # .to(device)/.half() copy the samples out of the map: check every clip first (once), then no more checks
        if self._check is not None and self._buffers.get("data") is not None:
            self.check_clips(np.arange(len(self.names)))
        out = super()._apply(fn, *args, **kwargs)
        if self._buffers.get("data") is not None and self.data.data_ptr() != self._mapped_ptr:
            self._check = None
        return out

    def note_read(self, nbytes: int) -> None:
        """Count ``nbytes`` read from the mapped samples (callers that index ``data`` directly call this)."""
        if self._mapped_ptr is not None and self.data.data_ptr() == self._mapped_ptr:
            self._touched += nbytes
            if self._touched > self.resident_limit_bytes:
                cache.drop_resident_pages(self.data)
                self._touched = 0

    def extra_repr(self) -> str:
        where = f", cache_file={self.cache_file!r}" if self.cache_file else ""
        return (f"clips={len(self)}, duration_s={self.duration_s:.1f}, sample_rate={self.sample_rate}, "
                f"device={self.data.device}, dtype={self.data.dtype}{where}")

    # -- pickling (spawned DataLoader workers): a memory-mapped bank travels as its file name ---------------------
    def _is_mapped(self) -> bool:
        d = self._buffers.get("data")
        return (self.cache_file is not None and d is not None and d.device.type == "cpu"
                and d.dtype == torch.float32 and d.data_ptr() == self._mapped_ptr)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        if self._is_mapped():
            state["_buffers"] = {**self._buffers, "data": None}
            state["_remap"] = True
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        remap = state.pop("_remap", False)
        super().__setstate__(state)
        if remap:
            try:
                data = cache.open_memmap(self.cache_file, int(self.clip_lengths.sum()) if self._token else None,
                                         self._token)
            except (OSError, ValueError) as err:
                raise ValueError(f"noise bank cache {self.cache_file} cannot be mapped in this process ({err}); keep "
                                 f"the cache folder while the bank is in use") from None
            self._buffers["data"] = data
            self._mapped_ptr = data.data_ptr()


def _decode(entries: list[Entry], sample_rate: int, fade: int, root, key, progress):
    """Decode, check and make loopable every entry, streamed into the cache (or kept in memory): ``(data, names,
    lengths, npy, skipped)``. The skipped entries are warned about once, whichever way the bank was stored."""
    result, fields = None, None
    if root is not None:
        try:
            result, npy, fields = cache.write_bank(root, key, lambda append: _each_clip(entries, sample_rate, fade,
                                                                                       append, progress))
            data = cache.open_memmap(npy, int(sum(result[1])), fields["token"])
        except OSError as err:
            warnings.warn(f"noise bank cache not written ({err}); the bank is kept in memory. Pass cache_dir= a "
                          f"writable folder (or cache_dir=False to silence this)", stacklevel=4)
            result = None
    if result is None:
        parts: list[np.ndarray] = []
        result, npy = _each_clip(entries, sample_rate, fade, parts.append, progress), None
        data = torch.from_numpy(np.concatenate(parts) if parts else np.zeros(0, np.float32))
    names, lengths, skipped = result
    for s in skipped:
        warnings.warn(f"noise bank: skipped {s['clip']}: {s['reason']}", NoiseBankWarning, stacklevel=4)
    return data, names, torch.tensor(lengths, dtype=torch.long), npy, skipped, fields


def _each_clip(entries: list[Entry], sample_rate: int, fade: int, append, progress):
    """``append(clip)`` (float32 NumPy, loopable) for every usable entry; ``(names, lengths, skipped)``."""
    from audionoise import io as aio
    from audionoise.runtime.progress import progress as progress_bar

    names, lengths, skipped = [], [], []
    with progress_bar(entries, desc="noise bank", unit="file", enabled=progress is not False, leave=False) as bar:
        for e in bar:
            try:
                clip = aio.load(e.path, sample_rate=sample_rate, mono=True, offset=e.offset, duration=e.duration)[0][0]
            except (ValueError, RuntimeError, OSError) as err:  # AudioFileError and the like: skip, go on
                skipped.append({"clip": e.name, "reason": str(err)})
                continue
            reason = _unusable(clip)
            if reason:
                skipped.append({"clip": e.name, "reason": reason})
                continue
            clip = make_loopable(clip, loop_crossfade(clip.numel(), fade))
            append(clip.numpy())
            names.append(e.name)
            lengths.append(clip.numel())
    return names, lengths, skipped


def _unusable(clip: Tensor) -> str | None:
    if clip.numel() == 0:
        return "empty (no samples)"
    if not bool(torch.isfinite(clip).all()):
        return "non-finite samples (NaN/Inf)"
    if not bool(clip.abs().max() > 0):
        return "all-zero (digital silence)"
    return None


def _crossfade_samples(crossfade_s: float, sample_rate: int) -> int:
    ok = isinstance(crossfade_s, (int, float)) and not isinstance(crossfade_s, bool) and np.isfinite(crossfade_s)
    if not ok or crossfade_s < 0:
        raise ValueError(f"crossfade_s must be a number of seconds >= 0 (0 = no cross-fade), got {crossfade_s!r}")
    return int(round(crossfade_s * sample_rate))


def _label(source: Any) -> str:
    items = flatten_sources(source)
    return repr(items[0]) if len(items) == 1 else f"{len(items)} sources ({', '.join(map(repr, items[:3]))}" \
        f"{', ...' if len(items) > 3 else ''})"


def _keep_source(source: Any) -> str | list[str]:
    """What a config stores: one path as a string, several as a list of strings."""
    items = flatten_sources(source)
    return items[0] if not isinstance(source, (list, tuple)) else items
