"""On-disk cache of decoded noise banks: one float32 ``.npy`` (memory-mapped when used) + one metadata ``.json``.

Layout: ``<cache_dir>/noisebank-<key>.npy`` and ``noisebank-<key>.json``. The key is a hash of everything the
decoded samples depend on: each entry's absolute path, size, modification time (ns) and segment, its record name,
the sample rate and the cross-fade length. Files are written under a unique temporary name (process id + random
suffix, :func:`audionoise.io.files.atomic_write`) and renamed into place, the ``.npy`` before the ``.json``: a reader
that finds the ``.json`` finds a complete ``.npy``. One process builds a given bank at a time (an ``flock`` on
``noisebank-<key>.lock``, :mod:`audionoise.io.lock`); the others wait, then map the finished file. The builder
deletes the temporary files that killed builds of the same bank left. A use refreshes the ``.json``'s
modification time; ``audionoise cache list|prune`` (:mod:`audionoise.corpora.cache`) shows and prunes the cache.

**Verification.** The ``.npy`` ends with 8 random bytes after its samples (the build's token, ignored by NumPy)
and the ``.json`` holds that token, a BLAKE2b digest (8 bytes) of every block of :data:`BLOCK_SAMPLES` samples,
and a digest of itself (lengths, names, block digests, token). Opening a cached bank checks, without reading any
sample: the ``.json``'s digest (edited lengths or names), the file size against the header and the sample count,
the token (a different build, or another bank's ``.npy`` put or linked in its place), and the clip lengths
against the sample count. The samples are checked lazily (:class:`BlockCheck`): the blocks a clip spans are
hashed and tested for finiteness the first time the clip is read in a process (about 0.4 ms per MB). A failed
check at open rebuilds the bank with one warning; a failed block check rebuilds it too
(:meth:`audionoise.transforms.noisebank.NoiseBank.windows`): no NaN/Inf or foreign sample ever leaves the bank.
"""

from __future__ import annotations

import hashlib
import io
import json
import mmap
import os
import secrets
import warnings
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from audionoise.corpora.cache import default_cache_dir  # the one definition (torch-free)

#: bumped whenever the stored samples of a given source would change (decoding, looping, layout, verification)
CACHE_VERSION = 2
#: samples per checksummed block (256 KiB of float32)
BLOCK_SAMPLES = 1 << 16
_DIGEST = 8    # bytes of each block digest
_TOKEN = 8     # bytes of the build token after the samples


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


def open_memmap(npy: Path, samples: int | None = None, token: str | None = None) -> Tensor:
    """The float32 samples of a cached ``.npy``, memory-mapped copy-on-write (``mmap_mode="c"``).

    Pages are read from the file (and shared with every process mapping it) when first touched; a write to the
    tensor would change this process's copy only, never the file. With ``samples`` and ``token`` (from the
    ``.json``), the file must hold exactly that many samples followed by that build token.
    """
    with open(npy, "rb") as fh:  # one open: header, size, token, map (np.load would open it again)
        fmt = np.lib.format
        version = fmt.read_magic(fh)
        shape, fortran, dtype = (fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0)(fh)
        if dtype != np.float32 or len(shape) != 1 or fortran:
            raise ValueError(f"{npy}: expected a 1-D float32 array, got {dtype} {shape}")
        if samples is not None:
            if shape[0] != samples:
                raise ValueError(f"it holds {shape[0]} samples, its metadata says {samples}")
            size = os.fstat(fh.fileno()).st_size
            if size != fh.tell() + 4 * samples + _TOKEN:
                raise ValueError(f"its size ({size} bytes) does not match its header")
            if os.pread(fh.fileno(), _TOKEN, size - _TOKEN).hex() != token:
                raise ValueError("its samples come from another build (token differs from the metadata)")
        arr = np.memmap(fh, dtype=np.float32, mode="c", offset=fh.tell(), shape=shape) if shape[0] else \
            np.zeros(0, np.float32)
    t = torch.from_numpy(arr)
    if getattr(arr, "_mmap", None) is not None:
        _MAPPED[t.data_ptr()] = arr
    return t


#: data pointer of a mapped bank tensor -> its ``numpy.memmap`` (weak: the tensor keeps the array alive)
_MAPPED: "weakref.WeakValueDictionary[int, np.ndarray]" = weakref.WeakValueDictionary()


