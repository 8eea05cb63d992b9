"""Long inputs are augmented in blocks with the whole-file result, in bounded memory."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import audionoise
from audionoise import io
from audionoise.functional import handle_clipping
from audionoise.offline import augment, inputs, longfile, output_seed

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("channels,frames", [(1, 1000), (3, 4099), (2, 16)])
def test_noise_stream_regenerates_one_randn_call(channels, frames, monkeypatch):
    from audionoise.transforms import _blocks

    monkeypatch.setattr(_blocks, "STREAM_CHUNK", 64)
    g = torch.Generator().manual_seed(11)
    whole = torch.randn((1, channels, frames), generator=g)
    after = g.get_state()
    g2 = torch.Generator().manual_seed(11)
    info = _blocks.white_noise_pass((1, channels, frames), g2)
    assert torch.equal(g2.get_state(), after)  # later draws are those of the whole-file call
    assert info["power"] == pytest.approx(float(whole.double().square().mean()), rel=1e-12)
    streams = [_blocks.NoiseStream(s, a, c * frames, info["n_total"])
               for c, (s, a) in enumerate(zip(info["states"], info["starts"]))]
    cuts = [n for n in (min(7, frames), min(100, frames - min(7, frames))) if n > 0]
    cuts.append(frames - sum(cuts))
    got = torch.cat([torch.stack([st.take(n) for st in streams]) for n in cuts], dim=-1)
    assert torch.equal(got[None], whole)


def _config(noise: Path) -> dict:
    return {"sample_rate": 16000, "transforms": [
        {"name": "RandomApply", "p": 0.7, "transform": {"name": "Gain", "min_db": -3, "max_db": 0}},
        {"name": "OneOf", "transforms": [{"name": "WhiteNoise", "min_snr_db": 5, "max_snr_db": 10},
                                         {"name": "BackgroundNoise", "noise": str(noise), "min_snr_db": 0,
                                          "max_snr_db": 5}]},
        {"name": "BackgroundNoise", "noise": str(noise), "min_snr_db": 3, "max_snr_db": 8, "p": 0.8},
        {"name": "TimeMask", "max_width_s": 0.5, "num_masks": 3}]}


@pytest.mark.parametrize("channels", [1, 2])
def test_blocks_equal_whole_file(tmp_path, monkeypatch, channels):
    monkeypatch.setattr(inputs, "LONG_SAMPLES", 10000)
    monkeypatch.setattr(longfile, "BLOCK_FRAMES", 4096)  # many blocks, masks and noise windows across edges
    calls = []
    real = longfile.augment_long
    monkeypatch.setattr(longfile, "augment_long", lambda *a, **k: calls.append(1) or real(*a, **k))
    rng = np.random.default_rng(channels)
    (tmp_path / "noise").mkdir()
    sf.write(tmp_path / "noise" / "n.wav", (0.1 * rng.standard_normal(3001)).astype(np.float32), 16000)
    sf.write(tmp_path / "noise" / "m.wav", (0.1 * rng.standard_normal(7000)).astype(np.float32), 16000)
    (tmp_path / "in").mkdir()
    sf.write(tmp_path / "in" / "long.wav", (0.2 * rng.standard_normal((50001, channels))).astype(np.float32),
             16000, subtype="FLOAT")
    cfg = _config(tmp_path / "noise")
    s = augment(tmp_path / "in", tmp_path / "out", cfg, copies=6, progress=False)
    assert (s.written, s.failed) == (6, 0) and len(calls) == 6  # every copy went through the block path
    pipe = audionoise.load_pipeline(cfg)
    x, _ = io.load(tmp_path / "in" / "long.wav")
    for line in (tmp_path / "out" / "manifest.jsonl").read_text().splitlines():
        row = json.loads(line)
        y, records = pipe(x[None], generator=torch.Generator().manual_seed(row["seed"]), return_params=True)
        out, _ = io.load(tmp_path / "out" / row["output"])
        assert out.shape == y[0].shape
        torch.testing.assert_close(out, y[0], rtol=0, atol=1e-5)  # float rounding of the powers only
        assert row["transforms"] == records[0]
        assert row["frames"] == 50001 and row["channels"] == channels


@pytest.mark.parametrize("on_clip", ["normalize", "clip", "error"])
def test_loud_blocks_equal_whole_file_under_each_clipping_policy(tmp_path, monkeypatch, on_clip):
    """A loud PCM_16 input: the block path measures the output's peak first and matches the whole-file path."""
    monkeypatch.setattr(inputs, "LONG_SAMPLES", 10000)
    monkeypatch.setattr(longfile, "BLOCK_FRAMES", 4096)
    calls = []
    real = longfile.augment_long
    monkeypatch.setattr(longfile, "augment_long", lambda *a, **k: calls.append(1) or real(*a, **k))
    rng = np.random.default_rng(9)
    (tmp_path / "noise").mkdir()
    sf.write(tmp_path / "noise" / "n.wav", (0.1 * rng.standard_normal(3001)).astype(np.float32), 16000)
    sf.write(tmp_path / "noise" / "m.wav", (0.1 * rng.standard_normal(7000)).astype(np.float32), 16000)
    (tmp_path / "in").mkdir()
    loud = np.clip(0.5 * rng.standard_normal((30001, 2)), -1, 1).astype(np.float32)
    sf.write(tmp_path / "in" / "long.wav", loud, 16000, subtype="PCM_16")
    cfg = _config(tmp_path / "noise")
    s = augment(tmp_path / "in", tmp_path / "out", cfg, copies=3, progress=False, on_clip=on_clip)
    assert len(calls) == (1 if on_clip == "error" else 3)  # the block path (error: the first copy fails it)
    pipe = audionoise.load_pipeline(cfg)
    x, _ = io.load(tmp_path / "in" / "long.wav")
    if on_clip == "error":
        assert (s.written, s.failed) == (0, 1)
        (error,) = [json.loads(line) for line in (tmp_path / "out" / "errors.jsonl").read_text().splitlines()]
        y = pipe(x[None], generator=torch.Generator().manual_seed(output_seed(0, "long.wav", 0)))
        assert f"{20 * np.log10(float(y.abs().max())):+.2f} dBFS" in error["reason"]
        assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["errors.jsonl", "manifest.jsonl", "run.json"]
        return
    assert (s.written, s.failed) == (3, 0)
    for line in (tmp_path / "out" / "manifest.jsonl").read_text().splitlines():
        row = json.loads(line)
        y, records = pipe(x[None], generator=torch.Generator().manual_seed(row["seed"]), return_params=True)
        peak = float(y.abs().max())
        assert peak > 1.0  # every copy exceeds full scale before the policy
        expected, _ = handle_clipping(y, on_clip)
        # the whole-file output as a PCM_16 file gives it: block rounding (1e-5) may move a sample by one step
        io.save(tmp_path / "ref.wav", expected[0], 16000, subtype="PCM_16")
        out, ref = io.load(tmp_path / "out" / row["output"])[0], io.load(tmp_path / "ref.wav")[0]
        assert out.shape == ref.shape == (2, 30001)
        torch.testing.assert_close(out, ref, rtol=0, atol=1.01 / 32768)
        assert row["transforms"] == records[0]
        if on_clip == "normalize":
            assert row["normalized_db"] == pytest.approx(-20 * np.log10(peak), abs=1e-3) and row["clipped"] == 0
            assert float(out.abs().max()) <= 1.0
        else:
            assert row["clipped"] == int((y.abs() > 1.0).sum()) > 0 and "normalized_db" not in row


