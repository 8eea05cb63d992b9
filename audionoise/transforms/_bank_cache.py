"""On-disk cache of decoded noise banks: one float32 ``.npy`` (memory-mapped when used) + one metadata ``.json``.

Layout: ``<cache_dir>/noisebank-<key>.npy`` and ``noisebank-<key>.json``. The key is a hash of everything the
decoded samples depend on: each entry's absolute path, size, modification time (ns) and segment, its record name,
the sample rate and the cross-fade length. Files are written under a unique temporary name (process id + random
suffix, :func:`audionoise.io.files.atomic_write`) and renamed into place, the ``.npy`` before the ``.json``: a reader
that finds the ``.json`` finds a complete ``.npy``, and processes building the same bank at once never see each
other's partial files (the last rename wins; both wrote the same bytes). A use refreshes the ``.json``'s
modification time; ``audionoise cache list|prune`` (:mod:`audionoise.corpora.cache`) shows and prunes the cache.
"""

from __future__ import annotations

import hashlib
import io
import json
import mmap
import os
import warnings
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from audionoise.corpora.cache import default_cache_dir  # the one definition (torch-free)

#: bumped whenever the stored samples of a given source would change (decoding, looping, layout)
CACHE_VERSION = 1


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


def open_memmap(npy: Path) -> Tensor:
    """The float32 samples of a cached ``.npy``, memory-mapped copy-on-write (``mmap_mode="c"``).

    Pages are read from the file (and shared with every process mapping it) when first touched; a write to the
    tensor would change this process's copy only, never the file.
    """
    arr = np.load(npy, mmap_mode="c")
    if arr.dtype != np.float32 or arr.ndim != 1:
        raise ValueError(f"{npy}: expected a 1-D float32 array, got {arr.dtype} {arr.shape}")
    t = torch.from_numpy(arr)
    if getattr(arr, "_mmap", None) is not None:
        _MAPPED[t.data_ptr()] = arr
    return t


#: data pointer of a mapped bank tensor -> its ``numpy.memmap`` (weak: the tensor keeps the array alive)
_MAPPED: "weakref.WeakValueDictionary[int, np.ndarray]" = weakref.WeakValueDictionary()


def drop_resident_pages(data: Tensor) -> bool:
    """Tell the kernel this process no longer needs the pages of a tensor from :func:`open_memmap`.

    ``madvise(MADV_DONTNEED)``: the mapped pages leave this process's resident set (RSS) at once; they stay in the
    page cache, so the next read of them is a minor page fault, not a disk read. The bank is never written, so
    no data changes. Returns whether anything was done (``False`` for tensors not mapped here, or platforms
    without ``madvise``).
    """
    arr = _MAPPED.get(data.data_ptr())
    mm = getattr(arr, "_mmap", None)
    if mm is None or not hasattr(mmap, "MADV_DONTNEED"):
        return False
    try:
        mm.madvise(mmap.MADV_DONTNEED)
    except (OSError, ValueError):  # closed mapping, unsupported: keep the pages
        return False
    return True


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
    try:
        os.utime(meta_path)  # last use: `audionoise cache prune --older-than` keeps what is in use
    except OSError:
        pass  # a read-only cache still serves
    return data, meta, npy


class NpyStream:
    """Writes a 1-D float32 ``.npy`` to an open binary file clip by clip (a corpus larger than RAM can be cached):
    a header for 0 samples first, the samples, then the real header over it (NumPy reserves room in the header
    for the shape to grow, so it keeps its size)."""

    def __init__(self, fh: Any) -> None:
        self.fh, self.samples, self.header = fh, 0, _header(0)
        fh.write(self.header)

    def append(self, clip: np.ndarray) -> None:
        clip = np.ascontiguousarray(clip, dtype="<f4")
        self.fh.write(clip.data)
        self.samples += clip.shape[0]

    def finish(self) -> None:
        header = _header(self.samples)
        if len(header) != len(self.header):  # pragma: no cover - old NumPy: no room to grow (kept in memory)
            raise OSError("this NumPy leaves no room to grow an .npy header in place; upgrade NumPy")
        self.fh.seek(0)
        self.fh.write(header)


def write_bank(cache_dir: Path, key: str, fill: Callable[[Callable[[np.ndarray], None]], Any]) -> tuple[Any, Path]:
    """Write ``noisebank-<key>.npy`` atomically (:func:`audionoise.io.files.atomic_write`) from ``fill(append)``, which
    calls ``append(clip)`` for every clip in order; returns what ``fill`` returned and the file.

    Raises:
        OSError: the folder cannot be created or written (nothing is left behind).
    """
    from audionoise.io.files import atomic_write

    npy = paths(cache_dir, key)[0]
    cache_dir.mkdir(parents=True, exist_ok=True)
    out = []

    def content(fh: Any) -> None:
        stream = NpyStream(fh)
        out.append(fill(stream.append))
        stream.finish()

    atomic_write(npy, content)
    return out[0], npy


def write_metadata(cache_dir: Path, key: str, meta: dict[str, Any]) -> None:
    """Write the ``.json`` next to a finished ``.npy`` (atomically); failures only warn."""
    from audionoise.io.files import atomic_write

    try:
        atomic_write(paths(cache_dir, key)[1], json.dumps({"version": CACHE_VERSION, "key": key, **meta}))
    except OSError as err:
        warnings.warn(f"noise bank cache metadata not written ({err}); the bank will be decoded again next time",
                      stacklevel=3)


def _header(samples: int) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False, "shape": (int(samples),)})
    return buf.getvalue()
