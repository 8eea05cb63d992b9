"""Formats, extensions, errors and file facts of :mod:`audionoise.io` (no reading or writing here)."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

from audionoise.io import _ffmpeg

# Extension -> (libsndfile container, default subtype used by `save`).
_FORMATS: dict[str, tuple[str, str]] = {
    ".wav": ("WAV", "PCM_16"),
    ".flac": ("FLAC", "PCM_16"),
    ".ogg": ("OGG", "VORBIS"),
    ".oga": ("OGG", "VORBIS"),
    ".opus": ("OGG", "OPUS"),
    ".mp3": ("MP3", "MPEG_LAYER_III"),
    ".aif": ("AIFF", "PCM_16"),
    ".aiff": ("AIFF", "PCM_16"),
    ".aifc": ("AIFF", "PCM_16"),
    ".au": ("AU", "PCM_16"),
    ".caf": ("CAF", "PCM_16"),
    ".w64": ("W64", "PCM_16"),
}

#: File extensions (lower case, with the dot) that libsndfile reads and writes.
AUDIO_EXTENSIONS: frozenset[str] = frozenset(_FORMATS)
#: Audio containers decoded through PyAV (``audionoise[ffmpeg]``), read only.
FFMPEG_EXTENSIONS: frozenset[str] = frozenset(_ffmpeg.FFMPEG_EXTENSIONS)
#: Every extension :func:`load` reads (with the extra installed).
READABLE_EXTENSIONS: frozenset[str] = AUDIO_EXTENSIONS | FFMPEG_EXTENSIONS
#: Frames handed to the encoder per call when writing.
WRITE_BLOCK_FRAMES = 1 << 18

# Opus only encodes at these rates.
_OPUS_RATES = (8000, 12000, 16000, 24000, 48000)



class AudioFileError(ValueError):
    """An audio file cannot be read or written.

    The message always starts with the path, then the reason and what to do.

    Attributes:
        path: The offending file.
        reason: Short description of the problem, without the path.
    """

    def __init__(self, path: str | os.PathLike, reason: str | None = None):
        if reason is None:  # one message (how torch's DataLoader re-raises a worker's error: the type is kept)
            self.path, self.reason = "", str(path)
            super().__init__(self.reason)
            return
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class AudioWriteError(AudioFileError):
    """Writing an audio file failed; ``os_error`` is the operating system's error (disk full, permissions,
    read-only file system, I/O error) when there was one, else ``None`` (an encoder error)."""

    def __init__(self, path: str | os.PathLike, reason: str | None = None, os_error: OSError | None = None):
        super().__init__(path, reason)
        self.os_error = os_error


@dataclass(frozen=True)
class AudioInfo:
    """What the header of an audio file says.

    Attributes:
        sample_rate: Samples per second per channel.
        frames: Number of samples per channel.
        channels: Number of channels.
        format: libsndfile container name, e.g. ``"WAV"``, ``"FLAC"``, ``"OGG"``.
        subtype: libsndfile sample encoding, e.g. ``"PCM_16"``, ``"PCM_24"``, ``"FLOAT"``.
    """

    sample_rate: int
    frames: int
    channels: int
    format: str
    subtype: str

    @property
    def duration(self) -> float:
        """Length in seconds (``frames / sample_rate``)."""
        return self.frames / self.sample_rate


def _suffix(path: str | os.PathLike) -> str:
    """``Path(path).suffix.lower()``; a plain POSIX path string is cut without building a ``Path`` (the offline
    engine asks for every output)."""
    if os.name == "posix" and isinstance(path, str):
        name = path[path.rfind("/") + 1:]
        if name not in ("", ".", ".."):
            i = name.rfind(".")
            return name[i:].lower() if 0 < i < len(name) - 1 else ""
    return _path(path).suffix.lower()


def _path(path: str | os.PathLike) -> Path:
    """``Path(path)``, without re-parsing one that already is (``Path(p)`` parses ``p`` again on Python 3.11)."""
    return path if isinstance(path, Path) else Path(path)


def format_for_path(path: str | os.PathLike) -> tuple[str, str]:
    """Return ``(container, default_subtype)`` that :func:`save` uses for ``path``.

    Args:
        path: A file name; only its extension matters (case-insensitive).

    Raises:
        AudioFileError: if the extension is not one of :data:`AUDIO_EXTENSIONS`.

    Example:
        >>> format_for_path("out/a.FLAC")
        ('FLAC', 'PCM_16')
    """
    ext = _suffix(path)
    if ext not in _FORMATS:
        raise AudioFileError(
            path,
            f"unsupported audio extension {ext or '(none)'!r}; use one of "
            f"{', '.join(sorted(AUDIO_EXTENSIONS))} (m4a/aac/wma/amr are read with audionoise[ffmpeg] "
            "but never written)",
        )
    return _FORMATS[ext]


@functools.lru_cache(maxsize=None)
def subtype_allowed(container: str, subtype: str) -> bool:
    """Whether libsndfile can write ``subtype`` into ``container`` (e.g. FLAC holds no FLOAT).

    Example:
        >>> subtype_allowed("WAV", "PCM_24"), subtype_allowed("FLAC", "FLOAT")
        (True, False)
    """
    return bool(sf.check_format(container, subtype))


def default_subtype(container: str) -> str:
    """The subtype :func:`save` uses for ``container`` when none is given (``"PCM_16"`` for WAV and FLAC).

    Example:
        >>> default_subtype("OGG")
        'VORBIS'
    """
    for fmt, sub in _FORMATS.values():
        if fmt == container:
            return sub
    raise ValueError(f"container {container!r} is not written by audionoise; use one of "
                     f"{', '.join(sorted({f for f, _ in _FORMATS.values()}))}")


