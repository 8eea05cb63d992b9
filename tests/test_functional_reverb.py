"""Room impulse response and FFT convolution of the functional core."""

import numpy as np
import pytest
import torch

from audionoise.functional import fft_convolve, room_impulse

SR = 16000


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


def test_room_impulse_closed_form():
    h = room_impulse(SR, 0.3, 0.2, _g(0))
    assert h.shape == (int(0.3 * SR),) and h.dtype == torch.float32 and float(h[0]) == 1.0
    assert float(h[1:].pow(2).sum()) == pytest.approx(0.2, rel=1e-5)
    # amplitude envelope exp(-ln(1000) n / (rt60 sr)): energy in the last tenth vs the first is ~1e-5.4 or less
    n = h.numel() // 10
    assert float(h[-n:].pow(2).sum() / h[1 : n + 1].pow(2).sum()) < 1e-4
    assert torch.equal(h, room_impulse(SR, 0.3, 0.2, _g(0))) and not torch.equal(h, room_impulse(SR, 0.3, 0.2, _g(1)))
    assert torch.equal(room_impulse(SR, 0.3, 0.0, _g(0))[1:], torch.zeros(h.numel() - 1))  # wet 0: dry


def test_room_impulse_rejects_bad_parameters():
    with pytest.raises(ValueError, match="rt60_s"):
        room_impulse(SR, 0.0, 0.2)
    with pytest.raises(ValueError, match="wet"):
        room_impulse(SR, 0.3, -1.0)


def test_fft_convolve_equals_direct_convolution_cut_to_input_length():
    x, h = torch.randn(2, 700, generator=_g(0)), torch.randn(129, generator=_g(1))
    y = fft_convolve(x, h)
    direct = np.stack([np.convolve(r, h.numpy())[:700] for r in x.numpy()])
    assert y.shape == x.shape and np.allclose(y.numpy(), direct, atol=1e-4)


def test_fft_convolve_unit_impulse_is_identity_and_delay_shifts():
    x = torch.randn(3, 500, generator=_g(2))
    torch.testing.assert_close(fft_convolve(x, torch.tensor([1.0])), x, rtol=0, atol=1e-5)
    delayed = fft_convolve(x, torch.tensor([0.0, 0.0, 0.0, 1.0]))
    torch.testing.assert_close(delayed[:, 3:], x[:, :-3], rtol=0, atol=1e-5)
    assert delayed[:, :3].abs().max() < 1e-5
