"""Process-level settings for fast CPU augmentation (opt-in; the library never changes them on import)."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def keep_freed_memory(mmap_threshold: int = 32 << 20, trim_threshold: int = 512 << 20) -> bool:
    """Ask glibc to keep freed batch-sized buffers instead of returning them to the OS.

    By default glibc serves every allocation above ~128 KB-32 MB with a fresh ``mmap`` and unmaps it on free,
    so each new batch tensor (4 MB for 64 x 1 s of float32 audio) costs about a thousand page faults: measured
    here, a ``TimeShift`` with ``lengths`` on 32 x 1 s took 5.1 ms that way and 0.8 ms with the memory kept.
    Raising the mmap and trim thresholds (``mallopt``) makes such buffers come from the heap and stay there.
    The augment/train/evaluate commands call this at start; call it yourself in a training script.

    Returns:
        ``True`` if the settings were applied (Linux with glibc), ``False`` otherwise (nothing changed).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold))) and bool(mallopt(_M_TRIM_THRESHOLD,
                                                                                    int(trim_threshold)))


# OpenBLAS thread-count entry points, by build: NumPy's wheels (scipy-openblas, 64-bit ints), plain OpenBLAS.
_BLAS_SETTERS = ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_", "openblas_set_num_threads")
_BLAS_GETTERS = ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_", "openblas_get_num_threads")
_BLAS: list = []  # [(getter, setter)] once looked up; [] -> not looked up; [None] -> none loaded


def _openblas():
    """``(get, set)`` of the OpenBLAS loaded in this process (NumPy's), or ``None`` (not Linux, not OpenBLAS)."""
    if not _BLAS:
        found = None
        try:
            with open("/proc/self/maps", encoding="utf-8", errors="replace") as fh:
                paths = {line.split(None, 5)[5].strip() for line in fh if "openblas" in line and line.count(" ") >= 5}
        except OSError:
            paths = set()
        for path in sorted(paths):
            try:
                lib = ctypes.CDLL(path)  # already loaded: the same handle
            except OSError:
                continue
            get = next((getattr(lib, n) for n in _BLAS_GETTERS if hasattr(lib, n)), None)
            put = next((getattr(lib, n) for n in _BLAS_SETTERS if hasattr(lib, n)), None)
            if get is not None and put is not None:
                get.restype, put.argtypes = ctypes.c_int, [ctypes.c_int]
                found = (get, put)
                break
        _BLAS.append(found)
    return _BLAS[0]


def set_blas_threads(threads: int) -> int | None:
    """Set the thread count of NumPy's OpenBLAS (its ``openblas_set_num_threads``); returns the previous count, or
    ``None`` where NumPy does not use a loaded OpenBLAS (nothing changed).

    The offline engine runs its maths on one thread per process (``--workers W`` means W cores): OpenBLAS would
    otherwise start a thread per core for a long dot product (its threshold is 10,000 elements), and those
    threads spin between calls, taking CPU from the other worker processes (measured: 0.2 s of a 3,000-file job
    in the parent alone). NumPy must be imported first.
    """
    blas = _openblas()
    if blas is None:
        return None
    get, put = blas
    previous = int(get())
    put(int(threads))
    return previous