def mapped_array(data: Tensor) -> np.ndarray | None:
    """The ``numpy.memmap`` behind a tensor from :func:`open_memmap` (``None`` if it is not one)."""
    return _MAPPED.get(data.data_ptr())


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


#: the metadata fields its own digest covers besides the clips' names and lengths (the block digests need no
#: cover: an edited one fails its block's check)
_SIGNED = ("version", "key", "samples", "sample_rate", "crossfade", "token", "block_samples")


def _meta_digest(meta: dict[str, Any], lengths: np.ndarray | None = None) -> str:
    h = hashlib.blake2b(json.dumps([meta.get(k) for k in _SIGNED]).encode(), digest_size=16)
    h.update(np.asarray(meta["lengths"] if lengths is None else lengths, dtype=np.int64).tobytes())
    h.update("\0".join(meta["names"]).encode("utf-8", "surrogatepass"))
    return h.hexdigest()


class BlockCheck:
    """Lazy verification of a mapped bank's samples: block ``b`` (samples ``b*block`` to ``(b+1)*block``) is
    hashed (BLAKE2b, 8 bytes) and tested for finiteness the first time a read spans it, then marked good.

    Holds no reference to the samples (it travels with a pickled bank; the samples are re-mapped)."""

    def __init__(self, digests: bytes, block: int, samples: int) -> None:
        self.digests, self.block, self.samples = digests, int(block), int(samples)
        self.ok = np.zeros(len(digests) // _DIGEST, dtype=bool)

    def first_bad(self, data: np.ndarray, lo: int, hi: int) -> int | None:
        """The first block of samples ``[lo, hi)`` whose digest or finiteness fails, else ``None``."""
        block = self.block
        for b in range(lo // block, -(-hi // block)):
            if self.ok[b]:
                continue
            part = data[b * block:min((b + 1) * block, self.samples)]
            digest = hashlib.blake2b(memoryview(part).cast("B"), digest_size=_DIGEST).digest()
            if digest != self.digests[b * _DIGEST:(b + 1) * _DIGEST] or not np.isfinite(part).all():
                return b
            self.ok[b] = True
        return None


def check_metadata(meta: Any, key: str) -> BlockCheck:
    """Raise ``ValueError`` unless ``meta`` is a complete, unedited metadata record of bank ``key`` (no sample is
    read); return the :class:`BlockCheck` of its samples."""
    if not isinstance(meta, dict) or meta.get("version") != CACHE_VERSION or meta.get("key") != key:
        raise ValueError("metadata of another version or bank")
    samples, names = meta["samples"], meta["names"]
    lengths = np.asarray(meta["lengths"])
    if (type(samples) is not int or not isinstance(names, list) or lengths.ndim != 1 or lengths.dtype.kind != "i"
            or len(lengths) != len(names) or not (lengths > 0).all() or int(lengths.sum()) != samples):
        raise ValueError("clip lengths do not add up to the samples")
    if meta.get("digest") != _meta_digest(meta, lengths):
        raise ValueError("metadata edited or damaged (its digest differs)")
    blocks = bytes.fromhex(meta["blocks"])
    if meta["block_samples"] != BLOCK_SAMPLES or len(blocks) != _DIGEST * -(-samples // BLOCK_SAMPLES):
        raise ValueError("block digests do not cover the samples")
    return BlockCheck(blocks, BLOCK_SAMPLES, samples)


def load(cache_dir: Path, key: str, quiet: bool = False) -> tuple[Tensor, dict[str, Any], Path, BlockCheck] | None:
    """``(data, metadata, npy path, block check)`` of a cached bank, or ``None`` when absent or failing a check
    (then rebuilt; one warning unless ``quiet``)."""
    npy, meta_path = paths(cache_dir, key)
    if not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        check = check_metadata(meta, key)
        data = open_memmap(npy, meta["samples"], meta["token"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        if not quiet:
            warnings.warn(f"noise bank cache {npy} is unreadable or damaged ({err}); rebuilding it", stacklevel=3)
        return None
    try:
        os.utime(meta_path)  # last use: `audionoise cache prune --older-than` keeps what is in use
    except OSError:
        pass  # a read-only cache still serves
    return data, meta, npy, check


def build_lock(cache_dir: Path, key: str) -> Any:
    """Wait for and take the lock of building bank ``key`` (:func:`audionoise.io.lock.acquire`), after which the
    temporary files of killed builds of it are removed. Raises ``OSError`` if the folder is not writable."""
    from audionoise.io import lock as _lock
    from audionoise.io.files import temp_target

    cache_dir.mkdir(parents=True, exist_ok=True)
    lock = _lock.acquire(cache_dir / f"noisebank-{key}.lock", wait=True)
    mine = {p.name for p in paths(cache_dir, key)}
    for entry in os.scandir(cache_dir):
        if temp_target(entry.name) in mine:
            try:
                os.unlink(entry.path)
            except OSError:
                pass
    return lock


def discard(npy: Path, token: str | None) -> None:
    """Remove a cached bank (``.json`` first) if its ``.npy`` still holds build ``token`` (another process may
    have rebuilt it already); call under :func:`build_lock`."""
    try:
        with open(npy, "rb") as fh:
            fh.seek(-_TOKEN, os.SEEK_END)
            same = fh.read(_TOKEN).hex() == token
    except OSError:
        same = True
    if same:
        for p in (npy.with_suffix(".json"), npy):
            try:
                os.unlink(p)
            except OSError:
                pass


class NpyStream:
    """Writes a 1-D float32 ``.npy`` to an open binary file clip by clip (a corpus larger than RAM can be cached):
    a header for 0 samples first, the samples (digested block by block as they go), the build token, then the real
    header over the first one (NumPy reserves room in the header for the shape to grow, so it keeps its size)."""

    def __init__(self, fh: Any) -> None:
        self.fh, self.samples, self.header = fh, 0, _header(0)
        self.token = secrets.token_bytes(_TOKEN)
        self._digests: list[bytes] = []
        self._hash, self._filled = hashlib.blake2b(digest_size=_DIGEST), 0
        fh.write(self.header)

    def append(self, clip: np.ndarray) -> None:
        clip = np.ascontiguousarray(clip, dtype="<f4")
        self.fh.write(clip.data)
        self.samples += clip.shape[0]
        buf, step = memoryview(clip).cast("B"), 4 * BLOCK_SAMPLES
        while buf:
            take = min(len(buf), step - self._filled)
            self._hash.update(buf[:take])
            self._filled += take
            buf = buf[take:]
            if self._filled == step:
                self._digests.append(self._hash.digest())
                self._hash, self._filled = hashlib.blake2b(digest_size=_DIGEST), 0

    def finish(self) -> dict[str, Any]:
        """Write the token and the real header; the verification fields of the metadata."""
        if self._filled:
            self._digests.append(self._hash.digest())
        self.fh.write(self.token)
        header = _header(self.samples)
        if len(header) != len(self.header):  # pragma: no cover - old NumPy: no room to grow (kept in memory)
            raise OSError("this NumPy leaves no room to grow an .npy header in place; upgrade NumPy")
        self.fh.seek(0)
        self.fh.write(header)
        return {"token": self.token.hex(), "block_samples": BLOCK_SAMPLES, "blocks": b"".join(self._digests).hex()}


def write_bank(cache_dir: Path, key: str, fill: Callable[[Callable[[np.ndarray], None]], Any]
               ) -> tuple[Any, Path, dict[str, Any]]:
    """Write ``noisebank-<key>.npy`` atomically (:func:`audionoise.io.files.atomic_write`) from ``fill(append)``, which
    calls ``append(clip)`` for every clip in order; returns what ``fill`` returned, the file and its verification
    fields (for :func:`write_metadata`).

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
        out.append(stream.finish())

    atomic_write(npy, content)
    return out[0], npy, out[1]


def write_metadata(cache_dir: Path, key: str, meta: dict[str, Any]) -> None:
    """Write the ``.json`` next to a finished ``.npy`` (atomically); failures only warn."""
    from audionoise.io.files import atomic_write

    meta = {"version": CACHE_VERSION, "key": key, **meta}
    meta["digest"] = _meta_digest(meta)
    try:
        atomic_write(paths(cache_dir, key)[1], json.dumps(meta))
    except OSError as err:
        warnings.warn(f"noise bank cache metadata not written ({err}); the bank will be decoded again next time",
                      stacklevel=3)


def _header(samples: int) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False, "shape": (int(samples),)})
    return buf.getvalue()
