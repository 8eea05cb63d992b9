"""Decoding of containers libsndfile cannot read (m4a/AAC, MP4 audio, WMA, AMR, ...) through PyAV.

PyAV (the ``av`` package, which bundles FFmpeg) is optional: ``pip install audionoise[ffmpeg]``. Only
:mod:`audionoise.io` calls this module; without PyAV it raises an error that says how to get it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

__all__ = ["FFMPEG_EXTENSIONS", "available", "decode", "kind", "missing_reason", "probe"]

#: Extension -> what users call such files (named in error lines).
FFMPEG_EXTENSIONS: dict[str, str] = {
    ".m4a": "m4a/AAC",
    ".m4b": "m4b/AAC",
    ".mp4": "mp4/AAC",
    ".aac": "AAC",
    ".3gp": "3gp/AMR",
    ".amr": "AMR",
    ".wma": "WMA",
    ".webm": "WebM/Opus",
    ".mka": "Matroska audio",
    ".ac3": "AC-3",
}


def kind(path: str | Path) -> str:
    """``"m4a/AAC"`` for ``x.m4a``: the name of the file kind, for messages."""
    return FFMPEG_EXTENSIONS[Path(path).suffix.lower()]


def available() -> bool:
    """Whether PyAV can be imported (checked without importing it)."""
    return importlib.util.find_spec("av") is not None


def _av():
    from audionoise.runtime.extras import require

    return require("av", extra="ffmpeg", purpose="decoding m4a/AAC, MP4, WMA, AMR, ...")


def missing_reason(path: str | Path) -> str:
    return f"{kind(path)} needs audionoise[ffmpeg], or convert it to WAV/FLAC"


def decode(path: Path) -> tuple[np.ndarray, int, int, str, str]:
    """Decode the first audio stream of ``path``.

    Returns:
        ``(data, sample_rate, channels, container, codec)`` with ``data`` float32 ``(frames, channels)``.

    Raises:
        ValueError: no audio stream, or FFmpeg could not decode the file (the message says what FFmpeg said).
    """
    av = _av()
    try:
        with av.open(str(path)) as container:
            streams = container.streams.audio
            if not streams:
                raise ValueError("the file holds no audio stream (a video-only or empty container?)")
            stream = streams[0]
            codec = stream.codec_context.name
            resampler = av.AudioResampler(format="fltp")  # planar float32, rate and layout kept
            parts = []
            for frame in container.decode(stream):
                parts.extend(f.to_ndarray() for f in resampler.resample(frame))
            parts.extend(f.to_ndarray() for f in resampler.resample(None))
            rate = int(stream.codec_context.sample_rate or stream.rate)
            fmt = container.format.name
    except av.error.FFmpegError as err:
        raise ValueError(f"FFmpeg: {err}") from None
    if not parts:
        return np.zeros((0, 1), np.float32), rate, 1, fmt, codec
    data = np.concatenate(parts, axis=1)
    return np.ascontiguousarray(data.T, dtype=np.float32), rate, int(data.shape[0]), fmt, codec


def probe(path: Path) -> tuple[int, int, int, str, str]:
    """``(sample_rate, frames, channels, container, codec)`` from the header (frames estimated from the duration)."""
    av = _av()
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise ValueError("the file holds no audio stream (a video-only or empty container?)")
            stream = container.streams.audio[0]
            rate = int(stream.codec_context.sample_rate or stream.rate)
            if stream.duration is not None and stream.time_base is not None:
                seconds = float(stream.duration * stream.time_base)
            else:
                seconds = (container.duration or 0) / 1e6
            return (rate, round(seconds * rate), int(stream.codec_context.channels), container.format.name,
                    stream.codec_context.name)
    except av.error.FFmpegError as err:
        raise ValueError(f"FFmpeg: {err}") from None
