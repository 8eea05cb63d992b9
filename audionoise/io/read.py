"""Reading audio files (soundfile; PyAV for the ``[ffmpeg]`` containers): :func:`load`, :func:`info`, blocks."""

from __future__ import annotations

import errno
import math
import os
import re
import stat as stat_module
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soundfile as sf

from audionoise.io import _ffmpeg, _wav
from audionoise.io._tags import CHANNELS_FIRST_TAG
from audionoise.io.formats import (AudioFileError, AudioInfo, FFMPEG_EXTENSIONS, format_for_path)
from audionoise.io.formats import _path

if TYPE_CHECKING:
    import torch


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
        if "Permission denied" in str(err) or not os.access(path, os.R_OK):
            raise AudioFileError(path, "permission denied: this user cannot read the file; change its permissions "
                                       "(chmod/chown) or run as a user who can") from None
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
    without it: :mod:`audionoise.io._wav`, the same values)."""
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


