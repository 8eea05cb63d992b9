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


def test_preferred_fft_size_takes_a_power_of_two_within_an_eighth():
    from audionoise.functional.rir import convolution_size, fast_fft_size, preferred_fft_size

    assert fast_fft_size(31999) == 32000 and preferred_fft_size(31999) == 32768  # 2.4 % longer: power of two
    assert fast_fft_size(47999) == 48000 and preferred_fft_size(47999) == 48000  # 65536 is 37 % longer
    assert preferred_fft_size(1) == 1 and preferred_fft_size(1024) == 1024 and preferred_fft_size(1025) == 1080
    for n in (7, 100, 999, 4097, 31999, 100001):
        m = preferred_fft_size(n)
        assert m >= n and m <= 1.125 * fast_fft_size(n)
    assert convolution_size(16000, 16000) == preferred_fft_size(31999)


@pytest.mark.parametrize("threads", [1, 2])
def test_fft_convolve_in_blocks_equals_one_call_and_direct_convolution(threads):
    # 40 examples x 2 channels = 80 rows: blocks of 16 rows at 1 thread (5 blocks of 8 examples), of 64 rows at 2
    # threads (32 + 8 examples) on CPU; under autograd the same maths in one call
    from audionoise.functional import rir

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        x = torch.randn(40, 2, 900, generator=_g(3))
        h = torch.randn(40, 300, generator=_g(4))
        offset = torch.randint(0, 300, (40,), generator=_g(5))
        n = rir.convolution_size(900, 300)
        assert rir.cpu_block_rows(n) == (16 if threads == 1 else 64) < 80  # the block sizes the docs quote
        assert rir.cpu_block_rows(1 << 20) == 2  # at most 2^21 samples a block
        blocks = fft_convolve(x, h, offset)
        with torch.enable_grad():
            one = fft_convolve(x.clone().requires_grad_(), h, offset).detach()
    finally:
        torch.set_num_threads(before)
    assert blocks.shape == x.shape and torch.equal(blocks, one)
    direct = np.convolve(x[17, 1].numpy().astype(np.float64), h[17].numpy().astype(np.float64))
    o = int(offset[17])
    assert np.allclose(blocks[17, 1].numpy(), direct[o:o + 900], atol=1e-4)
    # a gain per example is applied block by block the same as on the whole result
    gain = lambda i, j, y: torch.arange(i, j, dtype=torch.float32) + 1.0  # noqa: E731
    scaled = rir._fft_convolve(x, h, offset, gain=gain)
    assert torch.equal(scaled, one * (torch.arange(40.0) + 1.0)[:, None, None])


def test_fft_convolve_n_fft_is_used_and_checked():
    x, h = torch.randn(2, 700, generator=_g(6)), torch.randn(129, generator=_g(7))
    direct = np.stack([np.convolve(r, h.numpy())[:700] for r in x.numpy()])
    assert np.allclose(fft_convolve(x, h, n_fft=900).numpy(), direct, atol=1e-4)
    with pytest.raises(ValueError, match="n_fft=800 is shorter than the full convolution"):
        fft_convolve(x, h, n_fft=800)
