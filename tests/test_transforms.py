"""Injectors: exact SNR per example, p, records, determinism, batched == per-example, validation."""

import json
import sys

import pytest
import torch

import audionoise as an
from audionoise import functional as F
from speech_like import speech_like

SR = 16000


def seeded(seed=0):
    return torch.Generator().manual_seed(seed)


def all_injectors(bank):
    return [
        an.WhiteNoise(-5, 30, p=0.7),
        an.ColoredNoise(0, 20, -2, 2, p=0.7),
        an.BackgroundNoise(bank, -5, 20, sample_rate=SR, p=0.7),
        an.TimeMask(0.05, num_masks=2, sample_rate=SR, p=0.7),
        an.TimeMask(0.05, num_masks=2, sample_rate=SR, fade_s=0.002),
        an.Gain(-12, 6, p=0.7),
        an.TimeShift(0.1, sample_rate=SR, mode="roll", p=0.7),
        an.TimeShift(0.1, sample_rate=SR, mode="pad", p=0.7),
        an.WhiteNoise(-5, 30, p=0.7, bank_samples=50000),
    ]


N_INJECTORS = 9


@pytest.fixture
def bank():
    g = seeded(9)
    return an.NoiseBank.from_tensors([torch.randn(3000, generator=g), F.colored_noise((20000,), "pink", g)], SR)


