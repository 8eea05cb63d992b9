"""Tests for audionoise.io: round trips, resampling, mono, errors and atomic writes."""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio.functional as AF

from audionoise import io

from messy_audio import BAD, GOOD, NOT_AUDIO, build_messy_folder


@pytest.fixture(scope="module")
def messy(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("messy")
    build_messy_folder(root)
    return root


def _grid_signal(bits: int, frames: int = 2000, channels: int = 2) -> torch.Tensor:
    """Random samples that lie exactly on the `bits`-bit integer grid: k / 2**(bits-1)."""
    g = torch.Generator().manual_seed(bits)
    scale = 2 ** (bits - 1)
    k = torch.randint(-scale, scale, (channels, frames), generator=g, dtype=torch.int64)
    return (k.double() / scale).float()


def _sine(frames: int, sample_rate: int, freq: float = 440.0, amp: float = 0.5) -> torch.Tensor:
    t = torch.arange(frames, dtype=torch.float64) / sample_rate
    return (amp * torch.sin(2 * math.pi * freq * t)).float()[None]


# ---------------------------------------------------------------- round trips (lossless: exact)
@pytest.mark.parametrize(
    "name, subtype, bits",
    [
        ("a.wav", "PCM_16", 16),
        ("a.wav", "PCM_24", 24),
        ("a.wav", "PCM_U8", 8),
        ("a.flac", "PCM_16", 16),
        ("a.flac", "PCM_24", 24),
        ("a.aiff", "PCM_16", 16),
        ("a.w64", "PCM_24", 24),
    ],
)
def test_lossless_integer_round_trip_is_exact(tmp_path, name, subtype, bits):
    x = _grid_signal(bits)
    io.save(tmp_path / name, x, 16000, subtype=subtype)
    y, sr = io.load(tmp_path / name)
    assert sr == 16000
    assert y.dtype == torch.float32 and y.shape == x.shape
    assert torch.equal(y, x)
    assert io.info(tmp_path / name).subtype == subtype


def test_pcm32_round_trip_within_float32_precision(tmp_path):
    x = _grid_signal(24)  # exactly representable in float32 and in 32-bit PCM
    io.save(tmp_path / "a.wav", x, 8000, subtype="PCM_32")
    y, _ = io.load(tmp_path / "a.wav")
    assert torch.equal(y, x)


@pytest.mark.parametrize("subtype", ["FLOAT", "DOUBLE"])
def test_float_wav_round_trip_is_exact_and_keeps_values_above_one(tmp_path, subtype):
    x = torch.randn(3, 1000, generator=torch.Generator().manual_seed(0)) * 2.0
    io.save(tmp_path / "f.wav", x, 22050, subtype=subtype)
    y, sr = io.load(tmp_path / "f.wav")
    assert sr == 22050 and torch.equal(y, x)
    assert io.info(tmp_path / "f.wav").subtype == subtype


def test_default_subtype_is_pcm16_and_integer_save_clips(tmp_path):
    x = torch.tensor([[1.5, -1.5, 0.5, -0.25]])
    io.save(tmp_path / "c.wav", x, 16000)
    y, _ = io.load(tmp_path / "c.wav")
    assert io.info(tmp_path / "c.wav").subtype == "PCM_16"
    assert y.tolist() == [[32767 / 32768, -1.0, 0.5, -0.25]]


def test_save_accepts_1d_tensor_and_numpy(tmp_path):
    io.save(tmp_path / "t.wav", torch.zeros(100), 8000)
    io.save(tmp_path / "n.flac", np.zeros((2, 50), dtype=np.float64), 8000)
    assert io.load(tmp_path / "t.wav")[0].shape == (1, 100)
    assert io.load(tmp_path / "n.flac")[0].shape == (2, 50)


@pytest.mark.parametrize(
    "name, subtype, sample_rate, min_corr",
    [
        ("a.wav", "ULAW", 8000, 0.999),
        ("a.wav", "ALAW", 8000, 0.999),
        ("a.wav", "IMA_ADPCM", 16000, 0.99),
        ("a.wav", "MS_ADPCM", 16000, 0.99),
        ("a.ogg", None, 16000, 0.99),
        ("a.opus", None, 48000, 0.95),
        ("a.mp3", None, 16000, 0.95),
    ],
)
def test_lossy_round_trip_keeps_the_signal(tmp_path, name, subtype, sample_rate, min_corr):
    x = _sine(sample_rate, sample_rate)
    io.save(tmp_path / name, x, sample_rate, subtype=subtype)
    y, sr = io.load(tmp_path / name)
    assert sr == sample_rate and y.shape[0] == 1
    # ADPCM pads to whole blocks; the codecs keep the length.
    assert y.shape[1] >= x.shape[1]
    a, b = x[0, 2000:-2000], y[0, 2000 : x.shape[1] - 2000]
    corr = float((a * b).sum() / (a.norm() * b.norm()))
    assert corr > min_corr
    inf = io.info(tmp_path / name)
    assert inf.subtype == (subtype or io.format_for_path(name)[1])


def test_ogg_saves_are_byte_identical_and_readable(tmp_path):
    x = _sine(16000, 16000)
    io.save(tmp_path / "a.ogg", x, 16000)
    first = (tmp_path / "a.ogg").read_bytes()
    io.save(tmp_path / "a.ogg", x, 16000)
    assert (tmp_path / "a.ogg").read_bytes() == first
    # libogg drops pages with a wrong CRC: a full decode proves the rewritten CRCs are right.
    assert io.load(tmp_path / "a.ogg")[0].shape == (1, 16000)


@pytest.mark.parametrize("name", ["f.wav", "f.aiff"])
def test_float_files_have_no_time_stamped_peak_chunk(tmp_path, name):
    io.save(tmp_path / name, torch.full((1, 100), 0.5), 16000, subtype="FLOAT")
    assert b"PEAK" not in (tmp_path / name).read_bytes()
    assert torch.equal(io.load(tmp_path / name)[0], torch.full((1, 100), 0.5))


def test_ogg_crc_matches_reference_value():
    # CRC of the empty page header pattern "OggS" under the Ogg polynomial, computed by hand
    # from the definition: poly 0x04C11DB7, init 0, no reflection, no final xor.
    def slow(data):
        crc = 0
        for byte in data:
            crc ^= byte << 24
            for _ in range(8):
                crc = ((crc << 1) ^ 0x04C11DB7) & 0xFFFFFFFF if crc & 0x80000000 else (crc << 1) & 0xFFFFFFFF
        return crc

    data = b"OggS\x00\x02" + bytes(range(40))
    assert io._ogg_crc(data) == slow(data)


# ---------------------------------------------------------------- resampling and mono
@pytest.mark.parametrize("src, dst", [(48000, 16000), (44100, 16000), (8000, 16000)])
def test_resampling_length_and_energy(tmp_path, src, dst):
    x = _sine(src, src, freq=300.0)  # one second, well below every Nyquist
    io.save(tmp_path / "s.wav", x, src, subtype="FLOAT")
    y, sr = io.load(tmp_path / "s.wav", sample_rate=dst)
    assert sr == dst
    assert y.shape == (1, math.ceil(src * dst / src))
    rms = float(y[0, 200:-200].pow(2).mean().sqrt())
    assert rms == pytest.approx(0.5 / math.sqrt(2), rel=0.01)


def test_same_rate_is_not_resampled(tmp_path):
    x = _grid_signal(16)
    io.save(tmp_path / "s.wav", x, 16000)
    assert torch.equal(io.load(tmp_path / "s.wav", sample_rate=16000)[0], x)


def test_mono_is_channel_mean(tmp_path):
    x = torch.stack([torch.full((100,), 0.5), torch.full((100,), -0.25)])
    io.save(tmp_path / "st.wav", x, 16000)
    y, _ = io.load(tmp_path / "st.wav", mono=True)
    assert y.shape == (1, 100)
    assert torch.allclose(y, torch.full((1, 100), 0.125))
    one, _ = io.load(tmp_path / "st.wav", mono=False)
    assert one.shape == (2, 100)


@pytest.mark.parametrize("bad", [0, -16000, 16000.5])
def test_bad_target_sample_rate_is_a_value_error(tmp_path, bad):
    io.save(tmp_path / "s.wav", torch.zeros(1, 10), 16000)
    with pytest.raises(ValueError, match="sample_rate"):
        io.load(tmp_path / "s.wav", sample_rate=bad)


# ---------------------------------------------------------------- segments (offset / duration)
@pytest.mark.parametrize("name, subtype", [("r.wav", "FLOAT"), ("r.flac", "PCM_24")])
def test_segment_is_exactly_the_frames_of_the_file(tmp_path, name, subtype):
    x = _grid_signal(24, frames=8000, channels=2)
    io.save(tmp_path / name, x, 8000, subtype=subtype)
    seg, sr = io.load(tmp_path / name, offset=0.25, duration=0.125)  # frames [2000, 3000)
    assert sr == 8000 and torch.equal(seg, x[:, 2000:3000])
    assert torch.equal(io.load(tmp_path / name, offset=0.5)[0], x[:, 4000:])           # to the end
    assert torch.equal(io.load(tmp_path / name, duration=0.1)[0], x[:, :800])          # from the start
    assert torch.equal(io.load(tmp_path / name, offset=0.9, duration=1.0)[0], x[:, 7200:])  # stops at the end


def test_segment_is_resampled_and_made_mono(tmp_path):
    x = _sine(16000, 16000, freq=300.0).repeat(2, 1)
    io.save(tmp_path / "s.wav", x, 16000, subtype="FLOAT")
    seg, sr = io.load(tmp_path / "s.wav", sample_rate=8000, mono=True, offset=0.5, duration=0.25)
    assert sr == 8000 and seg.shape == (1, 2000)
    whole, _ = io.load(tmp_path / "s.wav", mono=True, offset=0.5, duration=0.25)
    assert torch.equal(seg, AF.resample(whole, 16000, 8000))


def test_offset_past_the_end_names_the_file(tmp_path):
    io.save(tmp_path / "s.wav", torch.zeros(1, 800), 8000)
    with pytest.raises(io.AudioFileError, match=r"s\.wav: offset 0\.1 s \(frame 800\) is at or past the end"):
        io.load(tmp_path / "s.wav", offset=0.1)


@pytest.mark.parametrize("kwargs, field", [({"offset": -0.1}, "offset"), ({"offset": float("nan")}, "offset"),
                                           ({"duration": 0}, "duration"), ({"duration": -1.0}, "duration")])
def test_bad_segment_arguments_are_value_errors(tmp_path, kwargs, field):
    io.save(tmp_path / "s.wav", torch.zeros(1, 800), 8000)
    with pytest.raises(ValueError, match=field):
        io.load(tmp_path / "s.wav", **kwargs)


# ---------------------------------------------------------------- the messy folder
@pytest.mark.parametrize("name", sorted(GOOD))
def test_messy_good_files_load(messy, name):
    g = GOOD[name]
    x, sr = io.load(messy / name)
    inf = io.info(messy / name)
    assert (sr, x.shape[0], inf.subtype) == (g.sample_rate, g.channels, g.subtype)
    if "ADPCM" in g.subtype:
        assert g.frames <= x.shape[1] < g.frames + 1024  # padded to a whole block
    else:
        assert x.shape[1] == g.frames
    assert x.dtype == torch.float32 and torch.isfinite(x).all()


@pytest.mark.parametrize("name", sorted(BAD))
def test_messy_bad_files_raise_clear_errors(messy, name):
    with pytest.raises(io.AudioFileError) as err:
        io.load(messy / name)
    msg = str(err.value)
    assert str(messy / name) in msg
    assert BAD[name].reason in msg
    assert err.value.path == str(messy / name)
    assert isinstance(err.value, ValueError)


def test_messy_folder_lists_non_audio_by_extension(messy):
    for name in NOT_AUDIO:
        assert Path(name).suffix.lower() not in io.AUDIO_EXTENSIONS or Path(name).name.startswith(".")
    for name in list(GOOD) + list(BAD):
        assert Path(name).suffix.lower() in io.AUDIO_EXTENSIONS
    with pytest.raises(io.AudioFileError, match="not a readable audio file"):
        io.load(messy / "._good_16k_mono.wav")  # macOS metadata: not audio despite its name


@pytest.mark.parametrize("name", ["a.wav", "A.WAV", "dir.d/file", ".wav", "a.", ".a.wav", "a..wav", "...", "a.b.FLAC",
                                  "x/", "x/.", "x/..", "", "a.wav/.", "d/.hidden", "a//b.ogg", "a.wav/", "m.M4A"])
def test_extension_rules_follow_pathlib(name):
    """format_for_path and converted_from cut plain strings themselves: the same suffix as pathlib."""
    from pathlib import PurePosixPath

    from audionoise.offline.naming import converted_from

    for path in (name, Path(name)):
        ext = Path(name).suffix.lower()
        if ext in io.AUDIO_EXTENSIONS:
            assert io.format_for_path(path) == io.format_for_path(f"x{ext}")
        else:
            with pytest.raises(io.AudioFileError, match=re.escape(f"unsupported audio extension {ext or '(none)'!r};")):
                io.format_for_path(path)
    ext = PurePosixPath(name).suffix.lower()
    assert converted_from(name, "same") == (ext[1:] if ext in io.FFMPEG_EXTENSIONS else None)


def test_missing_file_and_folder_and_unsupported_extension(tmp_path):
    with pytest.raises(io.AudioFileError, match="no such file"):
        io.load(tmp_path / "missing.wav")
    (tmp_path / "dir.wav").mkdir()
    with pytest.raises(io.AudioFileError, match="not a regular file"):
        io.load(tmp_path / "dir.wav")
    (tmp_path / "a.xyz").write_bytes(b"\0" * 100)
    with pytest.raises(io.AudioFileError, match="unsupported audio extension '.xyz'"):
        io.load(tmp_path / "a.xyz")
    with pytest.raises(io.AudioFileError, match="unsupported audio extension"):
        io.info(tmp_path / "a.xyz")


def test_load_with_info_returns_the_stored_header(tmp_path):
    io.save(tmp_path / "h.wav", torch.zeros(2, 480), 48000, subtype="PCM_24")
    x, sr, meta = io.load_with_info(tmp_path / "h.wav", sample_rate=16000)
    assert (x.shape, sr) == ((2, 160), 16000)
    assert meta == io.AudioInfo(48000, 480, 2, "WAV", "PCM_24")


def test_format_helpers():
    assert io.format_for_path("a/b.Opus") == ("OGG", "OPUS")
    assert io.subtype_allowed("WAV", "PCM_24") and not io.subtype_allowed("FLAC", "FLOAT")
    assert [io.default_subtype(c) for c in ("WAV", "FLAC", "OGG", "MP3")] == [
        "PCM_16", "PCM_16", "VORBIS", "MPEG_LAYER_III"]
    with pytest.raises(ValueError, match="container 'XI'"):
        io.default_subtype("XI")
    assert io.temp_target(".a b.wav.0123456789ab.tmp") == "a b.wav"
    assert io.temp_target(".a.wav.tmp") is None and io.temp_target("a.wav") is None


def test_info_is_a_frozen_dataclass(tmp_path):
    io.save(tmp_path / "i.flac", torch.zeros(2, 320), 32000, subtype="PCM_24")
    inf = io.info(tmp_path / "i.flac")
    assert inf == io.AudioInfo(32000, 320, 2, "FLAC", "PCM_24")
    assert inf.duration == 0.01
    with pytest.raises(dataclasses.FrozenInstanceError):
        inf.frames = 1


# ---------------------------------------------------------------- save: errors and atomicity
def _listing(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def test_save_rejects_bad_input_without_leaving_files(tmp_path):
    x = torch.zeros(1, 10)
    with pytest.raises(io.AudioFileError, match="'FLOAT' cannot be stored in FLAC"):
        io.save(tmp_path / "a.flac", x, 16000, subtype="FLOAT")
    with pytest.raises(io.AudioFileError, match="unsupported audio extension '.txt'"):
        io.save(tmp_path / "a.txt", x, 16000)
    with pytest.raises(io.AudioFileError, match="Opus cannot store 44100 Hz"):
        io.save(tmp_path / "a.opus", x, 44100)
    with pytest.raises(ValueError, match="NaN/Inf"):
        io.save(tmp_path / "a.wav", torch.tensor([[0.0, float("nan")]]), 16000)
    with pytest.raises(ValueError, match="zero samples"):
        io.save(tmp_path / "a.wav", torch.zeros(1, 0), 16000)
    with pytest.raises(ValueError, match=r"shape \(1, 1, 4\)"):
        io.save(tmp_path / "a.wav", torch.zeros(1, 1, 4), 16000)
    with pytest.raises(ValueError, match="sample_rate"):
        io.save(tmp_path / "a.wav", x, 0)
    with pytest.raises(io.AudioFileError, match="does not exist"):
        io.save(tmp_path / "nope" / "a.wav", x, 16000)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("exc", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_failed_write_leaves_no_temp_and_keeps_old_file(tmp_path, monkeypatch, exc):
    old = torch.full((1, 100), 0.25)
    io.save(tmp_path / "a.wav", old, 16000)
    before = _listing(tmp_path)

    real_write = sf.SoundFile.write

    def broken_write(self, data):
        real_write(self, data[:10])  # some bytes reach the temp file, then it fails
        raise exc

    monkeypatch.setattr(sf.SoundFile, "write", broken_write)
    real_pcm16 = io._wav.Pcm16Writer.write  # plain 16-bit WAV is encoded by NumPy (audionoise.io._wav)

    def broken_pcm16(self, data):
        real_pcm16(self, data[:10])
        raise exc

    monkeypatch.setattr(io._wav.Pcm16Writer, "write", broken_pcm16)
    real_os_write = os.write  # a short WAV is written in one system call (audionoise.io.files.write_file_atomically)

    def broken_os_write(fd, data):
        real_os_write(fd, bytes(data[:10]))
        raise exc

    monkeypatch.setattr(os, "write", broken_os_write)
    with pytest.raises((io.AudioFileError, KeyboardInterrupt)) as err:
        io.save(tmp_path / "a.wav", torch.zeros(1, 100), 16000)
    if isinstance(exc, RuntimeError):
        assert "disk full" in str(err.value) and str(tmp_path / "a.wav") in str(err.value)
    assert _listing(tmp_path) == before
    with pytest.raises((io.AudioFileError, KeyboardInterrupt)):
        io.save(tmp_path / "new.wav", torch.zeros(1, 100), 16000)
    assert _listing(tmp_path) == before


def test_save_replaces_atomically_via_rename(tmp_path, monkeypatch):
    calls = []
    real_replace = os.replace

    def spy(src, dst):
        src, dst = Path(src), Path(dst)
        # At rename time the temp file is complete and sits next to the destination.
        calls.append((src.parent == dst.parent, src.name.startswith(".a.wav."), sf.info(str(src)).frames))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    io.save(tmp_path / "a.wav", torch.zeros(1, 123), 16000)
    assert calls == [(True, True, 123)]
    assert [p.name for p in tmp_path.iterdir()] == ["a.wav"]


def test_saved_file_mode_follows_umask(tmp_path):
    mask = os.umask(0o022)
    try:
        io.save(tmp_path / "a.flac", torch.zeros(1, 10), 16000)
    finally:
        os.umask(mask)
    assert (tmp_path / "a.flac").stat().st_mode & 0o777 == 0o644
