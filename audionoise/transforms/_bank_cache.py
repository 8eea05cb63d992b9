"""On-disk cache of decoded noise banks: one float32 ``.npy`` (memory-mapped when used) + one metadata ``.json``.

Layout: ``<cache_dir>/noisebank-<key>.npy`` and ``noisebank-<key>.json``. The key is a hash of everything the
decoded samples depend on: each entry's absolute path, size, modification time (ns) and segment, its record name,
the sample rate and the cross-fade length. Files are written under a unique temporary name (process id + random
suffix) and renamed into place (``os.replace``), the ``.npy`` before the ``.json``: a reader that finds the
``.json`` finds a complete ``.npy``, and processes building the same bank at once never see each other's partial
files (the last rename wins; both wrote the same bytes). Delete the folder to clear the cache.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import uuid
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

#: bumped whenever the stored samples of a given source would change (decoding, looping, layout)
CACHE_VERSION = 1


def default_cache_dir() -> Path:
    """``$AUDIONOISE_CACHE_DIR``, else ``$XDG_CACHE_HOME/audionoise/noisebanks``, else
    ``~/.cache/audionoise/noisebanks``."""
    explicit = os.environ.get("AUDIONOISE_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "audionoise" / "noisebanks"


def resolve_cache_dir(cache_dir: Any) -> Path | None:
    """``None``/``True`` -> :func:`default_cache_dir`; ``False`` -> no cache; a path -> that folder."""
    if cache_dir is None or cache_dir is True:
        return default_cache_dir()
    if cache_dir is False:
        return None
    if isinstance(cache_dir, (str, os.PathLike)) and not isinstance(cache_dir, bytes):
        if os.fspath(cache_dir) == "":
            raise ValueError("cache_dir is an empty string; pass a folder, None (the default cache folder) or "
                             "False (no cache)")
        return Path(cache_dir).expanduser()
    raise ValueError(f"cache_dir must be a folder path, None (the default cache folder) or False (no cache), "
                     f"got {cache_dir!r}")


def cache_key(stamps: list[list[Any]], sample_rate: int, crossfade: int) -> str:
    blob = json.dumps([CACHE_VERSION, int(sample_rate), int(crossfade), stamps], separators=(",", ":"))
    return hashlib.blake2b(blob.encode(), digest_size=16).hexdigest()


def paths(cache_dir: Path, key: str) -> tuple[Path, Path]:
    return cache_dir / f"noisebank-{key}.npy", cache_dir / f"noisebank-{key}.json"


def _temp(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def open_memmap(npy: Path) -> Tensor:
    """The float32 samples of a cached ``.npy``, memory-mapped copy-on-write (``mmap_mode="c"``).

    Pages are read from the file (and shared with every process mapping it) when first touched; a write to the
    tensor would change this process's copy only, never the file.
    """
    arr = np.load(npy, mmap_mode="c")
    if arr.dtype != np.float32 or arr.ndim != 1:
        raise ValueError(f"{npy}: expected a 1-D float32 array, got {arr.dtype} {arr.shape}")
    return torch.from_numpy(arr)


def load(cache_dir: Path, key: str) -> tuple[Tensor, dict[str, Any], Path] | None:
    """``(data, metadata, npy path)`` of a cached bank, or ``None`` when absent or unreadable (then rebuilt)."""
    npy, meta_path = paths(cache_dir, key)
    if not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        data = open_memmap(npy)
        if meta.get("version") != CACHE_VERSION or meta.get("key") != key or data.shape[0] != meta["samples"]:
            raise ValueError("metadata does not match the samples")
    except (OSError, ValueError, KeyError, TypeError) as err:
        warnings.warn(f"noise bank cache {npy} is unreadable ({err}); rebuilding it", stacklevel=3)
        return None
    return data, meta, npy


class ClipWriter:
    """Collects clips back to back: streamed into a temporary ``.npy`` in the cache folder (so a corpus larger than
    RAM can be built), or held in memory (no cache, or the cache folder is not writable: then one warning)."""

    def __init__(self, cache_dir: Path | None, key: str | None) -> None:
        self.parts: list[np.ndarray] = []
        self.samples = 0
        self.file = self.tmp = None
        self.header = b""
        if cache_dir is None or key is None:
            return
        self.npy = paths(cache_dir, key)[0]
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            self.tmp = _temp(self.npy)
            self.file = open(self.tmp, "wb")
            self.header = _header(0)
            self.file.write(self.header)
        except OSError as err:
            self._to_memory(err)

    def append(self, clip: np.ndarray) -> None:
        clip = np.ascontiguousarray(clip, dtype="<f4")
        if self.file is not None:
            try:
                self.file.write(clip.data)
            except OSError as err:
                self._to_memory(err)
                self.parts.append(clip)
        else:
            self.parts.append(clip)
        self.samples += clip.shape[0]

    def finish(self) -> tuple[Tensor, Path | None]:
        """The samples (memory-mapped from the final ``.npy`` when cached) and the ``.npy`` path (or ``None``)."""
        if self.file is not None:
            try:
                header = _header(self.samples)
                if len(header) != len(self.header):  # an old NumPy without header growth room: write it again
                    self.file.close()
                    body = np.fromfile(self.tmp, dtype="<f4", offset=len(self.header))
                    with open(self.tmp, "wb") as f:
                        np.save(f, body)
                else:
                    self.file.seek(0)
                    self.file.write(header)
                    self.file.close()
                os.replace(self.tmp, self.npy)
                self.file = None
                return open_memmap(self.npy), self.npy
            except OSError as err:
                self._to_memory(err)
        data = np.concatenate(self.parts) if self.parts else np.zeros(0, np.float32)
        return torch.from_numpy(data), None

    def discard(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
        if self.tmp is not None and self.tmp.exists():
            self.tmp.unlink()

    def _to_memory(self, err: OSError) -> None:
        """Keep building in memory: read back what reached the file, warn once."""
        if self.file is not None:
            try:
                self.file.close()
                done = np.fromfile(self.tmp, dtype="<f4", offset=len(self.header), count=self.samples)
                self.parts = [done] + self.parts
            finally:
                self.file = None
        if self.tmp is not None:
            try:
                self.tmp.unlink(missing_ok=True)
            except OSError:
                pass
        warnings.warn(f"noise bank cache not written ({err}); the bank is kept in memory. Pass cache_dir= a writable "
                      f"folder (or cache_dir=False to silence this)", stacklevel=4)


def write_metadata(cache_dir: Path, key: str, meta: dict[str, Any]) -> None:
    """Write the ``.json`` next to a finished ``.npy`` (atomically); failures only warn."""
    meta_path = paths(cache_dir, key)[1]
    tmp = _temp(meta_path)
    try:
        tmp.write_text(json.dumps({"version": CACHE_VERSION, "key": key, **meta}), encoding="utf-8")
        os.replace(tmp, meta_path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        warnings.warn(f"noise bank cache metadata not written ({err}); the bank will be decoded again next time",
                      stacklevel=3)


def _header(samples: int) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False, "shape": (int(samples),)})
    return buf.getvalue()
