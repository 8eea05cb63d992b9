"""Butterworth filters, the telephone channel, companding and codecs: band energies, tones and alignment."""

import math

import numpy as np
import pytest
import scipy.signal as ss
import torch
import torchaudio.functional as AF

import audionoise as an
from audionoise import functional as F
from audionoise import io as aio
from audionoise.functional.filters import settle_samples
from speech_like import speech_like
from signals import SR, band_energy_db, gain_db, tone


@pytest.mark.parametrize("kind", ["lowpass", "highpass", "bandpass"])
@pytest.mark.parametrize("order", [1, 2, 4, 7])
def test_butterworth_response_equals_scipy(kind, order):
    cut = torch.tensor([[300.0, 3400.0], [1000.0, 5000.0]]) if kind == "bandpass" else torch.tensor([300.0, 5000.0])
    cut = cut.double()
    n_fft = 512
    h = F.butterworth_response(kind, cut, SR, order, n_fft)
    h32 = F.butterworth_response(kind, cut.float(), SR, order, n_fft)
    assert h.dtype == torch.complex128 and h32.dtype == torch.complex64
    assert torch.allclose(h32.to(torch.complex128), h, atol=1e-5)
    freqs = np.arange(n_fft // 2 + 1) * SR / n_fft
    for b in range(2):
        if kind == "bandpass":
            sos = np.concatenate([ss.butter(order, cut[b, 0].item(), "highpass", fs=SR, output="sos"),
                                  ss.butter(order, cut[b, 1].item(), "lowpass", fs=SR, output="sos")])
        else:
            sos = ss.butter(order, cut[b].item(), kind, fs=SR, output="sos")
        _, ref = ss.sosfreqz(sos, worN=freqs, fs=SR)
        assert np.allclose(h[b].numpy(), ref, atol=1e-9)


def test_fft_filter_is_the_causal_iir_filter():
    x = torch.randn(2, 3000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    cut = torch.tensor([200.0, 2500.0], dtype=torch.float64)
    y = F.fft_filter(x, lambda n: F.butterworth_response("highpass", cut, SR, 4, n), settle_samples(200.0, 4, SR))
    for b in range(2):
        ref = ss.sosfilt(ss.butter(4, cut[b].item(), "highpass", fs=SR, output="sos"), x[b].numpy())
        assert np.allclose(y[b].numpy(), ref, atol=1e-9)


@pytest.mark.parametrize("order", [2, 4])
def test_low_and_high_pass_gains_at_and_above_the_cutoff(order):
    fc = 1000.0
    r = lambda f: math.tan(math.pi * f / SR) / math.tan(math.pi * fc / SR)
    for f in (500.0, 1000.0, 2000.0):
        y = an.LowPass(fc, fc, sample_rate=SR, order=order)(tone(f)[None])
        assert gain_db(y[0], tone(f)) == pytest.approx(-10 * math.log10(1 + r(f) ** (2 * order)), abs=0.02)
        y = an.HighPass(fc, fc, sample_rate=SR, order=order)(tone(f)[None])
        expect = 10 * math.log10(r(f) ** (2 * order) / (1 + r(f) ** (2 * order)))
        assert gain_db(y[0], tone(f)) == pytest.approx(expect, abs=0.02)


def test_per_example_cutoffs_in_one_batch():
    x = tone(1000.0).expand(8, -1).contiguous()
    t = an.LowPass(300.0, 6000.0, sample_rate=SR)
    params = t.sample(x, generator=torch.Generator().manual_seed(0))
    y = t.apply_params(x, params)
    for b in range(8):
        r = math.tan(math.pi * 1000 / SR) / math.tan(math.pi * float(params.cutoff_hz[b]) / SR)
        assert gain_db(y[b], x[b]) == pytest.approx(-10 * math.log10(1 + r ** 8), abs=0.02)
    assert len({round(c, 1) for c in params.cutoff_hz.tolist()}) == 8
    assert all(300.0 <= c <= 6000.0 for c in params.cutoff_hz.tolist())


def test_band_pass_band_energies():
    x = torch.randn(4, 4 * SR, generator=torch.Generator().manual_seed(1)) * 0.1
    y = an.BandPass(500, 500, 2000, 2000, sample_rate=SR, order=6)(x)
    n = x.shape[-1]
    power = F.butterworth_response("bandpass", torch.tensor([[500.0, 2000.0]]), SR, 6, n)[0].abs().pow(2).numpy()
    f = np.fft.rfftfreq(n, 1 / SR)
    for lo, hi in ((800, 1500), (2500, 4000), (4000, 8000), (20, 125)):
        # white noise in, so the band's output/input density ratio is the mean |H|^2 over the band
        expect = 10 * np.log10(power[(f >= lo) & (f < hi)].mean())
        assert band_energy_db(y, lo, hi, 800, 1500) - band_energy_db(x, lo, hi, 800, 1500) == pytest.approx(
            expect - 10 * np.log10(power[(f >= 800) & (f < 1500)].mean()), abs=0.3)
    assert band_energy_db(y, 4000, 8000, 800, 1500) < -50  # two octaves and more above the top edge


@pytest.mark.parametrize("law", ["mu", "a"])
@pytest.mark.parametrize("rate", [16000, 8000, 44100])
def test_telephone_band_limits(law, rate):
    t = an.Telephone(sample_rate=rate, law=law)
    noise = 0.1 * torch.randn(2, 4 * rate, generator=torch.Generator().manual_seed(2))
    y = t(noise)
    if rate > 9000:
        assert band_energy_db(y, 4500, rate / 2, 500, 3000, sr=rate) <= -30.0
    for f in (350.0, 500.0, 1000.0, 2000.0, 3000.0, 3300.0):
        x = tone(f, sr=rate)[None]
        assert abs(gain_db(t(x)[0], x[0])) <= 3.0, f
    for f in (100.0, 5000.0):
        if f < rate / 2:
            x = tone(f, sr=rate)[None]
            assert gain_db(t(x)[0], x[0]) < -10.0


def test_mu_law_matches_torchaudio_and_a_law_is_close_to_identity():
    x = torch.linspace(-1, 1, 10001)
    ref = AF.mu_law_decoding(AF.mu_law_encoding(x, 256), 256)
    assert torch.allclose(F.mu_law(x), ref, atol=1e-6)
    a = F.a_law(x)
    assert torch.allclose(a, -F.a_law(-x), atol=1e-7)  # odd
    # 8-bit companding: relative error bounded (about 1/32 of the value above the linear segment)
    big = x.abs() > 0.05
    assert float(((a - x).abs()[big] / x.abs()[big]).max()) < 0.035
    assert float(F.a_law(torch.tensor([1.0]))) == pytest.approx(1.0)
    assert len(torch.unique(a)) <= 256


def test_codec_round_trips_keep_length_and_timing():
    x = speech_like(2, SR, torch.Generator().manual_seed(3))
    lengths = torch.tensor([SR, 11000])
    for codec in aio.CODECS:
        t = an.Codec((codec,), 0.3, 0.3, sample_rate=SR)
        y, records = an.Compose([t])(x, lengths, torch.Generator().manual_seed(0), return_params=True)
        assert y.shape == x.shape and torch.equal(y[1, 11000:], x[1, 11000:])
        for b, n in enumerate(lengths.tolist()):
            assert F.estimate_delay(x[b, :n], y[b, :n], 400) == 0 and F.estimate_delay(y[b, :n], x[b, :n], 400) == 0
            snr = 10 * math.log10(float(x[b, :n].pow(2).sum() / (y[b, :n] - x[b, :n]).pow(2).sum()))
            assert snr > 8.0, (codec, snr)
            assert records[b][0]["codec"] == codec and records[b][0]["kbps"] > 0


def test_codec_bit_rates_follow_quality():
    x = speech_like(1, SR, torch.Generator().manual_seed(4))
    for codec in ("mp3", "opus", "vorbis"):
        rates = []
        for q in (0.05, 0.3, 0.8):
            _, rec = an.Compose([an.Codec((codec,), q, q, sample_rate=SR)])(x, return_params=True)
            rates.append(rec[0][0]["kbps"])
        assert rates == sorted(rates) and rates[0] < rates[-1], (codec, rates)
    _, rec = an.Compose([an.Codec(("gsm",), sample_rate=SR)])(x, return_params=True)
    assert rec[0][0]["kbps"] == pytest.approx(13.2, abs=0.6)  # GSM 6.10 full rate + WAV header
    # the MP3 bit rate is libsndfile's CBR line: 8 + 152 q kbps at 16 kHz (LAME rounds to an MPEG-2 rate)
    _, rec = an.Compose([an.Codec(("mp3",), 0.5, 0.5, sample_rate=SR)])(x, return_params=True)
    assert rec[0][0]["kbps"] == pytest.approx(84.0, rel=0.1)  # (ID3 and Xing frames included)


def test_codec_of_a_delayed_signal_stays_delayed_and_silence_stays_silent():
    x = speech_like(1, SR, torch.Generator().manual_seed(5))
    delayed = torch.cat([torch.zeros(1, 1000), x[:, :-1000]], 1)
    for codec in ("mp3", "opus"):
        y = an.Codec((codec,), 0.3, 0.3, sample_rate=SR)(delayed)
        assert F.estimate_delay(x, y, 2000) == 1000
    silent = an.Codec(("mp3", "vorbis", "opus", "gsm"), sample_rate=SR)(torch.zeros(4, 4000),
                                                                       generator=torch.Generator().manual_seed(0))
    assert float(silent.abs().max()) < 1e-3


def test_io_codec_helpers():
    assert aio.codec_rate("opus", 44100) == 48000 and aio.codec_rate("gsm", 16000) == 8000
    assert aio.codec_rate("mp3", 96000) == 48000 and aio.codec_rate("vorbis", 11111) == 11111
    with pytest.raises(ValueError, match="unknown codec 'aac'"):
        aio.codec_round_trip(np.zeros((1, 100), np.float32), SR, "aac", 0.5)
    with pytest.raises(ValueError, match=r"does not encode 44100 Hz.*codec_rate"):
        aio.codec_round_trip(np.zeros((1, 100), np.float32), 44100, "opus", 0.5)
    y, nbytes = aio.codec_round_trip(np.zeros((2, 1600), np.float32), 8000, "gsm", 0.5)
    assert y.shape[0] == 2 and nbytes > 0  # GSM is mono: channels are encoded one by one


def test_estimate_delay_closed_form():
    x = torch.randn(2, 1000, generator=torch.Generator().manual_seed(0))
    assert F.estimate_delay(x, torch.cat([torch.zeros(2, 37), x], 1), 100) == 37
    assert F.estimate_delay(x, x, 100) == 0
    assert F.estimate_delay(torch.zeros(1000), x[0], 100) == 0


def test_channel_errors():
    with pytest.raises(ValueError, match=r"max_low_hz \(500\) must be below min_high_hz \(400\)"):
        an.BandPass(100, 500, 400, 3000, sample_rate=SR)
    with pytest.raises(ValueError, match="strictly between 0 and the Nyquist"):
        an.LowPass(1000, 8000, sample_rate=SR)
    with pytest.raises(ValueError, match="order must be an integer"):
        an.HighPass(100, 200, sample_rate=SR, order=0)
    with pytest.raises(ValueError, match="Telephone needs sample_rate >= 8000"):
        an.Telephone(sample_rate=4000)
    with pytest.raises(ValueError, match="law must be"):
        an.Telephone(sample_rate=SR, law="b")
    with pytest.raises(ValueError, match=r"codecs must be a non-empty list of \['mp3'"):
        an.Codec(("aac",), sample_rate=SR)
    with pytest.raises(ValueError, match=r"max_quality \(2.0\) must be <= 1"):
        an.Codec(("mp3",), 0.0, 2.0, sample_rate=SR)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (run on the GPU machine)")
def test_filters_and_telephone_on_gpu_match_cpu():
    x = speech_like(4, SR, torch.Generator().manual_seed(0))
    for t in (an.BandPass(100, 400, 2000, 6000, sample_rate=SR), an.Telephone(sample_rate=SR)):
        params = t.sample(x, generator=torch.Generator().manual_seed(0))
        cpu = t.apply_params(x, params)
        gpu = t.apply_params(x.cuda(), params.to("cuda"))
        assert torch.allclose(gpu.cpu(), cpu, atol=1e-4)
