"""Audio file input/output: the only module of audionoise that touches audio files.

Reading and writing go through `soundfile` (libsndfile), resampling through
`torchaudio.functional.resample`. Waveforms are float32 tensors shaped
``(channels, time)``.

Every problem with a file raises :class:`AudioFileError` (a ``ValueError``) whose
message names the file, says what is wrong and what to do about it, so that a
folder tool can log one clear line per bad file and go on.

Writes are atomic: :func:`save` writes a temporary file in the destination folder
and renames it over the destination, so a reader (or a resumed job after
``kill -9``) only ever sees no file or a complete file.

Example:
    >>> import torch
    >>> from audionoise import io
    >>> io.save("/tmp/tone.wav", torch.zeros(1, 160), 16000)
    >>> x, sr = io.load("/tmp/tone.wav")
    >>> x.shape, sr
    (torch.Size([1, 160]), 16000)
"""

from __future__ import annotations

import io as _io
import math
import io as io_module
import os
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

from audionoise.functional._checks import CHANNELS_FIRST_TAG
from audionoise._fs import atomic_write, temp_target

__all__ = [
    "AUDIO_EXTENSIONS",
    "CODECS",
    "codec_rate",
    "codec_round_trip",
    "AudioFileError",
    "AudioInfo",
    "info",
    "load",
    "load_with_info",
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

#: File extensions (lower case, with the dot) that audionoise treats as audio.
AUDIO_EXTENSIONS: frozenset[str] = frozenset(_FORMATS)

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
    ext = Path(path).suffix.lower()
    if ext not in _FORMATS:
        raise AudioFileError(
            path,
            f"unsupported audio extension {ext or '(none)'!r}; use one of "
            f"{', '.join(sorted(AUDIO_EXTENSIONS))} (convert other containers, e.g. "
            "m4a/aac/wma, with ffmpeg first)",
        )
    return _FORMATS[ext]


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
    if not path.exists():
        raise AudioFileError(path, "no such file; check the path")
    if not path.is_file():
        raise AudioFileError(path, "not a regular file (a folder or device?); pass an audio file")
    format_for_path(path)
    if path.stat().st_size == 0:
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
    path = Path(path)
    _check_readable(path)
    with _open(path) as f:
        return AudioInfo(int(f.samplerate), int(f.frames), int(f.channels), f.format, f.subtype)


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
    if sample_rate is not None and (int(sample_rate) != sample_rate or sample_rate <= 0):
        raise ValueError(f"sample_rate ({sample_rate!r}) must be a positive integer number of Hz or None")
    _check_segment(offset, duration)
    path = Path(path)
    _check_readable(path)
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
    if not np.isfinite(data).all():
        bad = int((~np.isfinite(data)).sum())
        raise AudioFileError(
            path,
            f"contains {bad} NaN/Inf sample(s) (a float file written from a broken "
            "computation?); fix or remove it",
        )
    x = torch.from_numpy(np.ascontiguousarray(data.T))
    if mono and x.shape[0] > 1:
        x = x.mean(dim=0, keepdim=True)
    if sample_rate is not None and int(sample_rate) != file_rate:
        x = AF.resample(x, file_rate, int(sample_rate))
        file_rate = int(sample_rate)
    return x, file_rate, meta


def _as_frames_by_channels(waveform, path) -> np.ndarray:
    if isinstance(waveform, torch.Tensor):
        waveform = waveform.detach().to("cpu", torch.float32).numpy()
    data = np.asarray(waveform, dtype=np.float32)
    if data.ndim == 1:
        data = data[None, :]
    if data.ndim != 2:
        raise ValueError(
            f"waveform for {path} has shape {tuple(data.shape)}; pass (time,) or (channels, time)"
        )
    if data.shape[1] == 0:
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


def _write(fh, data: np.ndarray, sample_rate: int, subtype: str, container: str) -> None:
    with sf.SoundFile(fh, "w", sample_rate, data.shape[1], subtype, format=container) as f:
        sf._snd.sf_command(f._file, _SFC_SET_ADD_PEAK_CHUNK, sf._ffi.NULL, 0)
        f.write(data)


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
    outside [-1, 1] are clipped when the subtype is integer PCM. Equal audio always gives equal
    bytes: Ogg files get a stream serial derived from the file name (libsndfile draws a random one) and
    float files no PEAK chunk (it holds a time stamp).

    Args:
        path: Destination; its folder must exist.
        waveform: Tensor or array shaped ``(time,)`` or ``(channels, time)``.
        sample_rate: Samples per second (Opus allows only 8/12/16/24/48 kHz).
        subtype: libsndfile subtype such as ``"PCM_16"``, ``"PCM_24"``, ``"FLOAT"``;
            ``None`` uses the extension's default (PCM_16 for WAV/FLAC, Vorbis for .ogg).

    Raises:
        AudioFileError: unsupported extension, subtype not allowed in the container,
            missing folder, or the writer failed.
        ValueError: bad shape, zero samples, NaN/Inf values or a bad ``sample_rate``.

    Example:
        >>> save("/tmp/noise.flac", 0.1 * torch.randn(2, 16000), 16000, subtype="PCM_24")
    """
    path = Path(path)
    container, default_subtype = format_for_path(path)
    subtype = (subtype or default_subtype).upper()
    if not sf.check_format(container, subtype):
        allowed = ", ".join(sorted(sf.available_subtypes(container)))
        raise AudioFileError(
            path, f"subtype {subtype!r} cannot be stored in {container}; use one of {allowed}"
        )
    if int(sample_rate) != sample_rate or sample_rate <= 0:
        raise ValueError(f"sample_rate ({sample_rate!r}) for {path} must be a positive integer")
    sample_rate = int(sample_rate)
    if subtype == "OPUS" and sample_rate not in _OPUS_RATES:
        raise AudioFileError(
            path,
            f"Opus cannot store {sample_rate} Hz (allowed: {_OPUS_RATES}); resample first "
            "or choose another format",
        )
    data = _as_frames_by_channels(waveform, path)
    if subtype.startswith("PCM") or subtype in ("ULAW", "ALAW"):
        np.clip(data, -1.0, 1.0, out=data)
    folder = path.parent
    if not folder.is_dir():
        raise AudioFileError(path, f"destination folder {folder} does not exist; create it first")

    def write(fh) -> None:
        if container != "OGG":
            _write(fh, data, sample_rate, subtype, container)
            return
        buffer = io_module.BytesIO()
        _write(buffer, data, sample_rate, subtype, container)
        fh.write(_set_ogg_serial(buffer.getvalue(), zlib.crc32(path.name.encode("utf-8"))))

    try:
        atomic_write(path, write)  # a buffered Python file object: ~10x faster than libsndfile opening the path
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        raise AudioFileError(path, f"could not write ({err}); check free space and permissions") from err


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
    buf = _io.BytesIO()
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
