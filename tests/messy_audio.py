"""Build a folder of real-world messy audio files from code (nothing large lives in git).

`build_messy_folder(root)` writes good files in many formats and every kind of broken
file an offline augmentation job meets in practice, and returns what each one should
give: `Good(...)` (a correct output with these properties) or `Bad(...)` (one error
whose message contains `reason`). Entries a folder tool must skip (not audio by extension, or hidden) are listed in `NOT_AUDIO`.

Test helper, not part of the library: it writes broken files with soundfile and raw
bytes on purpose (the library itself only reads and writes through audionoise.io).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf


@dataclass(frozen=True)
class Good:
    """A file that must load: expected rate, channels, frames and stored subtype."""

    sample_rate: int
    channels: int
    frames: int
    subtype: str


@dataclass(frozen=True)
class Bad:
    """A file that must fail with an AudioFileError whose message contains `reason`."""

    reason: str


def _tone(frames: int, channels: int, sample_rate: int, amplitude: float = 0.3, seed: int = 0) -> np.ndarray:
    """A (frames, channels) float32 test signal: a 440 Hz sine plus a little noise per channel."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / sample_rate
    sig = [amplitude * np.sin(2 * np.pi * (440 + 110 * c) * t) for c in range(channels)]
    x = np.stack(sig, axis=1) + 0.01 * amplitude * rng.standard_normal((frames, channels))
    return x.astype(np.float32)


def _riff(fmt_tag: int, channels: int, rate: int, bits: int, data: bytes, declared: int | None = None) -> bytes:
    """Raw RIFF/WAVE bytes with a given format tag and (possibly lying) data size."""
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", fmt_tag, channels, rate, rate * block, block, bits)
    size = len(data) if declared is None else declared
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", size) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


GOOD: dict[str, Good] = {
    "good_16k_mono.wav": Good(16000, 1, 8000, "PCM_16"),
    "stereo_44k.flac": Good(44100, 2, 22050, "PCM_16"),
    "six_channel_48k.wav": Good(48000, 6, 4800, "PCM_16"),
    "pcm24.wav": Good(16000, 1, 4000, "PCM_24"),
    "pcm24.flac": Good(16000, 2, 4000, "PCM_24"),
    "pcm32.wav": Good(16000, 1, 4000, "PCM_32"),
    "u8.wav": Good(8000, 1, 2000, "PCM_U8"),
    "float32.wav": Good(16000, 1, 4000, "FLOAT"),
    "float64.wav": Good(22050, 1, 4000, "DOUBLE"),
    "ima_adpcm.wav": Good(16000, 1, 4000, "IMA_ADPCM"),
    "ms_adpcm.wav": Good(16000, 2, 4000, "MS_ADPCM"),
    "vorbis.ogg": Good(16000, 1, 8000, "VORBIS"),
    "opus.opus": Good(48000, 1, 9600, "OPUS"),
    "mpeg.mp3": Good(16000, 1, 8000, "MPEG_LAYER_III"),
    "one_sample.wav": Good(16000, 1, 1, "PCM_16"),
    "digital_silence.wav": Good(16000, 1, 4000, "PCM_16"),
    "almost_silence.wav": Good(16000, 1, 4000, "PCM_16"),
    "nested/deeper/inner.wav": Good(16000, 1, 1600, "PCM_16"),
    "ünïcødé 名前/with space.flac": Good(16000, 1, 1600, "PCM_16"),
    "UPPER.WAV": Good(16000, 1, 1600, "PCM_16"),
}

BAD: dict[str, Bad] = {
    "empty.wav": Bad("empty file"),
    "truncated.wav": Bad("truncated"),
    "truncated.flac": Bad("corrupt or truncated"),
    "header_only.wav": Bad("truncated"),
    "zero_length.wav": Bad("no audio frames"),
    "not_audio.wav": Bad("not a readable audio file"),
    "mp4_bytes.wav": Bad("not a readable audio file"),
    "unknown_codec.wav": Bad("not a readable audio file"),
    "nan.wav": Bad("NaN/Inf"),
    "inf.flac.wav": Bad("NaN/Inf"),
}

# Entries that must be skipped (counted, not errors): no audio extension, or hidden (macOS "._" metadata).
NOT_AUDIO = ("README.txt", "cover.png", "nested/.DS_Store", "._good_16k_mono.wav")

# Audio by extension, in a container only PyAV reads (audionoise[ffmpeg]); these bytes are not audio, so each gives
# an error line either way: "m4a/AAC needs audionoise[ffmpeg], ..." without the extra, "not a readable m4a/AAC
# file" with it. Never counted as non-audio.
CONTAINERS = ("data.m4a",)


def _write_good(root: Path, name: str, g: Good) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    x = _tone(g.frames, g.channels, g.sample_rate, seed=len(name))
    if name == "digital_silence.wav":
        x[:] = 0.0
    elif name == "almost_silence.wav":
        # +-1 LSB dither: the quietest non-zero 16-bit signal.
        x = np.random.default_rng(1).integers(-1, 2, size=x.shape).astype(np.float32) / 32768
    fmt = {"opus.opus": "OGG"}.get(name)
    sf.write(path, x, g.sample_rate, subtype=g.subtype, format=fmt)


def _write_bad(root: Path) -> None:
    good = _riff(1, 1, 16000, 16, (np.arange(4000, dtype=np.int16) * 7).tobytes())
    (root / "empty.wav").write_bytes(b"")
    (root / "truncated.wav").write_bytes(good[: len(good) // 2])
    (root / "header_only.wav").write_bytes(good[:44])
    (root / "zero_length.wav").write_bytes(_riff(1, 1, 16000, 16, b""))
    (root / "not_audio.wav").write_bytes(b"These are meeting notes, not audio.\n" * 20)
    # An MP4/M4A file (ftyp box) renamed to .wav: a container libsndfile does not read.
    mp4 = struct.pack(">I", 24) + b"ftypM4A " + struct.pack(">I", 0) + b"M4A isom"
    (root / "mp4_bytes.wav").write_bytes(mp4 + struct.pack(">I", 16) + b"mdat" + bytes(8))
    # A well-formed RIFF header with a codec tag libsndfile has no decoder for.
    (root / "unknown_codec.wav").write_bytes(_riff(0x1234, 1, 16000, 16, bytes(800)))
    flac = root / "_tmp_good.flac"
    sf.write(flac, _tone(16000, 1, 16000), 16000, subtype="PCM_16")
    raw = flac.read_bytes()
    flac.unlink()
    (root / "truncated.flac").write_bytes(raw[: len(raw) // 2])
    x = _tone(1000, 1, 16000)
    x[500] = np.nan
    sf.write(root / "nan.wav", x, 16000, subtype="FLOAT")
    x = _tone(1000, 1, 16000)
    x[10] = np.inf
    sf.write(root / "inf.flac.wav", x, 16000, subtype="FLOAT")


def build_messy_folder(root: str | Path) -> tuple[dict[str, Good], dict[str, Bad], tuple[str, ...]]:
    """Fill `root` with the messy fixture set and return `(GOOD, BAD, NOT_AUDIO)`.

    Keys are posix paths relative to `root`. Total size is about 300 kB.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for name, g in GOOD.items():
        _write_good(root, name, g)
    _write_bad(root)
    for name in NOT_AUDIO + CONTAINERS:
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"not audio\n")
    return dict(GOOD), dict(BAD), NOT_AUDIO
