"""The offline clipping policy (``on_clip`` / ``--on-clip``): normalize (default), clip, error."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf
import torch

from audionoise import io
from audionoise.cli import main
from audionoise.offline import OfflineUsageError, augment, engine
from offline_helpers import content, jsonl

RATE, FRAMES = 16000, 8000
LSB = 1.0 / 32768
CONFIG = {"sample_rate": RATE, "transforms": [{"name": "Gain", "min_db": 12.0, "max_db": 12.0},
                                              {"name": "WhiteNoise", "min_snr_db": 5.0, "max_snr_db": 15.0}]}
CONFIG_TOML = """\
sample_rate = 16000
[[transforms]]
name = "Gain"
min_db = 12.0
max_db = 12.0
[[transforms]]
name = "WhiteNoise"
min_snr_db = 5.0
max_snr_db = 15.0
"""


def _signal(amplitude: float) -> np.ndarray:
    """Harmonic tones on the 16-bit grid, peak ``amplitude`` (so PCM_16 and FLOAT files hold the same values)."""
    t = np.arange(FRAMES) / RATE
    x = sum(np.sin(2 * np.pi * k * 150 * t) / k for k in range(1, 5))
    return np.round(amplitude * x / np.abs(x).max() * 32768) / 32768


@pytest.fixture
def inputs(tmp_path):
    """``pcm/`` and ``flt/`` hold the same two files (same keys, same seeds): ``loud.wav`` (peak 0.9: beyond
    full scale after +12 dB) and ``quiet.wav`` (peak 0.05: within it), as PCM_16 and as FLOAT."""
    for folder, subtype in (("pcm", "PCM_16"), ("flt", "FLOAT")):
        (tmp_path / folder).mkdir()
        sf.write(tmp_path / folder / "loud.wav", _signal(0.9).astype(np.float32), RATE, subtype=subtype)
        sf.write(tmp_path / folder / "quiet.wav", _signal(0.05).astype(np.float32), RATE, subtype=subtype)
    return tmp_path


def test_rows_within_full_scale_one_pass_per_batch():
    from audionoise.offline.clipping import rows_within_full_scale

    y = torch.tensor([[0.5, -1.0, 1.0], [0.0, 1.0001, 0.0], [-1.5, 0.0, 0.0], [0.0, math.nan, 0.0]])
    assert rows_within_full_scale(y) == [True, False, False, False]
    assert rows_within_full_scale(y[:, None]) == [True, False, False, False]  # (batch, channels, time)
    assert rows_within_full_scale(torch.zeros(2, 0)) == [False, False]  # nothing measured: limit() decides


def _rows(out) -> dict[str, dict]:
    return {row["input"]: row for row in jsonl(out / "manifest.jsonl")}


def _snr_db(y: torch.Tensor, speech: torch.Tensor) -> float:
    return 10 * math.log10(float(speech.double().square().mean() / (y - speech).double().square().mean()))


@pytest.mark.parametrize("batched", [True, False])
def test_normalize_scales_speech_and_noise_together(inputs, monkeypatch, batched):
    if not batched:
        monkeypatch.setattr(engine, "batchable", lambda pipe: False)  # the one-file-at-a-time path
    t = inputs
    s = augment(t / "pcm", t / "out_pcm", CONFIG, copies=2, progress=False)  # default policy: normalize
    f = augment(t / "flt", t / "out_flt", CONFIG, copies=2, progress=False)
    assert (s.written, s.failed, f.written, f.failed) == (4, 0, 4, 0)
    pcm, flt = jsonl(t / "out_pcm" / "manifest.jsonl"), jsonl(t / "out_flt" / "manifest.jsonl")
    speech = torch.from_numpy(_signal(0.9)).float() * 10 ** (12 / 20)
    for row_p, row_f in zip(pcm, flt):
        assert row_p["output"] == row_f["output"] and row_p["transforms"] == row_f["transforms"]
        assert (row_p["subtype"], row_f["subtype"]) == ("PCM_16", "FLOAT")
        y_f = io.load(t / "out_flt" / row_f["output"])[0][0]
        y_p = io.load(t / "out_pcm" / row_p["output"])[0][0]
        assert "normalized_db" not in row_f and row_p["clipped"] == row_f["clipped"] == 0
        if row_p["input"] == "quiet.wav":  # within full scale: untouched
            assert "normalized_db" not in row_p
            torch.testing.assert_close(y_p, y_f, rtol=0, atol=1.5 * LSB)
            continue
        peak = float(y_f.abs().max())
        assert peak > 2.0  # really beyond full scale before the policy
        assert row_p["normalized_db"] == pytest.approx(-20 * math.log10(peak), abs=0.01)
        assert float(y_p.abs().max()) <= 1.0
        torch.testing.assert_close(y_p, y_f / peak, rtol=0, atol=1.5 * LSB)
        scale = 10 ** (row_p["normalized_db"] / 20)
        snr = row_f["transforms"][1]["snr_db"]
        assert _snr_db(y_f, speech) == pytest.approx(snr, abs=0.01)
        assert _snr_db(y_p, speech * scale) == pytest.approx(snr, abs=0.01)  # the SNR is kept


def test_clip_clamps_and_counts(inputs):
    t = inputs
    augment(t / "pcm", t / "out_pcm", CONFIG, progress=False, on_clip="clip")
    augment(t / "flt", t / "out_flt", CONFIG, progress=False, on_clip="clip")
    row_p, row_f = _rows(t / "out_pcm")["loud.wav"], _rows(t / "out_flt")["loud.wav"]
    y_f = io.load(t / "out_flt" / row_f["output"])[0][0]
    y_p = io.load(t / "out_pcm" / row_p["output"])[0][0]
    assert row_p["clipped"] == int((y_f.abs() > 1).sum()) > 0 and "normalized_db" not in row_p
    assert row_f["clipped"] == 0  # float output: nothing clips
    torch.testing.assert_close(y_p, y_f.clamp(-1, 1), rtol=0, atol=1.5 * LSB)
    assert float(y_p.abs().max()) == pytest.approx(1.0, abs=1.5 * LSB)


def test_error_fails_that_input_only(inputs, tmp_path, capsys):
    (tmp_path / "pipe.toml").write_text(CONFIG_TOML)
    status = main(["augment", str(inputs / "pcm"), str(tmp_path / "out"), "--config", str(tmp_path / "pipe.toml"),
                   "--on-clip", "error", "-q"])
    assert status == 1
    assert "1 input(s) failed" in capsys.readouterr().err
    errors = jsonl(tmp_path / "out" / "errors.jsonl")
    assert len(errors) == 1 and errors[0]["input"] == "loud.wav"
    augment(inputs / "flt", tmp_path / "ref", CONFIG, progress=False)  # the float output: its peak
    peak = float(io.load(tmp_path / "ref" / "loud_aug0.wav")[0].abs().max())
    reason = errors[0]["reason"]
    assert f"{20 * math.log10(peak):+.2f} dBFS" in reason and "PCM_16" in reason
    assert "--on-clip normalize" in reason and "--on-clip clip" in reason
    assert list(_rows(tmp_path / "out")) == ["quiet.wav"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["errors.jsonl", "manifest.jsonl",
                                                                     "quiet_aug0.wav", "run.json"]


def test_float_outputs_ignore_the_policy(inputs):
    augment(inputs / "flt", inputs / "a", CONFIG, progress=False, on_clip="error")
    augment(inputs / "flt", inputs / "b", CONFIG, progress=False, on_clip="normalize")
    for out in ("a", "b"):
        assert not jsonl(inputs / out / "errors.jsonl") and len(jsonl(inputs / out / "manifest.jsonl")) == 2
    assert (inputs / "a" / "loud_aug0.wav").read_bytes() == (inputs / "b" / "loud_aug0.wav").read_bytes()


def test_policy_is_a_setting_of_the_run(inputs):
    augment(inputs / "pcm", inputs / "out", CONFIG, progress=False)
    assert (inputs / "out" / "run.json").read_text().count('"on_clip": "normalize"') == 1
    with pytest.raises(OfflineUsageError, match=r"cannot resume: .*\(on_clip differ"):
        augment(inputs / "pcm", inputs / "out", CONFIG, progress=False, on_clip="clip", resume=True)
    with pytest.raises(OfflineUsageError, match=r"on_clip \('wrap'\) must be one of clip, normalize, error"):
        augment(inputs / "pcm", inputs / "other", CONFIG, progress=False, on_clip="wrap")


def test_normalized_outputs_are_identical_across_workers_and_shards(inputs):
    augment(inputs / "pcm", inputs / "one", CONFIG, copies=3, progress=False)
    augment(inputs / "pcm", inputs / "two", CONFIG, copies=3, workers=2, progress=False)
    for i in range(2):
        augment(inputs / "pcm", inputs / "shards", CONFIG, copies=3, shard=(i, 2), progress=False)
    one, two, shards = content(inputs / "one"), content(inputs / "two"), content(inputs / "shards")
    assert one == two
    assert {k: v for k, v in one.items() if k.endswith(".wav")} == {k: v for k, v in shards.items()
                                                                     if k.endswith(".wav")}
    assert sum("normalized_db" in row for row in jsonl(inputs / "one" / "manifest.jsonl")) == 3
