"""Writing audio files atomically (temporary file + rename), in blocks: :func:`save` and :class:`AudioWriter`."""

from __future__ import annotations

import contextlib
import io as io_module
import os
import zlib
from pathlib import Path

import numpy as np
import soundfile as sf

from audionoise.io import _wav
from audionoise.io.files import atomic_open, temp_target, write_file_atomically  # noqa: F401
from audionoise.io.formats import (AudioFileError, AudioWriteError, WRITE_BLOCK_FRAMES, format_for_path, subtype_allowed)
from audionoise.io.formats import _OPUS_RATES, _path, _suffix  # noqa: F401
from audionoise.io.ogg import _set_ogg_serial

#: :func:`save` encodes signals up to this size (float32 bytes) in memory and writes the file in one system call;
#: longer ones are streamed to the file block by block (the bytes are the same).
SAVE_IN_MEMORY_BYTES = 1 << 25


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
    """Write a whole encoded file atomically (:func:`audionoise.io.files.write_file_atomically`), failures as
    :func:`save` reports them."""
    try:
        write_file_atomically(path, encoded)
    except Exception as err:  # noqa: BLE001 - any failure of the write is reported for this file
        os_error = err if isinstance(err, OSError) else None
        hint = "free some space" if os_error is not None and os_error.errno in _FULL else \
            "check free space and permissions"
        raise AudioWriteError(path, f"could not write ({err}); {hint}", os_error) from err


