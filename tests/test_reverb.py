"""Reverb: synthetic RT60 and DRR, RT60 measurement, FFT convolution, direct path kept, levels, RIR banks."""

import math

import numpy as np
import pytest
import torch

import audionoise as an
from audionoise import functional as F
from audionoise import io as aio
from audionoise.functional.rir import direct_path_index
from speech_like import speech_like

SR = 16000


def test_rt60_measurement_of_a_noise_free_exponential_decay():
    for rt in (0.25, 0.5, 1.2):
        t = torch.arange(int(2 * rt * SR), dtype=torch.float64) / SR
        h = torch.exp(-3 * math.log(10) * t / rt)  # amplitude falls 60 dB in rt seconds
        assert float(F.rt60(h[None], SR)) == pytest.approx(rt, rel=1e-3)
    assert math.isnan(float(F.rt60(torch.ones(1, 100), SR)))  # never decays 25 dB: cannot be measured


@pytest.mark.parametrize("rt60", [0.2, 0.4, 0.6, 0.8, 1.0])
def test_synthetic_rt60_within_15_percent_and_drr_exact(rt60):
    t = an.Reverb(min_rt60=rt60, max_rt60=rt60, min_drr_db=-5, max_drr_db=10, sample_rate=SR)
    params = t.sample(torch.zeros(16, 8000), generator=torch.Generator().manual_seed(int(rt60 * 10)))
    measured = F.rt60(params.rir, SR)
    assert float(((measured - rt60) / rt60).abs().max()) < 0.15
    h = params.rir.double()
    drr = 10 * torch.log10(h[:, 0] ** 2 / h[:, 1:].pow(2).sum(1))
    assert torch.allclose(drr, params.drr_db.double(), atol=1e-3)
    assert torch.all(h[:, 0] == 1.0) and torch.all(direct_path_index(h) == 0)


def test_fft_convolve_matches_direct_convolution_with_offsets():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 2, 300, generator=g, dtype=torch.float64)
    h = torch.randn(3, 50, generator=g, dtype=torch.float64)
    offset = torch.tensor([0, 7, 49])
    y = F.fft_convolve(x, h, offset)
    for b in range(3):
        for c in range(2):
            full = np.convolve(x[b, c].numpy(), h[b].numpy())
            o = int(offset[b])
            assert np.allclose(y[b, c].numpy(), full[o:o + 300], atol=1e-10)


def test_direct_path_stays_in_place_with_unit_gain():
    x = torch.zeros(3, 8000)
    x[:, 1234] = 0.5
    t = an.Reverb(min_rt60=0.3, max_rt60=0.9, sample_rate=SR, normalize="direct")
    y = t(x, generator=torch.Generator().manual_seed(0))
    assert float(y[:, :1234].abs().max()) < 1e-6  # nothing before the direct sound (causal; FFT round-off)
    assert torch.allclose(y[:, 1234], torch.full((3,), 0.5), atol=1e-6)
    bank = an.RIRBank.from_tensors([torch.cat([torch.zeros(40), torch.tensor([0.0, 2.0, 0.5, 0.25])])], SR)
    assert int(bank.peak[0]) == 41
    y = an.Reverb(bank, sample_rate=SR, normalize="direct")(x, generator=torch.Generator().manual_seed(0))
    expect = torch.zeros(8000)
    expect[1234], expect[1235], expect[1236] = 0.5, 0.125, 0.0625  # onset delay of 41 samples compensated
    assert torch.allclose(y[0], expect, atol=1e-6)


def test_energy_normalization_keeps_power_and_snr_refers_to_dry_speech():
    g = torch.Generator().manual_seed(1)
    x = speech_like(4, SR, g)
    lengths = torch.tensor([SR, 12000, 9000, 16000])
    y = an.Reverb(min_rt60=0.3, max_rt60=1.0, sample_rate=SR)(x, lengths, g)
    assert torch.allclose(F.power(y, lengths), F.power(x, lengths), rtol=1e-4)
    for b, n in enumerate(lengths.tolist()):
        assert torch.equal(y[b, n:], x[b, n:])  # the reverberant tail never leaks into padding
    # noise after reverb: the SNR injector measures the reverberant speech, whose power is the dry speech's
    wet = an.Reverb(sample_rate=SR)(x, lengths, torch.Generator().manual_seed(5))
    noisy = an.WhiteNoise(10.0, 10.0)(wet, lengths, torch.Generator().manual_seed(6))
    assert torch.allclose(F.snr_db(x, noisy - wet, lengths), torch.full((4,), 10.0), atol=0.01)  # re the DRY speech


def test_reverberant_power_follows_the_drr():
    x = torch.randn(8, 2 * SR, generator=torch.Generator().manual_seed(2))  # white: uncorrelated with the tail
    for drr in (0.0, 6.0):
        t = an.Reverb(min_rt60=0.5, max_rt60=0.5, min_drr_db=drr, max_drr_db=drr, sample_rate=SR,
                      normalize="direct")
        y = t(x, generator=torch.Generator().manual_seed(0))
        # direct path (gain 1) + a tail with 10^(-DRR/10) of its energy: P_y = P_x (1 + 10^(-DRR/10))
        ratio = 10 * torch.log10(F.power(y) / F.power(x))
        assert float((ratio - 10 * math.log10(1 + 10 ** (-drr / 10))).abs().max()) < 0.3


