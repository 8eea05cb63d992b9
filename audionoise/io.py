"""Audio file input/output: the only module of audionoise that touches audio files.

Reading and writing go through `soundfile` (libsndfile), resampling through
`torchaudio.functional.resample`. Containers libsndfile cannot read (m4a/AAC, MP4 audio, WMA, AMR, ...:
:data:`FFMPEG_EXTENSIONS`) are decoded through PyAV when the ``audionoise[ffmpeg]`` extra is installed; they
are never written. Waveforms are float32 tensors shaped ``(channels, time)``.

Every problem with a file raises :class:`AudioFileError` (a ``ValueError``) whose
message names the file, says what is wrong and what to do about it, so that a
folder tool can log one clear line per bad file and go on.

Writes are atomic: :func:`save` and :class:`AudioWriter` write a temporary file in the destination
folder and rename it over the destination, so a reader (or a resumed job after
``kill -9``) only ever sees no file or a complete file. Samples reach the encoder in blocks of
:data:`WRITE_BLOCK_FRAMES` frames (libvorbis overflows its stack when handed millions of samples at once).

Example:
    >>> import torch
    >>> from audionoise import io
    >>> io.save("/tmp/tone.wav", torch.zeros(1, 160), 16000)
    >>> x, sr = io.load("/tmp/tone.wav")
    >>> x.shape, sr
    (torch.Size([1, 160]), 16000)
"""

from __future__ import annotations

import contextlib
import errno
import functools
import io as io_module
import math
import os
import re
import stat as stat_module
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soundfile as sf

from audionoise import _ffmpeg, _wav
from audionoise._tags import CHANNELS_FIRST_TAG

if TYPE_CHECKING:
    import torch
from audionoise._fs import atomic_open, temp_target, write_file_atomically

__all__ = [
    "AUDIO_EXTENSIONS",
    "FFMPEG_EXTENSIONS",
    "READABLE_EXTENSIONS",
    "WRITE_BLOCK_FRAMES",
    "CODECS",
    "codec_rate",
    "codec_round_trip",
    "AudioFileError",
    "AudioWriteError",
    "AudioWriter",
    "AudioInfo",
    "check_header",
    "info",
    "load",
    "load_with_info",
    "read_blocks",
    "save",
    "format_for_path",
    "subtype_allowed",
    "default_subtype",
    "temp_target",
]

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
#: :func:`save` encodes signals up to this size (float32 bytes) in memory and writes the file in one system call;
#: longer ones are streamed to the file block by block (the bytes are the same).
SAVE_IN_MEMORY_BYTES = 1 << 25

# Opus only encodes at these rates.
_OPUS_RATES = (8000, 12000, 16000, 24000, 48000)


class AudioFileError(ValueError):
    """An audio file cannot be read or written.

    The message always starts with the path, then the reason and what to do.

    Attributes:
        path: The offending file.
        reason: Short description of the problem, without the path.
    """

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class AudioWriteError(AudioFileError):
    """Writing an audio file failed; ``os_error`` is the operating system's error (disk full, permissions,
    read-only file system, I/O error) when there was one, else ``None`` (an encoder error)."""

    def __init__(self, path: str | os.PathLike, reason: str, os_error: OSError | None = None):
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


def _check_readable(path: Path) -> None:
    try:
        st = os.stat(path)  # one system call for what exists(), is_file() and stat() would ask
    except ValueError:  # e.g. an embedded NUL: no such file (as Path.exists says)
        st = None
    except OSError as err:
        if err.errno not in (errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP):
            raise
        st = None
    if st is None:
        raise AudioFileError(path, "no such file; check the path")
    if not stat_module.S_ISREG(st.st_mode):
        raise AudioFileError(path, "not a regular file (a folder or device?); pass an audio file")
    if path.suffix.lower() in FFMPEG_EXTENSIONS:
        if not _ffmpeg.available():
            raise AudioFileError(path, _ffmpeg.missing_reason(path))
    else:
        format_for_path(path)
    if st.st_size == 0:
        raise AudioFileError(path, "empty file (0 bytes); re-export or remove it")