def test_long_segment_of_a_manifest_line(tmp_path, monkeypatch):
    monkeypatch.setattr(inputs, "LONG_SAMPLES", 5000)
    monkeypatch.setattr(longfile, "BLOCK_FRAMES", 1024)
    rng = np.random.default_rng(5)
    (tmp_path / "noise").mkdir()
    sf.write(tmp_path / "noise" / "n.wav", (0.1 * rng.standard_normal(3001)).astype(np.float32), 16000)
    sf.write(tmp_path / "a.wav", (0.2 * rng.standard_normal(40000)).astype(np.float32), 16000, subtype="FLOAT")
    (tmp_path / "m.jsonl").write_text('{"audio_filepath": "a.wav", "offset": 0.5, "duration": 1.25, "text": "x"}\n')
    cfg = _config(tmp_path / "noise")
    augment(tmp_path / "m.jsonl", tmp_path / "out", cfg, progress=False)
    row = json.loads((tmp_path / "out" / "manifest.jsonl").read_text())
    assert row["duration"] == 1.25 and row["text"] == "x"
    x, _ = io.load(tmp_path / "a.wav", offset=0.5, duration=1.25)
    y = audionoise.load_pipeline(cfg)(x[None], generator=torch.Generator().manual_seed(row["augmentation"]["seed"]))
    torch.testing.assert_close(io.load(tmp_path / "out" / row["audio_filepath"])[0], y[0], rtol=0, atol=1e-5)


def test_long_file_peak_memory_is_bounded(tmp_path):
    """3 minutes of stereo 48 kHz (66 MB as float32) raise the peak RSS by far less than one whole copy."""
    code = textwrap.dedent(f"""
        import resource, numpy as np, soundfile as sf
        from audionoise.offline import augment
        rate, frames = 48000, 3 * 60 * 48000
        with sf.SoundFile(r"{tmp_path / 'in' / 'long.wav'}", "w", rate, 2, "PCM_16") as f:
            rng = np.random.default_rng(0)
            for s in range(0, frames, 1 << 18):
                f.write((0.1 * rng.standard_normal((min(1 << 18, frames - s), 2))).astype(np.float32))
        cfg = {{"transforms": [{{"name": "WhiteNoise", "min_snr_db": 10, "max_snr_db": 20}},
                               {{"name": "TimeMask", "max_width_s": 1.0}}]}}
        augment(r"{tmp_path / 'in'}", r"{tmp_path / 'warm'}", cfg, progress=False, extensions=["flac"])  # imports
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        s = augment(r"{tmp_path / 'in'}", r"{tmp_path / 'out'}", cfg, progress=False)
        assert s.written == 1, s
        print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
    """)
    (tmp_path / "in").mkdir()
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr[-3000:]
    grown_mb = float(run.stdout.split()[-1])
    assert grown_mb < 40, f"peak RSS grew by {grown_mb:.0f} MB for a 66 MB (float32) signal"
