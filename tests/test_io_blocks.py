"""Block writes (any length, Ogg included), write failures, and containers decoded through PyAV."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from audionoise import io

from audionoise.io import _ffmpeg


def _tone(channels: int, frames: int, rate: int) -> torch.Tensor:
    t = torch.arange(frames, dtype=torch.float64) / rate
    return torch.stack([0.3 * torch.sin(2 * torch.pi * (220 + 110 * c) * t) for c in range(channels)]).float()


@pytest.mark.parametrize("channels,seconds,rate", [(1, 600, 16000), (2, 60, 44100)])  # ~3 s and ~1 s
def test_long_ogg_saves_and_loads(tmp_path, channels, seconds, rate):
    # In a child process: a regression to one encoder call segfaults (libvorbis stack overflow), not pytest.
    code = textwrap.dedent(f"""
        import torch
        from audionoise import io
        t = torch.arange({seconds * rate}, dtype=torch.float64) / {rate}
        x = torch.stack([0.3 * torch.sin(2 * torch.pi * (220 + 110 * c) * t) for c in range({channels})]).float()
        io.save(r"{tmp_path / 'long.ogg'}", x, {rate})
        y, sr = io.load(r"{tmp_path / 'long.ogg'}")
        assert sr == {rate} and y.shape == x.shape, (sr, y.shape)
        err = (y - x).pow(2).mean().sqrt() / x.pow(2).mean().sqrt()
        assert err < 0.2, float(err)  # Vorbis is lossy: close, not equal
        print("ok")
    """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "ok"


@pytest.mark.parametrize("ext,subtype", [(".wav", "PCM_16"), (".flac", "PCM_24"), (".wav", "FLOAT"),
                                         (".ogg", None)])
def test_writer_in_pieces_gives_the_bytes_of_one_save(tmp_path, ext, subtype):
    x = _tone(2, 3 * io.WRITE_BLOCK_FRAMES + 123, 16000)
    io.save(tmp_path / f"one{ext}", x, 16000, subtype=subtype)
    with io.AudioWriter(tmp_path / f"two{ext}", 16000, 2, subtype) as w:
        for a, b in [(0, 1000), (1000, io.WRITE_BLOCK_FRAMES + 5000), (io.WRITE_BLOCK_FRAMES + 5000, x.shape[1])]:
            w.write(x[:, a:b])
    one, two = (tmp_path / f"one{ext}").read_bytes(), (tmp_path / f"two{ext}").read_bytes()
    if ext == ".ogg":  # the stream serial comes from the file name
        one, two = io._set_ogg_serial(one, 0), io._set_ogg_serial(two, 0)
    assert one == two
    assert w.frames == x.shape[1]


def test_writer_checks_channels_and_leaves_nothing_when_aborted(tmp_path):
    with pytest.raises(ValueError, match="2 channel"):
        with io.AudioWriter(tmp_path / "a.wav", 16000, 1) as w:
            w.write(torch.zeros(1, 100))
            w.write(torch.zeros(2, 100))
    assert list(tmp_path.iterdir()) == []


def test_save_does_not_clip_the_callers_tensor(tmp_path):
    x = torch.full((1, 100), 2.0)
    io.save(tmp_path / "c.wav", x, 16000)
    assert torch.equal(x, torch.full((1, 100), 2.0))
    assert io.load(tmp_path / "c.wav")[0].max() == pytest.approx(32767 / 32768)


class _FullDisk:
    """A file object that accepts ``room`` bytes, then fails like a full disk."""

    def __init__(self, fh, room: int) -> None:
        self.fh, self.room = fh, room

    def write(self, data) -> int:
        if len(data) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(data)
        return self.fh.write(data)

    def __getattr__(self, name):
        return getattr(self.fh, name)


@pytest.mark.parametrize("ext,subtype", [(".wav", "PCM_16"), (".wav", "PCM_24"), (".wav", "FLOAT"), (".flac", None),
                                         (".ogg", None), (".aiff", None), (".caf", "FLOAT"), (".w64", None)])
@pytest.mark.parametrize("channels,frames", [(1, 1), (1, 16000), (2, 300001)])
def test_save_in_memory_and_streamed_give_the_same_bytes(tmp_path, monkeypatch, ext, subtype, channels, frames):
    x = _tone(channels, frames, 16000)
    x[0, :3] = torch.tensor([1.5, -1.5, 1.0])[:frames]  # beyond full scale: clipped the same way by both paths
    io.save(tmp_path / f"memory{ext}", x, 16000, subtype=subtype)  # short: encoded in memory, one write
    monkeypatch.setattr(io.write, "SAVE_IN_MEMORY_BYTES", 0)
    io.save(tmp_path / f"streamed{ext}", x, 16000, subtype=subtype)  # block by block to the file
    memory, streamed = (tmp_path / f"memory{ext}").read_bytes(), (tmp_path / f"streamed{ext}").read_bytes()
    if ext == ".ogg":  # the stream serial is derived from the file name: compare with the name's serial swapped
        memory = io._set_ogg_serial(memory, 0)
        streamed = io._set_ogg_serial(streamed, 0)
    assert memory == streamed


@pytest.mark.parametrize("in_memory", [True, False])
@pytest.mark.parametrize("ext", [".wav", ".flac", ".ogg"])
def test_disk_full_raises_a_write_error_with_the_os_error_and_leaves_nothing(tmp_path, monkeypatch, ext, in_memory):
    if not in_memory:
        monkeypatch.setattr(io.write, "SAVE_IN_MEMORY_BYTES", 0)
    real = io.write.atomic_open

    @contextlib.contextmanager
    def full(path, **kw):
        with real(path, **kw) as fh:
            yield _FullDisk(fh, 5000)

    monkeypatch.setattr(io.write, "atomic_open", full)
    real_write = os.write  # a short WAV goes out in system writes (audionoise.io.files.write_file_atomically)

    def full_write(fd, data):
        real_write(fd, bytes(data[:5000]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full_write)
    with pytest.raises(io.AudioWriteError) as err:
        io.save(tmp_path / f"a{ext}", _tone(1, 50000, 16000), 16000)
    assert err.value.os_error is not None and err.value.os_error.errno == errno.ENOSPC
    assert "free some space" in str(err.value) and str(tmp_path / f"a{ext}") in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_m4a_without_the_extra_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setattr(_ffmpeg, "available", lambda: False)
    (tmp_path / "memo.m4a").write_bytes(b"\0" * 100)
    for fn in (io.load, io.info):
        with pytest.raises(io.AudioFileError) as err:
            fn(tmp_path / "memo.m4a")
        assert err.value.reason == "m4a/AAC needs audionoise[ffmpeg], or convert it to WAV/FLAC"
    assert ".m4a" in io.READABLE_EXTENSIONS and ".m4a" not in io.AUDIO_EXTENSIONS
    with pytest.raises(io.AudioFileError, match="never written"):
        io.save(tmp_path / "out.m4a", torch.zeros(1, 10), 16000)


def write_m4a(path, x: np.ndarray, rate: int) -> None:
    """Encode ``x`` (channels, time) as AAC in an MP4 container with PyAV."""
    av = pytest.importorskip("av", reason="PyAV (audionoise[ffmpeg]) not installed")
    layout = {1: "mono", 2: "stereo"}[x.shape[0]]
    with av.open(str(path), "w") as c:
        s = c.add_stream("aac", rate=rate, layout=layout)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(x, dtype=np.float32), format="fltp", layout=layout)
        frame.rate = rate
        for packet in list(s.encode(frame)) + list(s.encode(None)):
            c.mux(packet)


def test_m4a_decodes_through_pyav(tmp_path):
    pytest.importorskip("av", reason="PyAV (audionoise[ffmpeg]) not installed")
    x = _tone(2, 32000, 16000).numpy()
    write_m4a(tmp_path / "memo.m4a", x, 16000)
    y, sr, meta = io.load_with_info(tmp_path / "memo.m4a")
    assert sr == 16000 and y.shape[0] == 2 and meta.format == "M4A" and meta.subtype == "AAC"
    assert 32000 <= y.shape[1] <= 32000 + 3 * 1024  # AAC adds encoder priming/padding frames
    # the tone survives: strong correlation with the input at the best alignment
    best = max(float(np.corrcoef(x[0], y[0, d:d + 32000].numpy())[0, 1]) for d in range(0, y.shape[1] - 32000 + 1))
    assert best > 0.95
    info = io.info(tmp_path / "memo.m4a")
    assert (info.sample_rate, info.channels) == (16000, 2) and abs(info.frames - y.shape[1]) <= 2048
    seg, _ = io.load(tmp_path / "memo.m4a", offset=0.5, duration=0.25)
    assert torch.equal(seg, y[:, 8000:12000])
    (tmp_path / "bad.m4a").write_bytes(b"not audio at all" * 10)
    with pytest.raises(io.AudioFileError, match="not a readable m4a/AAC file"):
        io.load(tmp_path / "bad.m4a")