def _open(path: Path) -> sf.SoundFile:
    try:
        return sf.SoundFile(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as err:
        detail = str(err).split(": ", 1)[-1].strip() or type(err).__name__
        raise AudioFileError(
            path,
            f"not a readable audio file (libsndfile: {detail}); the bytes do not match a "
            "supported container (wrong extension, non-audio data or corrupt header): "
            "re-export it as WAV or FLAC",
        ) from None


# libsndfile logs e.g. "data : 64000 (should be 31978)" when a WAV/AIFF data chunk
# claims more bytes than the file holds.
_SHORT_CHUNK = re.compile(r"^\s*(?:data|SSND)\s*:\s*(\d+)\s*\(should be (\d+)\)", re.M)
# Sizes that streaming writers put in a header when the length is not known yet.
_UNKNOWN_SIZES = {0, 0xFFFFFFFF, 0x7FFFFFFF, 0xFFFFFFFF - 8}


def _truncation(f: sf.SoundFile) -> str | None:
    """Return a reason if libsndfile's log shows a data chunk cut short, else None."""
    try:
        log = f.extra_info
    except Exception:  # pragma: no cover - extra_info is best effort
        return None
    for declared, actual in _SHORT_CHUNK.findall(log):
        declared, actual = int(declared), int(actual)
        if actual < declared and declared not in _UNKNOWN_SIZES:
            return (
                f"truncated file: the header declares {declared} bytes of audio data but only "
                f"{actual} are present (interrupted copy or download?); re-copy it from the source"
            )
    return None


def info(path: str | os.PathLike) -> AudioInfo:
    """Read the header of an audio file without decoding it.

    Args:
        path: An audio file with an extension in :data:`AUDIO_EXTENSIONS`.

    Returns:
        An :class:`AudioInfo`. ``frames`` is what the header says; :func:`load` checks
        the samples themselves.

    Raises:
        AudioFileError: missing, empty, unsupported or unreadable file.

    Example:
        >>> info("speech.wav")  # doctest: +SKIP
        AudioInfo(sample_rate=16000, frames=16000, channels=1, format='WAV', subtype='PCM_16')
    """
    path = _path(path)
    _check_readable(path)
    if path.suffix.lower() in FFMPEG_EXTENSIONS:
        try:
            rate, frames, channels, container, codec = _ffmpeg.probe(path)
        except ValueError as err:
            raise AudioFileError(path, f"not a readable {_ffmpeg.kind(path)} file ({err})") from None
        return AudioInfo(rate, frames, channels, path.suffix[1:].upper(), codec.upper())
    with _open(path) as f:
        return AudioInfo(int(f.samplerate), int(f.frames), int(f.channels), f.format, f.subtype)


def check_header(path: str | os.PathLike) -> AudioInfo:
    """:func:`info`, and raise where the header alone shows the file is unusable (no sample is decoded).

    Catches what a data set scan should catch before a long run starts: missing, empty, non-audio or
    unsupported files (as :func:`info`), a WAV/AIFF data chunk cut short (interrupted copy: the header declares
    more bytes than the file holds) and zero frames. Damage inside the samples (e.g. a corrupt FLAC frame) is
    only seen by :func:`load`.

    Raises:
        AudioFileError: with the path and what to do.

    Example:
        >>> check_header("half_copied.wav")  # doctest: +SKIP
        Traceback (most recent call last):
        audionoise.io.AudioFileError: half_copied.wav: truncated file: the header declares 32000 bytes ...
    """
    path = _path(path)
    _check_readable(path)
    with _open(path) as f:
        meta = AudioInfo(int(f.samplerate), int(f.frames), int(f.channels), f.format, f.subtype)
        reason = _truncation(f)
    if reason is None and meta.frames == 0 and meta.format != "MP3":  # MP3 headers may not know the length
        reason = "no audio frames (header only or zero-length); re-export it or remove it from the folder"
    if reason is not None:
        raise AudioFileError(path, reason)
    return meta


def load(
    path: str | os.PathLike,
    sample_rate: int | None = None,
    mono: bool = False,
    offset: float = 0.0,
    duration: float | None = None,
) -> tuple[torch.Tensor, int]:
    """Decode an audio file (or a segment of it) into a float32 tensor ``(channels, time)``.

    Integer PCM is scaled to [-1, 1) (``int16 / 32768``); float files keep their values.
    When ``sample_rate`` differs from the file's rate the signal is resampled with
    ``torchaudio.functional.resample`` (windowed-sinc), so the length becomes
    ``ceil(frames * sample_rate / file_rate)``. ``mono=True`` averages the channels:
    ``y[0, t] = mean_c x[c, t]``.

    ``offset``/``duration`` (seconds, at the file's rate) decode only the frames
    ``[round(offset * rate), round(offset * rate) + round(duration * rate))`` (at least one frame),
    seeking instead of decoding what comes before; a segment running past the end stops at the
    end of the file. Resampling is applied to the segment.

    Args:
        path: Audio file (WAV 8/16/24/32-bit int, float32/64, u-law/a-law, IMA/MS ADPCM;
            FLAC; OGG/Vorbis; Opus; MP3; AIFF; AU; CAF; W64).
        sample_rate: Target rate in Hz, or ``None`` to keep the file's rate.
        mono: Average all channels into one.
        offset: Start of the segment in seconds (``>= 0``, before the end of the file).
        duration: Length of the segment in seconds (``> 0``), or ``None`` to read to the end.

    Returns:
        ``(waveform, sample_rate)`` with ``waveform`` float32, shape ``(channels, time)``
        (``channels == 1`` when ``mono``), and the rate of the returned waveform. The shape is ONE
        example's channels; injectors read a 2-D tensor as a batch of mono clips, so pass ``x[None]``
        (``(1, channels, time)``) to augment a multichannel file. A multichannel tensor from ``load``
        passed straight to an injector raises ``ValueError`` (the tensor carries a marker attribute).

    Raises:
        AudioFileError: missing, empty, truncated or header-only file, non-audio bytes,
            unsupported container, zero frames, NaN/Inf samples, ``offset`` at or past the end.
        ValueError: ``sample_rate`` is not a positive integer, ``offset`` is negative or
            ``duration`` not positive.

    Example:
        >>> x, sr = load("speech_48k_stereo.wav", sample_rate=16000, mono=True)  # doctest: +SKIP
        >>> x.shape, sr  # doctest: +SKIP
        (torch.Size([1, 16000]), 16000)
        >>> load("speech_48k_stereo.wav", offset=0.5, duration=0.25)[0].shape  # doctest: +SKIP
        torch.Size([2, 12000])
    """
    x, rate, _ = load_with_info(path, sample_rate=sample_rate, mono=mono, offset=offset, duration=duration)
    setattr(x, CHANNELS_FIRST_TAG, True)
    return x, rate


def _check_segment(offset: float, duration: float | None) -> None:
    if isinstance(offset, bool) or not isinstance(offset, (int, float)) or not math.isfinite(offset) or offset < 0:
        raise ValueError(f"offset ({offset!r}) must be a finite number of seconds >= 0")
    if duration is not None and (isinstance(duration, bool) or not isinstance(duration, (int, float))
                                 or not math.isfinite(duration) or duration <= 0):
        raise ValueError(f"duration ({duration!r}) must be a finite number of seconds > 0, or None for the rest "
                         "of the file")


def _read_sndfile(path: Path, offset: float, duration: float | None) -> tuple[np.ndarray, AudioInfo]:
    """Frames ``(time, channels)`` of the segment and the header of a file libsndfile reads (plain 16-bit WAV
    without it: :mod:`audionoise._wav`, the same values)."""
    if path.suffix.lower() == ".wav":
        fast = _wav.read_pcm16(path, offset, duration)
        if fast is not None:
            data, rate, frames = fast
            return data, AudioInfo(rate, frames, data.shape[1], "WAV", "PCM_16")
    with _open(path) as f:
        declared = int(f.frames)
        file_rate = int(f.samplerate)
        fmt = f.format
        meta = AudioInfo(file_rate, declared, int(f.channels), fmt, f.subtype)
        reason = _truncation(f)
        start = round(offset * file_rate)
        count = -1 if duration is None else max(1, round(duration * file_rate))
        if reason is None and start and declared and start >= declared:
            reason = (f"offset {offset} s (frame {start}) is at or past the end of the file ({declared} frames, "
                      f"{declared / file_rate:.3f} s); fix the offset (in a manifest: the line's \"offset\")")
        if reason is None:
            try:
                if start:
                    f.seek(start)
                data = f.read(frames=count, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError) as err:
                detail = str(err).split(": ", 1)[-1].strip()
                reason = (
                    f"decoding failed after the header (libsndfile: {detail}); the file is "
                    "corrupt or truncated: re-copy or re-export it"
                )
    if reason is not None:
        raise AudioFileError(path, reason)
    if data.shape[0] == 0:
        raise AudioFileError(
            path,
            "no audio frames (header only, zero-length or truncated before the first "
            "sample); re-export it or remove it from the folder",
        )
    # MP3 headers without a Xing/VBRI table only estimate the length: allow 5 % slack there.
    slack = declared // 20 if fmt == "MP3" else 0
    expected = declared - start if count < 0 else min(count, declared - start)
    if 0 < declared and data.shape[0] < expected - slack:
        raise AudioFileError(
            path,
            f"truncated file: the header declares {declared} frames but only {start + data.shape[0]} "
            "could be decoded; re-copy it from the source",
        )
    return data, meta


def _read_ffmpeg(path: Path, offset: float, duration: float | None) -> tuple[np.ndarray, AudioInfo]:
    """Frames ``(time, channels)`` of the segment and the stream's properties of a file PyAV decodes."""
    try:
        data, rate, channels, container, codec = _ffmpeg.decode(path)
    except ValueError as err:
        raise AudioFileError(path, f"not a readable {_ffmpeg.kind(path)} file ({err}); re-export it as WAV or "
                                   "FLAC") from None
    meta = AudioInfo(rate, int(data.shape[0]), channels, path.suffix[1:].upper(), codec.upper())
    start = round(offset * rate)
    if start and start >= data.shape[0]:
        raise AudioFileError(path, f"offset {offset} s (frame {start}) is at or past the end of the file "
                                   f"({data.shape[0]} frames); fix the offset (in a manifest: the line's \"offset\")")
    stop = None if duration is None else start + max(1, round(duration * rate))
    data = data[start:stop]
    if data.shape[0] == 0:
        raise AudioFileError(path, "no audio frames (an empty stream); re-export it or remove it from the folder")
    return data, meta


def load_with_info(
    path: str | os.PathLike,
    sample_rate: int | None = None,
    mono: bool = False,
    offset: float = 0.0,
    duration: float | None = None,
) -> tuple[torch.Tensor, int, AudioInfo]:
    """:func:`load` plus the file's :class:`AudioInfo` (as stored, before resampling), with one open.

    Example:
        >>> x, sr, meta = load_with_info("speech_24bit.wav")  # doctest: +SKIP
        >>> meta.subtype  # doctest: +SKIP
        'PCM_24'
    """
    import torch

    if sample_rate is not None and (int(sample_rate) != sample_rate or sample_rate <= 0):
        raise ValueError(f"sample_rate ({sample_rate!r}) must be a positive integer number of Hz or None")
    data, meta = load_array(path, offset=offset, duration=duration)
    x = torch.from_numpy(data)
    file_rate = meta.sample_rate
    if mono and x.shape[0] > 1:
        x = x.mean(dim=0, keepdim=True)
    if sample_rate is not None and int(sample_rate) != file_rate:
        import torchaudio.functional as AF  # here: importing torchaudio costs ~0.2 s, needed only to resample

        x = AF.resample(x, file_rate, int(sample_rate))
        file_rate = int(sample_rate)
    return x, file_rate, meta


def load_array(path: str | os.PathLike, offset: float = 0.0,
               duration: float | None = None) -> tuple[np.ndarray, AudioInfo]:
    """The checked samples of a file (or segment) as float32 ``(channels, time)`` NumPy (C-contiguous) and its
    :class:`AudioInfo`, at the file's rate, without torch: :func:`load_with_info` without resampling or mixing."""
    _check_segment(offset, duration)
    path = _path(path)
    _check_readable(path)
    if path.suffix.lower() in FFMPEG_EXTENSIONS:
        data, meta = _read_ffmpeg(path, offset, duration)
    else:
        data, meta = _read_sndfile(path, offset, duration)
    # integer samples (PCM, u-law/A-law) decode to finite floats: only float and compressed files are scanned
    if not meta.subtype.startswith(("PCM_", "ULAW", "ALAW")) and not np.isfinite(data).all():
        bad = int((~np.isfinite(data)).sum())
        raise AudioFileError(
            path,
            f"contains {bad} NaN/Inf sample(s) (a float file written from a broken "
            "computation?); fix or remove it",
        )
    return np.ascontiguousarray(data.T), meta


def read_blocks(path: str | os.PathLike, block_frames: int, start: int = 0, stop: int | None = None):
    """Yield the frames ``[start, stop)`` of a file libsndfile reads as float32 tensors ``(channels, n)`` of at most
    ``block_frames`` frames each, holding one block at a time (for files too long to load whole).

    Raises:
        AudioFileError: unreadable or truncated file, NaN/Inf samples (naming the first bad block's frame).
    """
    import torch

    path = _path(path)
    _check_readable(path)
    if path.suffix.lower() in FFMPEG_EXTENSIONS:
        raise AudioFileError(path, "block reading is for files libsndfile reads; load it whole")
    with _open(path) as f:
        stop = int(f.frames) if stop is None else min(int(stop), int(f.frames))
        if start:
            f.seek(start)
        pos = start
        while pos < stop:
            try:
                data = f.read(frames=min(block_frames, stop - pos), dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError) as err:
                raise AudioFileError(path, f"decoding failed at frame {pos} (libsndfile: {err}); re-copy or "
                                           "re-export it") from None
            if data.shape[0] == 0:
                raise AudioFileError(path, f"truncated file: no frames could be decoded after frame {pos} "
                                           f"of {stop}; re-copy it from the source")
            if not np.isfinite(data).all():
                raise AudioFileError(path, f"contains NaN/Inf sample(s) from frame {pos} on; fix or remove it")
            yield torch.from_numpy(np.ascontiguousarray(data.T))
            pos += data.shape[0]


def _as_frames_by_channels(waveform, path, allow_empty: bool = False) -> np.ndarray:
    """``(time, channels)`` float32 C-contiguous copy-or-view of a ``(time,)``/``(channels, time)`` waveform."""
    if hasattr(waveform, "detach"):  # a torch tensor (torch is not imported for NumPy callers)
        import torch

        waveform = waveform.detach().to("cpu", torch.float32).numpy()
    data = np.asarray(waveform, dtype=np.float32)
    if data.ndim == 1:
        data = data[None, :]
    if data.ndim != 2:
        raise ValueError(
            f"waveform for {path} has shape {tuple(data.shape)}; pass (time,) or (channels, time)"
        )
    if data.shape[1] == 0 and not allow_empty:
        raise ValueError(f"waveform for {path} has zero samples; nothing to write")
    if not np.isfinite(data).all():
        raise ValueError(
            f"waveform for {path} contains NaN/Inf; refusing to write a corrupt file"
        )
    return np.ascontiguousarray(data.T)


def _ogg_crc(page: bytes) -> int:
    """CRC-32 of an Ogg page: polynomial 0x04C11DB7, initial 0, no reflection, no final xor."""
    crc = 0
    for byte in page:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _OGG_CRC_TABLE[(crc >> 24) ^ byte]
    return crc


def _make_ogg_crc_table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        r = i << 24
        for _ in range(8):
            r = ((r << 1) ^ 0x04C11DB7) if r & 0x80000000 else (r << 1)
        table.append(r & 0xFFFFFFFF)
    return tuple(table)


_OGG_CRC_TABLE = _make_ogg_crc_table()


def _set_ogg_serial(data: bytes, serial: int) -> bytes:
    """Return an Ogg file with every page's stream serial set to ``serial`` (CRCs redone).

    libsndfile draws a random serial per file, which would make identical audio give
    different bytes; a serial derived from the file name keeps outputs reproducible.
    Data that is not a plain sequence of Ogg pages is returned unchanged.
    """
    out = bytearray(data)
    i = 0
    while i < len(out):
        if out[i : i + 4] != b"OggS" or i + 27 > len(out):
            return bytes(data)
        nseg = out[i + 26]
        length = 27 + nseg + sum(out[i + 27 : i + 27 + nseg])
        out[i + 14 : i + 18] = serial.to_bytes(4, "little")
        out[i + 22 : i + 26] = b"\0\0\0\0"
        crc = _ogg_crc(bytes(out[i : i + length]))
        out[i + 22 : i + 26] = crc.to_bytes(4, "little")
        i += length
    return bytes(out)


# libsndfile command (sndfile.h): whether float WAV/AIFF files get a PEAK chunk. The chunk holds a time stamp,
# so it is switched off to make equal audio give equal bytes.
_SFC_SET_ADD_PEAK_CHUNK = 0x1050


class _KeepOSError:
    """The file object libsndfile writes through (virtual I/O), keeping the first ``OSError`` (disk full, ...).

    An exception inside libsndfile's callback cannot cross into C: the callback reports a short write instead,
    libsndfile fails, and :class:`AudioWriter` raises the kept error.
    """

    def __init__(self, fh) -> None:
        self.fh, self.error = fh, None

    def write(self, data) -> int:
        try:
            return self.fh.write(data)
        except OSError as err:
            self.error = self.error or err
            return 0

    def seek(self, offset: int, whence: int = 0) -> int:
        try:
            return self.fh.seek(offset, whence)
        except OSError as err:
            self.error = self.error or err
            return -1

    def tell(self) -> int:
        return self.fh.tell()

    def read(self, n: int = -1) -> bytes:  # pragma: no cover - libsndfile reads nothing back in write mode
        return b""


def _check_write_args(path: Path, sample_rate, subtype: str | None) -> tuple[str, str, int]:
    container, default_subtype = format_for_path(path)
    subtype = (subtype or default_subtype).upper()
    if not subtype_allowed(container, subtype):
        allowed = ", ".join(sorted(sf.available_subtypes(container)))
        raise AudioFileError(
            path, f"subtype {subtype!r} cannot be stored in {container}; use one of {allowed}"
        )
    if isinstance(sample_rate, bool) or int(sample_rate) != sample_rate or sample_rate <= 0:
        raise ValueError(f"sample_rate ({sample_rate!r}) for {path} must be a positive integer")
    sample_rate = int(sample_rate)
    if subtype == "OPUS" and sample_rate not in _OPUS_RATES:
        raise AudioFileError(
            path,
            f"Opus cannot store {sample_rate} Hz (allowed: {_OPUS_RATES}); resample first "
            "or choose another format",
        )
    if not path.parent.is_dir():
        raise AudioFileError(path, f"destination folder {path.parent} does not exist; create it first")
    return container, subtype, sample_rate


class AudioWriter:
    """Write one audio file block by block, atomically: the file appears complete at :meth:`close`, or never.

    Use it to write a signal that is produced in pieces (a long file processed in blocks) without holding it
    all; :func:`save` is the one-call form. Every :meth:`write` hands the encoder at most
    :data:`WRITE_BLOCK_FRAMES` frames at a time. Ogg (Vorbis/Opus) bytes are gathered in memory (compressed) so
    the stream serial can be made reproducible, then written at :meth:`close`; ``in_memory=True`` does the same
    for any container (one ``write`` system call instead of dozens of small writes and seeks: what :func:`save`
    uses for short signals; the bytes are the same either way).

    Example:
        >>> import torch
        >>> with AudioWriter("/tmp/long.flac", 16000, channels=1) as w:
        ...     for _ in range(3):
        ...         w.write(torch.zeros(1, 16000))
        >>> info("/tmp/long.flac").frames
        48000

    Raises:
        AudioFileError: as :func:`save`; :class:`AudioWriteError` (with ``os_error``) when writing fails.
        ValueError: a block with another channel count, NaN/Inf values or a bad shape.
    """

    def __init__(self, path: str | os.PathLike, sample_rate: int, channels: int, subtype: str | None = None,
                 in_memory: bool = False):
        self.path = _path(path)
        self.container, self.subtype, self.sample_rate = _check_write_args(self.path, sample_rate, subtype)
        if not isinstance(channels, int) or channels < 1:
            raise ValueError(f"channels ({channels!r}) for {self.path} must be an integer >= 1")
        self.channels, self.frames = channels, 0
        self._pending: list[np.ndarray] = []
        self._pending_frames = 0
        self._clip = self.subtype.startswith("PCM") or self.subtype in ("ULAW", "ALAW")
        self._stack = contextlib.ExitStack()
        self._sf: sf.SoundFile | None = None
        try:
            self._fh = self._stack.enter_context(atomic_open(self.path))
            if in_memory and self.container == "WAV" and self.subtype == "PCM_16":
                # NumPy encodes plain 16-bit WAV (libsndfile's bytes, ~8x faster for a short clip: _wav)
                self._sf = self._memory = self._target = _wav.Pcm16Writer(self.sample_rate, channels)
                return
            self._memory = io_module.BytesIO() if in_memory or self.container == "OGG" else None
            self._target = _KeepOSError(self._fh) if self._memory is None else self._memory
            self._sf = sf.SoundFile(self._target, "w", self.sample_rate, channels, self.subtype,
                                    format=self.container)
            sf._snd.sf_command(self._sf._file, _SFC_SET_ADD_PEAK_CHUNK, sf._ffi.NULL, 0)
        except BaseException as err:
            self._fail(err)

    def write(self, block) -> None:
        """Append ``block`` (``(channels, time)`` or ``(time,)`` for mono, tensor or array)."""
        data = _as_frames_by_channels(block, self.path, allow_empty=True)
        if data.shape[1] != self.channels:
            raise ValueError(f"block for {self.path} has {data.shape[1]} channel(s); the file has {self.channels}")
        self._write_frames(data)

    def _write_frames(self, data: np.ndarray, copy: bool = True) -> None:
        """Append checked ``(time, channels)`` float32 frames (``copy=False``: the caller keeps ``data`` unchanged
        until :meth:`close`, as :func:`save` does).

        The encoder always gets whole blocks of :data:`WRITE_BLOCK_FRAMES` (the rest waits for the next call or
        :meth:`close`), so the bytes never depend on how the caller cut the signal (Vorbis packets do).
        Integer subtypes are clipped to [-1, 1] block by block (a copy: the caller's data is untouched).
        """
        self._pending.append(data)
        self._pending_frames += data.shape[0]
        self.frames += data.shape[0]
        if self._pending_frames >= WRITE_BLOCK_FRAMES:
            self._flush(final=False)
        elif copy and self._pending and self._pending[-1] is data:
            self._pending[-1] = data.copy()  # kept past this call: never a view of the caller's buffer

    def _flush(self, final: bool) -> None:
        data = self._pending[0] if len(self._pending) == 1 else np.concatenate(self._pending)
        whole = data.shape[0] if final else data.shape[0] - data.shape[0] % WRITE_BLOCK_FRAMES
        try:
            for i in range(0, whole, WRITE_BLOCK_FRAMES):
                chunk = data[i:i + WRITE_BLOCK_FRAMES]
                # (the NumPy PCM_16 encoder saturates as clipping first would: no copy needed)
                clip = self._clip and not isinstance(self._sf, _wav.Pcm16Writer)
                self._sf.write(np.clip(chunk, -1.0, 1.0) if clip else chunk)
        except BaseException as err:
            self._fail(err)
        rest = data[whole:].copy()
        self._pending, self._pending_frames = ([rest] if rest.shape[0] else []), rest.shape[0]

    def close(self) -> None:
        """Finish the file and rename it into place (nothing is left behind if this fails)."""
        if self._sf is None:
            return
        try:
            if self.frames == 0:
                raise ValueError(f"waveform for {self.path} has zero samples; nothing to write")
            if self._pending:
                self._flush(final=True)
            sf_file, self._sf = self._sf, None
            sf_file.close()
            self._raise_kept()
            if self.container == "OGG":
                self._fh.write(_set_ogg_serial(self._memory.getvalue(), zlib.crc32(self.path.name.encode("utf-8"))))
            elif self._memory is not None:
                with self._memory.getbuffer() as encoded:
                    self._fh.write(encoded)
            self._stack.close()  # flush + rename
        except BaseException as err:
            self._fail(err)

    def abort(self) -> None:
        """Drop the file being written (the destination is left as it was)."""
        if self._sf is not None:
            sf_file, self._sf = self._sf, None
            try:
                sf_file.close()
            except Exception:  # noqa: BLE001 - the file is discarded anyway
                pass
        self._stack.__exit__(RuntimeError, RuntimeError("aborted"), None)

    def __enter__(self) -> "AudioWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def _raise_kept(self) -> None:
        kept = getattr(self._target, "error", None)
        if kept is not None:
            raise kept

    def _fail(self, err: BaseException):
        """Abort, then raise ``err`` as an :class:`AudioWriteError` when it is a write failure."""
        kept = getattr(getattr(self, "_target", None), "error", None)
        self.abort()
        if isinstance(err, (ValueError, AudioFileError, KeyboardInterrupt, SystemExit)) and kept is None:
            raise err
        os_error = kept if kept is not None else err if isinstance(err, OSError) else None
        detail = os_error if os_error is not None else err
        hint = "free some space" if os_error is not None and os_error.errno in _FULL else "check free space and permissions"
        raise AudioWriteError(self.path, f"could not write ({detail}); {hint}", os_error) from (os_error or err)


# errno values that mean "no space": ENOSPC, EDQUOT
_FULL = {28, 122}


def save(
    path: str | os.PathLike,
    waveform,
    sample_rate: int,
    subtype: str | None = None,
) -> None:
    """Write a waveform to an audio file atomically.

    The container comes from the extension (see :func:`format_for_path`). The data go to
    a hidden temporary file in the same folder, which is then renamed over ``path``
    (``os.replace``), so ``path`` is either absent, the old file, or the complete new
    file, never a partial one; the temporary file is removed if anything fails. Values
    outside [-1, 1] are clipped when the subtype is integer PCM. The encoder gets the samples in blocks of
    :data:`WRITE_BLOCK_FRAMES` frames, so any length can be written. Equal audio always gives equal
    bytes: Ogg files get a stream serial derived from the file name (libsndfile draws a random one) and
    float files no PEAK chunk (it holds a time stamp).

    Args:
        path: Destination; its folder must exist.
        waveform: Tensor or array shaped ``(time,)`` or ``(channels, time)``.
        sample_rate: Samples per second (Opus allows only 8/12/16/24/48 kHz).
        subtype: libsndfile subtype such as ``"PCM_16"``, ``"PCM_24"``, ``"FLOAT"``;
            ``None`` uses the extension's default (PCM_16 for WAV/FLAC, Vorbis for .ogg).

    Raises:
        AudioFileError: unsupported extension, subtype not allowed in the container or
            missing folder; :class:`AudioWriteError` when the writer failed (``os_error`` holds
            the system's error, e.g. errno 28 for a full disk).
        ValueError: bad shape, zero samples, NaN/Inf values or a bad ``sample_rate``.

    Example:
        >>> save("/tmp/noise.flac", 0.1 * torch.randn(2, 16000), 16000, subtype="PCM_24")
    """
    path = _path(path)
    format_for_path(path)  # the extension first: its error is the most useful
    data = _as_frames_by_channels(waveform, path)
    if data.nbytes <= SAVE_IN_MEMORY_BYTES:
        container, subtype_, rate = _check_write_args(path, sample_rate, subtype)
        if container == "WAV" and subtype_ == "PCM_16":  # NumPy encodes it (libsndfile's bytes): one system write
            _write_encoded(path, _wav.header(rate, data.shape[1], data.shape[0]) + _wav.encode_pcm16(data))
            return
    with AudioWriter(path, sample_rate, data.shape[1], subtype, in_memory=data.nbytes <= SAVE_IN_MEMORY_BYTES) as w:
        w._write_frames(data, copy=False)


def _write_encoded(path: Path, encoded: bytes) -> None:
    """Write a whole encoded file atomically (:func:`audionoise._fs.write_file_atomically`), failures as
    :func:`save` reports them."""
    try:
        write_file_atomically(path, encoded)
    except Exception as err:  # noqa: BLE001 - any failure of the write is reported for this file
        os_error = err if isinstance(err, OSError) else None
        hint = "free some space" if os_error is not None and os_error.errno in _FULL else \
            "check free space and permissions"
        raise AudioWriteError(path, f"could not write ({err}); {hint}", os_error) from err


# -- in-memory codec round trips (the Codec injector) --------------------------------------------------------------

#: codec name -> (libsndfile container, subtype, sample rates it encodes or None for any, mono only)
CODECS: dict[str, tuple[str, str, tuple[int, ...] | None, bool]] = {
    "mp3": ("MP3", "MPEG_LAYER_III", (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000), False),
    "vorbis": ("OGG", "VORBIS", None, False),
    "opus": ("OGG", "OPUS", _OPUS_RATES, False),
    "gsm": ("WAV", "GSM610", (8000,), True),
}

# LAME (libsndfile's MP3 encoder) refuses libsndfile's lowest CBR setting (compression level 1.0).
_MP3_MAX_COMPRESSION = 0.99
# Frames per SoundFile.write call (libvorbis crashes on very large single writes: python-soundfile #426).
_WRITE_BLOCK = 1 << 16


def _check_codec(codec: str) -> tuple[str, str, tuple[int, ...] | None, bool]:
    if codec not in CODECS:
        raise ValueError(f"unknown codec {codec!r}; available: {', '.join(CODECS)}")
    return CODECS[codec]


def codec_rate(codec: str, sample_rate: int) -> int:
    """The sample rate ``codec`` encodes audio of ``sample_rate`` Hz at.

    The rate itself when the codec takes it, else the lowest rate it takes above it (else its highest): GSM always
    runs at 8 kHz, Opus at 8/12/16/24/48 kHz, MP3 at the MPEG rates up to 48 kHz, Vorbis at any rate.

    Example:
        >>> codec_rate("opus", 44100), codec_rate("gsm", 16000), codec_rate("vorbis", 22050)
        (48000, 8000, 22050)
    """
    rates = _check_codec(codec)[2]
    if rates is None or sample_rate in rates:
        return int(sample_rate)
    above = [r for r in rates if r >= sample_rate]
    return min(above) if above else max(rates)


def codec_round_trip(waveform: np.ndarray, sample_rate: int, codec: str, quality: float) -> tuple[np.ndarray, int]:
    """Encode ``waveform`` ``(channels, frames)`` with ``codec`` in memory and decode it again.

    ``quality`` in [0, 1] is libsndfile's encoder setting ``1 - compression_level`` (0 = smallest file):
    MP3 is constant bit rate, ``32 + 288 q`` kbps at 32-48 kHz, ``8 + 152 q`` at 16-24 kHz, ``8 + 56 q`` below
    (LAME rounds to a standard MPEG rate; ``q`` is raised to at least 0.01, LAME's floor); Opus targets
    ``6 + 250 q`` kbps per channel; Vorbis is variable bit rate at quality ``q``; GSM 6.10 (13 kbps, mono, 8 kHz)
    ignores it. ``sample_rate`` must be one :func:`codec_rate` returns. Multichannel GSM is encoded per channel.

    Returns:
        ``(decoded (channels, frames'), encoded_bytes)``. The decoded length and delay are the decoder's: MP3 at
        low bit rates comes back 1105 samples late and longer (no gapless trim); compensate the delay with
        :func:`audionoise.functional.align.estimate_delay`.

    Example:
        >>> y, nbytes = codec_round_trip(np.zeros((1, 1600), np.float32), 16000, "vorbis", 0.5)
        >>> y.shape[0]
        1
    """
    container, subtype, rates, mono = _check_codec(codec)
    if rates is not None and sample_rate not in rates:
        raise ValueError(f"{codec} does not encode {sample_rate} Hz (allowed: {rates}); resample to "
                         f"codec_rate({codec!r}, {sample_rate}) = {codec_rate(codec, sample_rate)} first")
    if not 0.0 <= quality <= 1.0:
        raise ValueError(f"quality ({quality}) must lie in [0, 1]")
    data = np.ascontiguousarray(np.asarray(waveform, dtype=np.float32))
    if mono and data.shape[0] > 1:
        parts = [codec_round_trip(ch[None], sample_rate, codec, quality) for ch in data]
        frames = min(p[0].shape[1] for p in parts)
        return np.concatenate([p[0][:, :frames] for p in parts]), sum(p[1] for p in parts)
    kwargs = {}
    if codec in ("mp3", "vorbis", "opus"):
        level = 1.0 - float(quality)
        kwargs["compression_level"] = min(level, _MP3_MAX_COMPRESSION) if codec == "mp3" else level
    if codec == "mp3":
        kwargs["bitrate_mode"] = "CONSTANT"
    buf = io_module.BytesIO()
    frames = np.ascontiguousarray(data.T)
    try:
        with sf.SoundFile(buf, "w", int(sample_rate), data.shape[0], subtype, format=container, **kwargs) as f:
            for start in range(0, frames.shape[0], _WRITE_BLOCK):
                f.write(frames[start:start + _WRITE_BLOCK])
        nbytes = buf.tell()
        buf.seek(0)
        decoded, _ = sf.read(buf, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as err:
        raise ValueError(f"{codec} round trip failed at {sample_rate} Hz, quality {quality} (libsndfile: "
                         f"{err}); choose another codec or quality") from err
    return np.ascontiguousarray(decoded.T), nbytes
