"""SNR maths: closed-form values, exactness, lengths, active reference, degenerate inputs, gradients."""

import math

import pytest
import torch

from audionoise import functional as F
from speech_like import speech_like


def test_constant_signal_10db_noise_rms_closed_form(gen):
    x = torch.ones(1, 16000)
    y = F.mix_at_snr(x, torch.randn(1, 16000, generator=gen), 10.0)
    assert float(F.rms(y - x)) == pytest.approx(0.3162278, rel=1e-5)


def test_rms_and_power_closed_form():
    x = torch.full((2, 3, 100), 2.0)
    assert torch.allclose(F.rms(x), torch.tensor([2.0, 2.0]))
    assert torch.allclose(F.power(x), torch.tensor([4.0, 4.0]))
    lengths = torch.tensor([100, 50])
    x[1, :, 50:] = 100.0  # padding must not count
    assert torch.allclose(F.rms(x, lengths), torch.tensor([2.0, 2.0]))
    assert F.rms(torch.ones(5)).dim() == 0


@pytest.mark.parametrize("shape", [(8, 16000), (8, 2, 8000), (8, 6, 4000)])
def test_mix_hits_each_target_exactly(gen, shape):
    x = torch.randn(shape, generator=gen) * torch.rand(shape[0], *[1] * (len(shape) - 1), generator=gen)
    n = torch.randn(shape, generator=gen)
    target = torch.empty(shape[0]).uniform_(-10, 40, generator=gen)
    y = F.mix_at_snr(x, n, target)
    err = (F.snr_db(x, y - x) - target).abs().max()
    assert float(err) < 0.01


def test_lengths_padding_gets_no_noise_and_does_not_count(gen):
    x = torch.randn(4, 2, 8000, generator=gen)
    lengths = torch.tensor([8000, 4000, 100, 1])
    target = torch.tensor([0.0, 10.0, -10.0, 40.0])
    y = F.mix_at_snr(x, torch.randn(4, 2, 8000, generator=gen), target, lengths)
    assert float((F.snr_db(x, y - x, lengths) - target).abs().max()) < 0.01
    for b, n in enumerate(lengths.tolist()):
        assert torch.equal(y[b, :, n:], x[b, :, n:])


def test_snr_is_independent_of_noise_scale(gen):
    x, n = torch.randn(2, 1000, generator=gen), torch.randn(2, 1000, generator=gen)
    assert torch.allclose(F.mix_at_snr(x, n, 5.0), F.mix_at_snr(x, 1e3 * n, 5.0), atol=1e-5)


def test_clean_signal_is_never_rescaled(gen):
    x, n = torch.randn(1, 1000, generator=gen), torch.randn(1, 1000, generator=gen)
    g = F.snr_gain(x, n, 3.0)
    assert torch.allclose(F.mix_at_snr(x, n, 3.0) - g * n, x, atol=1e-6)


def test_active_reference_ignores_added_silence(gen):
    sr = 16000
    speech = speech_like(1, sr, gen)
    padded = torch.cat([torch.zeros(1, 3 * sr), speech, torch.zeros(1, 2 * sr)], dim=1)
    n_short, n_long = torch.randn(1, sr, generator=gen), torch.randn(1, 6 * sr, generator=gen)
    g_short = F.snr_gain(speech, n_short, 10.0, snr_reference="active")
    g_long = F.snr_gain(padded, n_long, 10.0, snr_reference="active")
    level_short = 20 * math.log10(float(g_short * F.rms(n_short)))
    level_long = 20 * math.log10(float(g_long * F.rms(n_long)))
    assert abs(level_short - level_long) < 0.5
    # the "full" reference is fooled by the silence: 6x the length -> about 7.8 dB less noise
    g_full = F.snr_gain(padded, n_long, 10.0, snr_reference="full")
    assert 20 * math.log10(float(g_long / g_full)) == pytest.approx(10 * math.log10(6), abs=0.6)


