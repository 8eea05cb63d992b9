"""audionoise.io._wav: plain 16-bit WAV read and written by NumPy, byte for byte and value for value libsndfile's."""

import io as pyio

import numpy as np
import pytest
import soundfile as sf

from audionoise import io

from audionoise.io import _wav


def _libsndfile_bytes(frames: np.ndarray, rate: int) -> bytes:
    b = pyio.BytesIO()
    sf.write(b, np.clip(frames, -1.0, 1.0), rate, subtype="PCM_16", format="WAV")
    return b.getvalue()


@pytest.mark.parametrize("channels", [1, 2, 6])
def test_encoding_equals_libsndfile(channels):
    rng = np.random.default_rng(channels)
    x = (rng.standard_normal((9001, channels)) * 0.5).astype(np.float32)
    x[:2000] *= np.float32(1e-4)  # values near the rounding steps of the smallest codes
    x[:6, 0] = [1.0, -1.0, 1.5 / 32768, -0.5 / 32768, 0.99999, -0.99999]
    x[6:8, 0] = [1.7, -3.0]  # beyond full scale: saturated as libsndfile's clipping writer does
    ours = _wav.header(22050, channels, x.shape[0]) + _wav.encode_pcm16(np.clip(x, -1, 1))
    assert ours == _libsndfile_bytes(x, 22050)


def test_save_writes_libsndfile_bytes_and_load_reads_libsndfile_values(tmp_path):
    x = np.clip(np.random.default_rng(0).standard_normal((2, 16000)).astype(np.float32) * 0.3, -1, 1)
    io.save(tmp_path / "a.wav", x, 16000)
    assert (tmp_path / "a.wav").read_bytes() == _libsndfile_bytes(x.T, 16000)
    y, meta = io.load_array(tmp_path / "a.wav")
    ref, _ = sf.read(tmp_path / "a.wav", dtype="float32", always_2d=True)
    assert np.array_equal(y, ref.T) and y.flags.c_contiguous
    assert (meta.sample_rate, meta.frames, meta.channels, meta.format, meta.subtype) == (16000, 16000, 2, "WAV",
                                                                                          "PCM_16")
    seg, _ = io.load_array(tmp_path / "a.wav", offset=0.25, duration=0.5)
    assert np.array_equal(seg, ref[4000:12000].T)
    tail, _ = io.load_array(tmp_path / "a.wav", offset=0.75, duration=5.0)  # past the end: stops at the end
    assert np.array_equal(tail, ref[12000:].T)


def test_extra_chunks_are_skipped(tmp_path):
    x = np.linspace(-0.5, 0.5, 1001, dtype=np.float32)[:, None]
    raw = _libsndfile_bytes(x, 8000)
    info = b"LIST" + (5).to_bytes(4, "little") + b"INFOx" + b"\0"  # odd size: padded to even
    patched = raw[:4] + (len(raw) - 8 + len(info)).to_bytes(4, "little") + raw[8:36] + info + raw[36:]
    (tmp_path / "b.wav").write_bytes(patched)
    data, rate, frames = _wav.read_pcm16(tmp_path / "b.wav")
    assert (rate, frames) == (8000, 1001)
    assert np.array_equal(data, sf.read(tmp_path / "b.wav", dtype="float32", always_2d=True)[0])


def test_anything_else_is_left_to_libsndfile(tmp_path):
    x = np.zeros((100, 1), np.float32)
    sf.write(tmp_path / "f.wav", x, 16000, subtype="FLOAT")
    sf.write(tmp_path / "p24.wav", x, 16000, subtype="PCM_24")
    raw = _libsndfile_bytes(np.full((100, 1), 0.1, np.float32), 16000)
    (tmp_path / "short.wav").write_bytes(raw[:-20])  # data chunk claims more than the file holds
    (tmp_path / "junk.wav").write_bytes(b"not a wav" * 10)
    for name in ("f.wav", "p24.wav", "short.wav", "junk.wav"):
        assert _wav.read_pcm16(tmp_path / name) is None, name
    assert _wav.read_pcm16(tmp_path / "p24.wav", offset=1.0) is None
    with pytest.raises(io.AudioFileError, match="truncated"):  # libsndfile's check words the error
        io.load_array(tmp_path / "short.wav")
    with pytest.raises(io.AudioFileError, match="past the end"):
        io.load_array(tmp_path / "p24.wav", offset=1.0)