def test_rir_bank_from_folder_and_config(tmp_path):
    folder = tmp_path / "rirs"
    folder.mkdir()
    g = torch.Generator().manual_seed(3)
    for i in range(3):
        h = F.synthetic_rir(torch.tensor([0.3 + 0.2 * i]), torch.tensor([3.0]),
                                        torch.randn(1, 16000, generator=g), SR)[0]
        aio.save(folder / f"room{i}.wav", torch.cat([torch.zeros(20 * i), 0.5 * h])[None], SR, subtype="FLOAT")
    aio.save(folder / "silent.wav", torch.zeros(1, 100), SR)
    bank = an.RIRBank.from_paths(folder, SR)
    assert len(bank) == 3 and bank.peak.tolist() == [0, 20, 40]
    assert [s["reason"] for s in bank.skipped] == ["all-zero"]
    assert torch.allclose(bank.rt60(), torch.tensor([0.3, 0.5, 0.7], dtype=torch.float64), rtol=0.15)
    cfg = {"sample_rate": SR, "transforms": [{"name": "Reverb", "rir": "rirs", "p": 1.0}]}
    pipe = an.load_pipeline(cfg, base_dir=tmp_path)
    x = speech_like(4, 8000, g)
    y, records = pipe(x, generator=torch.Generator().manual_seed(0), return_params=True)
    assert {r[0]["rir_name"] for r in records} <= {str(folder / f"room{i}.wav") for i in range(3)}
    an.save_pipeline(pipe, tmp_path / "pipe.toml")
    saved = (tmp_path / "pipe.toml").read_text()
    assert "rirs" in saved
    # measured responses ignore the synthetic RT60/DRR ranges: the repr and the saved config do not show them
    assert "rt60" not in saved and "drr" not in saved
    assert "rt60" not in repr(pipe) and "drr" not in repr(pipe) and "normalize='energy'" in repr(pipe)
    assert "min_rt60=0.2" in repr(an.Reverb(sample_rate=SR))  # synthetic: they are what it uses
    again = an.load_pipeline(tmp_path / "pipe.toml")
    assert torch.equal(again(x, generator=torch.Generator().manual_seed(0)), y)
    listed = an.Reverb([str(folder / "room0.wav"), str(folder / "room2.wav")], sample_rate=SR)
    assert len(listed.bank) == 2


def test_reverb_errors():
    with pytest.raises(ValueError, match="min_rt60"):
        an.Reverb(min_rt60=0.0, sample_rate=SR)
    with pytest.raises(ValueError, match=r"min_rt60 \(2.0\) must be <= max_rt60 \(1.0\)"):
        an.Reverb(min_rt60=2.0, sample_rate=SR)
    with pytest.raises(ValueError, match="normalize must be one of"):
        an.Reverb(sample_rate=SR, normalize="peak")
    with pytest.raises(ValueError, match="does not exist"):
        an.Reverb("/no/such/rirs", sample_rate=SR)
    with pytest.raises(ValueError, match="rir must be None"):
        an.Reverb(3, sample_rate=SR)
    with pytest.raises(ValueError, match="no usable"):
        an.RIRBank.from_tensors([torch.zeros(10)], SR)
    with pytest.raises(ValueError, match="differs from sample_rate"):
        an.Reverb(an.RIRBank.from_tensors([torch.ones(3)], 8000), sample_rate=SR)
    with pytest.raises(ValueError, match=r"transforms\[0\]\.rir: file or folder 'nowhere' not found"):
        an.load_pipeline({"sample_rate": SR, "transforms": [{"name": "Reverb", "rir": "nowhere"}]})


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (run on the GPU machine)")
def test_reverb_on_gpu_matches_cpu():
    x = speech_like(4, SR, torch.Generator().manual_seed(0))
    t = an.Reverb(sample_rate=SR)
    params = t.sample(x, generator=torch.Generator().manual_seed(0))
    cpu = t.apply_params(x, params)
    gpu = t.apply_params(x.cuda(), params.to("cuda"))
    assert torch.allclose(gpu.cpu(), cpu, atol=1e-5)
    y = t(x.cuda(), generator=torch.Generator("cuda").manual_seed(0))
    assert y.device.type == "cuda" and y.shape == x.shape


def test_bank_reverb_in_blocks_equals_one_call_and_keeps_power():
    # 37 examples (three blocks of 16 rows): the in-place table rows and per-block level match one autograd call
    g = torch.Generator().manual_seed(3)
    rirs = [F.synthetic_rir(torch.tensor([rt]), torch.tensor([3.0]), torch.randn(1, 4000, generator=g), SR)[0]
            for rt in (0.2, 0.4, 0.6)]
    bank = an.RIRBank.from_tensors([torch.cat([torch.zeros(k * 7), r]) for k, r in enumerate(rirs)], SR)
    t = an.Reverb(bank, sample_rate=SR)
    x = torch.randn(37, 6000, generator=g) * 0.1
    params = t.sample(x, generator=torch.Generator().manual_seed(0))
    y = t.apply_params(x, params)
    with torch.enable_grad():
        one = t.apply_params(x.clone().requires_grad_(), params).detach()
    assert torch.allclose(y, one, rtol=0, atol=1e-6)
    assert torch.allclose(y.pow(2).mean(1), x.pow(2).mean(1), rtol=1e-4)
    assert len(set(params.rir.tolist())) == 3