def test_active_snr_exact_on_active_frames(gen):
    speech = torch.cat([torch.zeros(1, 8000), speech_like(1, 16000, gen), torch.zeros(1, 4000)], 1)
    n = torch.randn_like(speech)
    y = F.mix_at_snr(speech, n, 7.0, snr_reference="active")
    mask = F.active_mask(speech)
    assert 14000 <= int(mask.sum()) <= 16800  # the 1 s of speech (frame-quantised), not the silence
    assert F.snr_db(speech[mask], (y - speech)[mask]).item() == pytest.approx(7.0, abs=0.01)


def test_active_mask_respects_lengths_and_silence():
    x = torch.zeros(2, 1600)
    x[0, 400:800] = 1.0
    x[1, :] = 1.0
    m = F.active_mask(x, torch.tensor([1600, 800]))
    assert m[0, 400:800].all() and not m[0, :400].any() and not m[0, 800:].any()
    assert m[1, :800].all() and not m[1, 800:].any()
    assert not F.active_mask(torch.zeros(1, 1000)).any()


def test_silent_signal_and_zero_noise_add_nothing():
    x = torch.zeros(2, 100)
    x[1] = 1.0
    n = torch.ones(2, 100)
    n[1] = 0.0
    y = F.mix_at_snr(x, n, 0.0)
    assert torch.equal(y, x) and torch.isfinite(y).all()
    assert torch.equal(F.snr_gain(x, n, 0.0), torch.zeros(2))


def test_one_sample_input_is_finite(gen):
    y = F.mix_at_snr(torch.tensor([[0.5]]), torch.randn(1, 1, generator=gen), 0.0)
    assert torch.isfinite(y).all() and float((y - 0.5).abs()) == pytest.approx(0.5, rel=1e-5)


def test_gradients_flow_to_signal(gen):
    x = torch.randn(2, 500, generator=gen, requires_grad=True)
    F.mix_at_snr(x, torch.randn(2, 500, generator=gen), 5.0).square().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_bad_arguments_raise_clear_errors(gen):
    x = torch.randn(2, 100, generator=gen)
    with pytest.raises(ValueError, match="snr_reference"):
        F.mix_at_snr(x, x, 0.0, snr_reference="peak")
    with pytest.raises(ValueError, match="lengths must have shape"):
        F.mix_at_snr(x, x, 0.0, lengths=torch.tensor([1]))
    with pytest.raises(ValueError, match=r"lengths must lie in \[0, 100\]"):
        F.mix_at_snr(x, x, 0.0, lengths=torch.tensor([1, 101]))
    with pytest.raises(ValueError, match="floating"):
        F.rms(torch.ones(3, dtype=torch.int16))
    with pytest.raises(ValueError, match="must match signal shape"):
        F.mix_at_snr(x, torch.randn(2, 99), 0.0)


def test_padded_power_sums_each_rows_valid_samples_like_the_row_alone():
    """The CPU shortcut for prefix masks (valid samples first): each example's power is exactly its unpadded row's,
    and equal (to rounding) to the masked sum over the whole padded batch; multichannel rows count every channel."""
    from audionoise.functional._checks import valid_mask
    from audionoise.functional.snr import _power, power

    g = torch.Generator().manual_seed(3)
    x = torch.randn(4, 3000, generator=g)
    lengths = torch.tensor([3000, 1234, 0, 1])
    fast = power(x, lengths)
    for i, n in enumerate(lengths.tolist()):
        alone = power(x[i, :n]) if n else torch.tensor(0.0)
        assert torch.equal(fast[i], alone)
    untagged = valid_mask(lengths, 3000, x.device).clone()  # a plain bool mask: the masked tensor sum
    assert torch.allclose(_power(x, untagged), fast, rtol=1e-6, atol=0)
    stereo = torch.randn(2, 2, 500, generator=g)
    expected = torch.stack([stereo[0, :, :300].square().mean(), stereo[1, :, :500].square().mean()])
    assert torch.allclose(power(stereo, torch.tensor([300, 500])), expected, rtol=1e-6)
