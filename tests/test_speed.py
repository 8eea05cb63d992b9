"""Speed perturbation, time stretch and pitch shift: tone frequencies and lengths in closed form."""

import math

import pytest
import torch

import audionoise as an
from audionoise import functional as F
from audionoise.transforms import _host
from signals import SR, peak_frequency, tone


@pytest.mark.parametrize("factor", [0.9, 1.1, 1.25])
def test_speed_moves_a_tone_and_divides_the_length(factor):
    t = an.SpeedPerturb((factor,), sample_rate=SR)
    y, n = t(tone(1000.0)[None])
    assert int(n[0]) == math.ceil(SR / factor) and y.shape == (1, int(n[0]))
    assert peak_frequency(y[0]) == pytest.approx(1000.0 * factor, abs=0.5)


def test_speed_per_example_factors_and_lengths_in_one_batch():
    x = torch.stack([tone(500.0), tone(700.0), tone(900.0), tone(1100.0)])
    lengths = torch.tensor([16000, 12000, 8000, 16000])
    t = an.SpeedPerturb((0.8, 1.0, 1.2), sample_rate=SR)
    params = t.sample(x, lengths, torch.Generator().manual_seed(3))
    y, n = t.apply_params(x, params, lengths)
    for b in range(4):
        f = float(params.factor[b])
        assert int(n[b]) == math.ceil(int(lengths[b]) * SR / round(f * SR))
        assert torch.all(y[b, int(n[b]):] == 0)
        assert peak_frequency(y[b, :int(n[b])]) == pytest.approx([500, 700, 900, 1100][b] * f, abs=1.0)
        if f == 1.0:
            assert torch.equal(y[b, :int(n[b])], x[b, :int(lengths[b])])
    assert y.shape[-1] == int(n.max())
    assert len(set(params.factor.tolist())) > 1


def test_functional_speed_matches_torchaudio():
    import torchaudio.functional as AF

    x = torch.randn(2, 5000, generator=torch.Generator().manual_seed(0))
    lengths = torch.tensor([5000, 3000])
    x[1, 3000:] = 0
    ours, n = F.speed(x, 1.1, SR, lengths)
    theirs, m = AF.speed(x, SR, 1.1, lengths)
    assert torch.equal(n, m)
    for b in range(2):
        assert torch.allclose(ours[b, :int(n[b])], theirs[b, :int(n[b])], atol=1e-6)


def test_pitch_shift_two_semitones_up():
    y = an.PitchShift(2.0, 2.0, sample_rate=SR)(tone(440.0)[None])
    assert y.shape == (1, SR)
    assert peak_frequency(y[0]) == pytest.approx(440.0 * 2 ** (2 / 12), abs=1.0)  # 493.88 Hz


def test_pitch_shift_per_example_and_records():
    x = torch.stack([tone(300.0), tone(600.0)])
    t = an.PitchShift(-4.0, 4.0, sample_rate=SR)
    y, records = an.Compose([t])(x, generator=torch.Generator().manual_seed(1), return_params=True)
    for b in range(2):
        s = records[b][0]["semitones"]
        assert records[b][0]["backend"] == "librosa (CPU, per example)"
        assert peak_frequency(y[b]) == pytest.approx([300.0, 600.0][b] * 2 ** (s / 12), abs=1.0)


def test_time_stretch_changes_length_not_pitch():
    x = torch.stack([tone(440.0), tone(880.0)])
    lengths = torch.tensor([16000, 10000])
    t = an.TimeStretch(0.8, 1.25, sample_rate=SR)
    params = t.sample(x, lengths, torch.Generator().manual_seed(0))
    y, n = t.apply_params(x, params, lengths)
    for b in range(2):
        assert int(n[b]) == round(int(lengths[b]) / float(params.rate[b]))
        assert peak_frequency(y[b, 2000:int(n[b]) - 2000]) == pytest.approx([440.0, 880.0][b], abs=1.0)
    assert y.shape[-1] == int(n.max())


def test_librosa_missing_gives_the_install_command(monkeypatch):
    real = _host.importlib.util.find_spec
    monkeypatch.setattr(_host.importlib.util, "find_spec", lambda name: None if name == "librosa" else real(name))
    with pytest.raises(ImportError, match=r"PitchShift needs librosa.*pip install 'audionoise\[pitch\]'"):
        an.PitchShift(-1, 1, sample_rate=SR)
    with pytest.raises(ImportError, match=r"TimeStretch needs librosa"):
        an.TimeStretch(0.9, 1.1, sample_rate=SR)


def test_speed_errors():
    with pytest.raises(ValueError, match="at least one speed factor"):
        an.SpeedPerturb((), sample_rate=SR)
    with pytest.raises(ValueError, match=r"factors must be > 0"):
        an.SpeedPerturb((0.9, -1.0), sample_rate=SR)
    with pytest.raises(ValueError, match="min_rate"):
        an.TimeStretch(0.0, 1.0, sample_rate=SR)
    with pytest.raises(ValueError, match=r"min_semitones \(3\) must be <= max_semitones \(1\)"):
        an.PitchShift(3, 1, sample_rate=SR)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (run on the GPU machine)")
def test_speed_on_gpu_matches_cpu():
    x = torch.stack([tone(500.0), tone(900.0)])
    t = an.SpeedPerturb((0.9, 1.1), sample_rate=SR)
    params = t.sample(x, generator=torch.Generator().manual_seed(0))
    y, n = t.apply_params(x, params)
    yg, ng = t.apply_params(x.cuda(), params.to("cuda"))
    assert torch.equal(ng.cpu(), n) and torch.allclose(yg.cpu(), y, atol=1e-5)