@pytest.mark.parametrize("cls", ["WhiteNoise", "ColoredNoise", "BackgroundNoise"])
@pytest.mark.parametrize("shape", [(6, 4000), (6, 2, 3000)])
def test_snr_injectors_are_exact_per_example(cls, shape, bank):
    g = seeded(1)
    x = torch.randn(shape, generator=g)
    t = {"WhiteNoise": an.WhiteNoise(-10, 40), "ColoredNoise": an.ColoredNoise(-10, 40, -2, 2),
         "BackgroundNoise": an.BackgroundNoise(bank, -10, 40, sample_rate=SR)}[cls]
    lengths = torch.tensor([shape[-1], shape[-1] // 2, 700, 1, 5, shape[-1] - 1])
    params = t.sample(x, lengths, g)
    y = t.apply_params(x, params, lengths)
    err = (F.snr_db(x, y - x, lengths) - params.snr_db).abs().max()
    assert float(err) < 0.01
    for b, n in enumerate(lengths.tolist()):
        assert torch.equal(y[b, ..., n:], x[b, ..., n:])  # padding untouched


def test_white_noise_bank_mode_is_exact_and_gaussian():
    t = an.WhiteNoise(-10, 40, bank_samples=200000)
    x = torch.randn(16, 2, 4000, generator=seeded(1))
    params = t.sample(x, None, seeded(2))
    y = t.apply_params(x, params)
    assert float((F.snr_db(x, y - x) - params.snr_db).abs().max()) < 0.01
    n = params.noise
    assert abs(float(n.mean())) < 0.02 and float(n.std()) == pytest.approx(1.0, abs=0.02)
    assert not torch.equal(n[0, 0], n[0, 1])  # each channel gets its own window
    assert an.load_pipeline({"transforms": [{"name": "WhiteNoise", **t.config()}]}).transforms[0].bank_samples == 200000
    with pytest.raises(ValueError, match="bank_samples"):
        an.WhiteNoise(0, 1, bank_samples=-1)


def test_white_noise_constant_signal_closed_form():
    y = an.WhiteNoise(10, 10)(torch.ones(3, SR), generator=seeded())
    assert torch.allclose(F.rms(y - 1), torch.full((3,), 0.3162278), rtol=1e-5)


def test_active_reference_in_transform(gen):
    speech = speech_like(1, SR, gen)
    padded = torch.cat([torch.zeros(1, 2 * SR), speech, torch.zeros(1, 2 * SR)], 1)
    t = an.WhiteNoise(0, 0, snr_reference="active")
    a = F.rms(t(speech, generator=seeded()) - speech)
    b = F.rms(t(padded, generator=seeded()) - padded)
    assert abs(20 * torch.log10(a / b).item()) < 0.5


@pytest.mark.parametrize("index", range(N_INJECTORS))
def test_not_applied_examples_pass_bit_exact(index, bank):
    t = all_injectors(bank)[index]
    t.p = 0.5
    x = torch.randn(32, 2000, generator=seeded(3))
    params = t.sample(x, None, seeded(4))
    y = t.apply_params(x, params)
    off = ~params.applied
    assert off.any() and params.applied.any()
    assert torch.equal(y[off], x[off])


@pytest.mark.parametrize("index", range(N_INJECTORS))
def test_determinism_and_batched_equals_per_example(index, bank):
    t = all_injectors(bank)[index]
    x = torch.randn(5, 2, 3000, generator=seeded(5))
    lengths = torch.tensor([3000, 2500, 1200, 3000, 800])
    y1 = t(x, lengths, seeded(6))
    y2 = t(x, lengths, seeded(6))
    assert torch.equal(y1, y2)
    params = t.sample(x, lengths, seeded(6))
    for b in range(5):
        yb = t.apply_params(x[b:b + 1], params.select(b), lengths[b:b + 1])
        assert torch.equal(yb[0], y1[b])
    assert not torch.isfinite(y1).logical_not().any()


@pytest.mark.parametrize("index", range(N_INJECTORS))
def test_records_are_json_and_name_the_transform(index, bank):
    t = all_injectors(bank)[index]
    x = torch.randn(3, 2000, generator=seeded(7))
    params = t.sample(x, None, seeded(8))
    rows = t.records(params)
    assert len(rows) == 3 and all(r["transform"] == type(t).__name__ for r in rows)
    assert [r["applied"] for r in rows] == params.applied.tolist()
    json.dumps(rows)
    _, piped = an.Compose([t])(x, generator=seeded(8), return_params=True)  # with apply-time info
    assert [r[0]["transform"] for r in piped] == [type(t).__name__] * 3
    json.dumps(piped)


def test_silent_and_one_sample_inputs(bank):
    for t in (an.WhiteNoise(0, 0), an.ColoredNoise(0, 0, 1, 1), an.BackgroundNoise(bank, 0, 0, sample_rate=SR)):
        x = torch.zeros(2, 1000)
        y, recs = an.Compose([t])(x, generator=seeded(), return_params=True)
        assert torch.equal(y, x) and [r[0]["noise_added"] for r in recs] == [False, False]
        one = t(torch.tensor([[0.25]]), generator=seeded())
        assert torch.isfinite(one).all() and one.shape == (1, 1)
        assert t(torch.ones(1000), generator=seeded()).shape == (1000,)  # 1-D is one example


def test_non_finite_input_raises_in_noise_injectors_and_passes_through_the_others(bank):
    x = torch.randn(2, 100)
    x[1, 5] = float("nan")
    for t in all_injectors(bank):
        if isinstance(t, (an.WhiteNoise, an.ColoredNoise, an.BackgroundNoise)):
            with pytest.raises(ValueError, match="non-finite"):
                t(x, generator=seeded())
            with pytest.raises(ValueError, match="non-finite"):  # a pipeline raises too, wherever the noise is
                an.Compose([an.Gain(0, 0), t])(x, generator=seeded())
        else:  # masks, gains and shifts copy values: the bad sample is not spread to any other example
            y = t(x, generator=seeded())
            assert torch.isfinite(y[0]).all() and int((~torch.isfinite(y[1])).sum()) <= 1


def test_constructor_validation_messages(bank):
    with pytest.raises(ValueError, match=r"min_snr_db \(30.0\) must be <= max_snr_db \(10.0\)"):
        an.WhiteNoise(30.0, 10.0)
    with pytest.raises(ValueError, match="p must be a probability"):
        an.Gain(0, 1, p=1.5)
    with pytest.raises(ValueError, match="snr_reference"):
        an.WhiteNoise(0, 1, snr_reference="peak")
    with pytest.raises(ValueError, match="num_masks"):
        an.SpecTimeMask(5, num_masks=0)
    with pytest.raises(ValueError, match="mode"):
        an.TimeShift(0.1, sample_rate=SR, mode="wrap")
    with pytest.raises(ValueError, match="sample_rate"):
        an.BackgroundNoise(bank, 0, 1, sample_rate=8000)
    with pytest.raises(ValueError, match="max_width_s"):
        an.TimeMask(-1.0, sample_rate=SR)


def test_gain_closed_form():
    y = an.Gain(-6.0205999, -6.0205999)(torch.ones(2, 4), generator=seeded())
    assert torch.allclose(y, torch.full((2, 4), 0.5), atol=1e-6)


def test_time_shift_roll_and_pad_closed_form():
    x = torch.arange(1, 9, dtype=torch.float32).expand(2, 8).clone()
    lengths = torch.tensor([8, 5])
    for mode in ("roll", "pad"):
        t = an.TimeShift(2 / SR, sample_rate=SR, mode=mode)
        params = t.sample(x, lengths, seeded())
        params = type(params)(applied=torch.tensor([True, True]), shift=torch.tensor([2, -1]))
        y = t.apply_params(x, params, lengths)
        if mode == "roll":
            assert y[0].tolist() == [7, 8, 1, 2, 3, 4, 5, 6]
            assert y[1].tolist() == [2, 3, 4, 5, 1, 6, 7, 8]
        else:
            assert y[0].tolist() == [0, 0, 1, 2, 3, 4, 5, 6]
            assert y[1].tolist() == [2, 3, 4, 5, 0, 6, 7, 8]


def test_time_shift_range_is_inclusive():
    t = an.TimeShift(3 / SR, sample_rate=SR)
    shifts = t.sample(torch.zeros(4000, 10), None, seeded()).shift
    assert set(shifts.tolist()) == {-3, -2, -1, 0, 1, 2, 3}


@pytest.mark.parametrize("kind", ["wave", "spec_time", "spec_freq"])
def test_mask_widths_uniform_inclusive_and_inside_valid_region(kind):
    n = 20000
    if kind == "wave":
        t = an.TimeMask(4 / SR, num_masks=3, sample_rate=SR)
        x, lengths = torch.zeros(n, 50), torch.randint(0, 51, (n,), generator=seeded(1))
        size = lengths
    elif kind == "spec_time":
        t = an.SpecTimeMask(4, num_masks=3)
        x, lengths = torch.zeros(n, 8, 50), torch.randint(0, 51, (n,), generator=seeded(1))
        size = lengths
    else:
        t = an.SpecFreqMask(4, num_masks=3)
        x, lengths = torch.zeros(n, 8, 50), None
        size = torch.full((n,), 8)
    p = t.sample(x, lengths, seeded(2))
    assert p.widths.shape == (n, 3) == p.starts.shape
    assert ((p.starts >= 0) & (p.starts + p.widths <= size[:, None])).all()
    big = size >= 4
    counts = torch.bincount(p.widths[big].flatten(), minlength=5)
    assert counts.numel() == 5  # 0..4 only
    expected = counts.sum() / 5
    assert ((counts - expected).abs() < 0.05 * expected).all()  # uniform, both ends included
    assert p.starts[:, 0].unique().numel() >= 8  # independent per example, all positions reached


def test_time_mask_silences_exactly_the_sampled_interval():
    t = an.TimeMask(0.01, num_masks=1, sample_rate=SR)
    x = torch.ones(4, 1000)
    p = t.sample(x, None, seeded())
    y = t.apply_params(x, p)
    assert torch.equal((y == 0).sum(-1), p.widths[:, 0] * p.applied)


def test_spec_masks_respect_frame_lengths():
    spec = torch.ones(64, 40, 100)
    lengths = torch.full((64,), 30)
    y = an.SpecTimeMask(20, num_masks=2, fill=-5.0)(spec, lengths, seeded())
    assert (y[..., 30:] == 1).all() and (y == -5).any()


@pytest.mark.parametrize("center", [True, False])
def test_frame_lengths_equal_the_frames_of_each_clip_alone(center):
    """Sample lengths -> frame lengths (public: spectrogram masks take frames): the frames torchaudio gives for
    the valid samples alone, for a centred STFT and an uncentred one."""
    import torchaudio

    mel = torchaudio.transforms.MelSpectrogram(16000, n_fft=480, hop_length=160, n_mels=40, center=center,
                                               pad_mode="constant")  # reflect needs n > n_fft // 2
    lengths = [16000, 12345, 481, 480, 479, 160, 1]
    expected = [mel(torch.zeros(n)).shape[-1] if center or n >= 480 else 0 for n in lengths]
    assert F.frame_lengths(torch.tensor(lengths), 160, n_fft=480, center=center).tolist() == expected
    with pytest.raises(ValueError, match="needs n_fft"):
        F.frame_lengths(torch.tensor(lengths), 160, center=False)
    with pytest.raises(ValueError, match="must be integers"):
        F.frame_lengths(torch.tensor([1.5]), 160)
    # masks given frame lengths never touch the padding frames of a padded batch's spectrogram
    x = torch.ones(2, 16000)
    x[1, 8000:] = 0
    spec = mel(x)
    flen = F.frame_lengths(torch.tensor([16000, 8000]), 160, n_fft=480, center=center)
    y = an.SpecTimeMask(40, num_masks=3, fill=-1.0)(spec, flen, seeded())
    assert torch.equal(y[1, :, int(flen[1]):], spec[1, :, int(flen[1]):])


def test_noise_bank_loops_and_offsets_cover_clip():
    clip = torch.arange(1, 101, dtype=torch.float32)
    bank = an.NoiseBank.from_tensors([clip], SR, crossfade_s=0)  # exact butt-joined loops (default: cross-faded)
    w = bank.windows(torch.tensor([0, 0]), torch.tensor([95, 0]), 250)
    expected = torch.remainder(torch.arange(95, 345), 100) + 1.0
    assert torch.equal(w[0], expected) and torch.equal(w[1], torch.remainder(torch.arange(250), 100) + 1.0)
    t = an.BackgroundNoise(bank, 0, 0, sample_rate=SR)
    offsets = t.sample(torch.zeros(5000, 10), None, seeded()).offset
    assert offsets.min() == 0 and offsets.max() == 99 and offsets.unique().numel() == 100


def test_noise_bank_skips_zero_clips_and_moves_with_module():
    with pytest.warns(an.NoiseBankWarning, match="skipped silent: all-zero"):
        bank = an.NoiseBank.from_tensors([torch.zeros(100), torch.ones(50)], SR, names=["silent", "dc"])
    assert bank.names == ["dc"] and bank.skipped[0]["clip"] == "silent"
    with pytest.raises(ValueError, match="no usable"), pytest.warns(an.NoiseBankWarning):
        an.NoiseBank.from_tensors([torch.zeros(10)], SR)
    t = an.BackgroundNoise(bank, 0, 0, sample_rate=SR).double()
    assert t.bank.data.dtype == torch.float64
    y = t(torch.randn(2, 300, dtype=torch.float64), generator=seeded())
    assert y.dtype == torch.float64


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (run on the GPU machine)")
def test_cuda_pipeline_matches_cpu_snr(bank):
    t = an.BackgroundNoise(bank, 0, 20, sample_rate=SR).to("cuda")
    x = torch.randn(8, SR, device="cuda")
    g = torch.Generator(device="cuda").manual_seed(0)
    params = t.sample(x, None, g)
    y = t.apply_params(x, params)
    assert y.device.type == "cuda" and float((F.snr_db(x, y - x) - params.snr_db).abs().max()) < 0.01
    for w in (an.WhiteNoise(0, 10), an.ColoredNoise(0, 10, 0, 2), an.TimeMask(0.1, sample_rate=SR),
              an.TimeShift(0.1, sample_rate=SR), an.Gain(-3, 3)):
        assert w.to("cuda")(x, generator=g).device.type == "cuda"


def test_keep_freed_memory_changes_no_result():
    from audionoise.runtime import keep_freed_memory

    x = torch.randn(4, 3000, generator=seeded(1))
    before = an.TimeShift(0.05, sample_rate=SR, mode="pad")(x, torch.tensor([3000, 10, 2000, 0]), seeded(2))
    assert keep_freed_memory() is sys.platform.startswith("linux")  # glibc mallopt accepted
    after = an.TimeShift(0.05, sample_rate=SR, mode="pad")(x, torch.tensor([3000, 10, 2000, 0]), seeded(2))
    assert torch.equal(before, after)
