"""NumPy arrays in, NumPy arrays out: an injector or a pipeline called with an array gives exactly what it gives
for ``torch.from_numpy`` of it (same values, parameters, records and generator use), as arrays."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import audionoise as an

SR = 16000


def _x(shape, seed=0, dtype=np.float32):
    return (0.1 * np.random.default_rng(seed).standard_normal(shape)).astype(dtype)


def _same(a, b):
    """``a`` (NumPy result) equals ``b`` (tensor result), element by element and in type."""
    if isinstance(b, tuple):
        assert isinstance(a, tuple) and len(a) == len(b)
        for u, v in zip(a, b):
            _same(u, v)
    elif isinstance(b, torch.Tensor):
        assert isinstance(a, np.ndarray) and a.dtype == b.numpy().dtype and np.array_equal(a, b.numpy())
    else:
        assert a == b


@pytest.fixture(scope="module")
def noise_dir(tmp_path_factory):
    import soundfile as sf

    d = tmp_path_factory.mktemp("noise")
    for i, n in enumerate([9000, 30000]):
        sf.write(d / f"n{i}.wav", _x(n, seed=10 + i), SR)
    return d


@pytest.mark.parametrize("shape", [(SR,), (3, SR), (2, 2, SR)])
def test_injectors_give_the_tensor_result_as_arrays(shape, noise_dir):
    x = _x(shape)
    before = x.copy()
    injectors = [an.WhiteNoise(0.0, 20.0), an.Gain(-6.0, 6.0, p=0.5), an.TimeMask(0.1, num_masks=2, sample_rate=SR),
                 an.TimeMask(0.05, sample_rate=SR, fade_s=0.01), an.BackgroundNoise(noise_dir, 0.0, 10.0, sample_rate=SR),
                 an.SpeedPerturb([0.9, 1.1], sample_rate=SR)]
    for t in injectors:
        for seed in range(5):
            ga, gb = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)
            _same(t(x, generator=ga), t(torch.from_numpy(x.copy()), generator=gb))
            assert torch.equal(ga.get_state(), gb.get_state()), type(t).__name__
    assert np.array_equal(x, before)  # the input is never modified


def test_time_mask_numpy_shortcut_is_the_tensor_path_bit_for_bit():
    t = an.TimeMask(0.2, num_masks=3, sample_rate=SR, p=0.7)
    for shape in [(SR,), (2, SR), (1, 2, SR)]:
        for dtype in (np.float32, np.float64):
            x = _x(shape, dtype=dtype)
            for seed in range(20):
                ga, gb = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)
                y = t._fast_numpy(x, None, ga)
                assert y is not None and y.dtype == x.dtype
                ref = t.apply_params(torch.from_numpy(x), t.sample(torch.from_numpy(x), None, gb))
                assert np.array_equal(y, ref.numpy()) and torch.equal(ga.get_state(), gb.get_state())


def test_pipelines_take_arrays_with_lengths_and_records():
    pipe = an.Compose([an.WhiteNoise(5.0, 5.0), an.TimeMask(0.1, sample_rate=SR)])
    x, lengths = _x((2, SR)), np.array([SR, SR // 2])
    y, rec = pipe(x, lengths=lengths, generator=torch.Generator().manual_seed(3), return_params=True)
    y_t, rec_t = pipe(torch.from_numpy(x), lengths=torch.from_numpy(lengths),
                      generator=torch.Generator().manual_seed(3), return_params=True)
    assert isinstance(y, np.ndarray) and np.array_equal(y, y_t.numpy()) and rec == rec_t
    assert np.array_equal(y[1, SR // 2:], x[1, SR // 2:])  # the padding is untouched
    speed = an.Compose([an.SpeedPerturb([1.1], sample_rate=SR)])
    y, new = speed(x, generator=torch.Generator().manual_seed(0))
    assert isinstance(new, np.ndarray) and new.tolist() == [-(-SR * 10 // 11)] * 2  # ceil(n / 1.1)


def test_read_only_and_strided_arrays_work_and_int_audio_is_refused():
    x = _x(SR)
    ro = x.copy()
    ro.flags.writeable = False
    assert np.array_equal(an.Gain(-6.0, -6.0)(ro), x * np.float32(10 ** (-6 / 20)))
    assert np.array_equal(an.Gain(0.0, 0.0)(x[::-1]), x[::-1])
    with pytest.raises(ValueError, match="Gain: a NumPy input must be float32 or float64.*int16"):
        an.Gain(0.0, 0.0)(np.zeros(100, np.int16))
