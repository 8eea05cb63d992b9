"""In-memory codec round trips (MP3, Vorbis, Opus, GSM through libsndfile): what the ``Codec`` injector runs."""

from __future__ import annotations

import io as io_module

import numpy as np
import soundfile as sf

from audionoise.io.formats import _OPUS_RATES  # noqa: F401


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

