"""Coloured-noise spectra and the mask functions."""

import math

import numpy as np
import pytest
import torch
from scipy.signal import welch

from audionoise import functional as F

SR = 16000


def measured_slope_db_per_octave(x: np.ndarray) -> float:
    """Least-squares slope of the Welch PSD (dB) against log2(frequency) between 100 Hz and 7 kHz."""
    f, psd = welch(x, fs=SR, nperseg=4096, axis=-1)
    psd = psd.mean(axis=0)
    band = (f >= 100) & (f <= 7000)
    return float(np.polyfit(np.log2(f[band]), 10 * np.log10(psd[band]), 1)[0])


@pytest.mark.parametrize("colour,exponent", [("white", 0), ("pink", 1), ("brown", 2), ("blue", -1), ("violet", -2)])
def test_spectral_slope_matches_theory(colour, exponent):
    g = torch.Generator().manual_seed(7)
    x = F.colored_noise((8, 4 * SR), colour, generator=g).numpy()
    slope = measured_slope_db_per_octave(x)
    assert slope == pytest.approx(-10 * math.log10(2) * exponent, abs=0.5)


def test_per_row_exponents_and_unit_power():
    g = torch.Generator().manual_seed(0)
    x = F.colored_noise((2, 4 * SR), torch.tensor([[0.0], [2.0]]).squeeze(1), generator=g)
    assert torch.allclose(x.square().mean(-1), torch.ones(2), atol=1e-4)
    assert measured_slope_db_per_octave(x[:1].numpy()) == pytest.approx(0.0, abs=0.5)
    assert measured_slope_db_per_octave(x[1:].numpy()) == pytest.approx(-6.02, abs=0.5)


@pytest.mark.parametrize("colour", ["white", "pink", "brown"])
def test_no_periodic_repetition(colour):
    g = torch.Generator().manual_seed(3)
    # first differences: whitens the low-frequency drift of brown noise, while a signal that tiles a 1-s
    # buffer still has differences that repeat exactly (correlation 1.0)
    x = F.colored_noise((16, 3 * SR), colour, generator=g).diff(dim=-1)
    a, b = x[:, :-SR], x[:, SR:]
    a, b = a - a.mean(-1, keepdim=True), b - b.mean(-1, keepdim=True)
    corr = (a * b).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1))
    assert float(corr.abs().max()) < 0.1


def test_colored_noise_deterministic_and_validated():
    a = F.colored_noise((2, 1000), "pink", generator=torch.Generator().manual_seed(5))
    b = F.colored_noise((2, 1000), 1.0, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="unknown noise colour"):
        F.colored_noise((1, 10), "purple")
    assert F.colored_noise((1, 1), "pink", generator=torch.Generator()).shape == (1, 1)


def test_time_mask_closed_form_and_multichannel():
    x = torch.ones(2, 3, 10)
    y = F.time_mask(x, torch.tensor([[1, 6], [0, 0]]), torch.tensor([[2, 3], [0, 10]]))
    expected0 = torch.tensor([1, 0, 0, 1, 1, 1, 0, 0, 0, 1.0])
    assert torch.equal(y[0], expected0.expand(3, 10)) and torch.equal(y[1], torch.zeros(3, 10))
    assert torch.equal(x, torch.ones(2, 3, 10))  # input untouched


def test_time_mask_fade_ramps_and_dense_path_agrees():
    x = torch.ones(1, 12)
    y = F.time_mask(x, torch.tensor([2]), torch.tensor([8]), fade=3)
    assert torch.allclose(y[0], torch.tensor([1, 1, 2 / 3, 1 / 3, 0, 0, 0, 0, 1 / 3, 2 / 3, 1, 1]))
    hard_fade = F.time_mask(x, torch.tensor([2]), torch.tensor([8]), fade=1)
    assert torch.equal(hard_fade, F.time_mask(x, torch.tensor([2]), torch.tensor([8])))


def test_spec_masks_closed_form():
    s = torch.ones(2, 4, 5)
    t = F.spec_time_mask(s, torch.tensor([1, 0]), torch.tensor([2, 0]), fill=-1.0)
    assert torch.equal(t[0, :, 1:3], -torch.ones(4, 2)) and (t[0, :, [0, 3, 4]] == 1).all() and (t[1] == 1).all()
    f = F.freq_mask(s, torch.tensor([[0, 3]]).expand(2, 2), torch.tensor([[1, 1]]).expand(2, 2))
    assert (f[:, [0, 3]] == 0).all() and (f[:, 1:3] == 1).all()
    with pytest.raises(ValueError, match="starts"):
        F.freq_mask(s, torch.tensor([0, 1, 2]), torch.tensor([1, 1, 1]))


def test_time_mask_is_clipped_to_lengths():
    x = torch.ones(2, 10)
    y = F.time_mask(x, torch.tensor([4, 0]), torch.tensor([6, 3]), lengths=torch.tensor([7, 10]))
    assert y[0].tolist() == [1, 1, 1, 1, 0, 0, 0, 1, 1, 1]  # samples 7..9 are padding: untouched
    assert y[1].tolist() == [0, 0, 0, 1, 1, 1, 1, 1, 1, 1]
