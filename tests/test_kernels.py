"""The torch-free kernels: one definition of each draw for floats, NumPy arrays and tensors, and torch's CPU stream
reproduced in NumPy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audionoise.kernels.draws import coin, integer, mask_intervals, pick_clip, uniform
from audionoise.kernels.stream import TorchStream, normal_words


def _u(n=500, seed=0):
    u = np.random.default_rng(seed).random(n)
    u[:4] = [0.0, 1.0 - 2 ** -53, 0.5, 0.999999]  # the edges of [0, 1)
    return u


def test_uniform_and_integer_agree_for_floats_arrays_and_tensors():
    u = _u()
    arr = uniform(u, -5.0, 20.0)
    assert arr.dtype == np.float32 and arr.min() >= -5.0 and arr.max() <= 20.0
    assert [uniform(float(v), -5.0, 20.0) for v in u] == arr.tolist()
    assert torch.equal(uniform(torch.from_numpy(u), -5.0, 20.0), torch.from_numpy(arr))
    ints = integer(u, 9)
    assert ints.min() == 0 and ints.max() == 9 and set(ints.tolist()) == set(range(10))  # inclusive, no 10
    assert [integer(float(v), 9) for v in u] == ints.tolist()
    assert torch.equal(integer(torch.from_numpy(u), 9), torch.from_numpy(ints))
    assert coin(0.3, 0.3) is False and coin(0.29, 0.3) is True and not coin(0.0, 0.0)


@pytest.mark.parametrize("weight", ["clip", "duration"])
def test_pick_clip_agrees_and_weights_by_duration(weight):
    sizes = np.array([100, 1, 5000, 37], np.int64)
    ends = np.cumsum(sizes)
    uc, uo = _u(4000, 1), _u(4000, 2)
    clip, off = pick_clip(uc, uo, sizes, ends, weight)
    assert (off >= 0).all() and (off < sizes[clip]).all()
    assert [pick_clip(float(a), float(b), sizes, ends, weight) for a, b in zip(uc, uo)] == list(
        zip(clip.tolist(), off.tolist()))
    tc, to = pick_clip(torch.from_numpy(uc), torch.from_numpy(uo), sizes, ends, weight)
    assert tc.tolist() == clip.tolist() and to.tolist() == off.tolist()
    share = np.bincount(clip, minlength=4) / clip.size
    expect = sizes / sizes.sum() if weight == "duration" else np.full(4, 0.25)
    assert np.abs(share - expect).max() < 0.03


def test_mask_intervals_stay_inside_and_agree():
    uw, us = _u(300, 3).reshape(100, 3), _u(300, 4).reshape(100, 3)
    size = np.array([[50], [1], [3000]] * 33 + [[7]])
    starts, widths = mask_intervals(uw, us, 40, size)
    assert (widths <= np.minimum(size, 40)).all() and (starts >= 0).all() and (starts + widths <= size).all()
    one = [mask_intervals(float(a), float(b), 40, int(n)) for a, b, n in zip(uw[:, 0], us[:, 0], size[:, 0])]
    assert one == list(zip(starts[:, 0].tolist(), widths[:, 0].tolist()))
    ts, tw = mask_intervals(torch.from_numpy(uw), torch.from_numpy(us), 40, torch.from_numpy(size))
    assert ts.tolist() == starts.tolist() and tw.tolist() == widths.tolist()


@pytest.mark.parametrize("seed", [0, 7, 2 ** 40 + 3, 2 ** 63 - 5])
def test_torch_stream_uniforms_are_torchs(seed):
    g = torch.Generator().manual_seed(seed)
    s = TorchStream(seed)
    for shape in [(1, 1), (3, 4), (1, 7)]:
        assert np.array_equal(torch.rand(shape, dtype=torch.float64, generator=g).numpy(), s.uniforms(*shape))


@pytest.mark.parametrize("n", [16, 17, 31, 1000, 16001])
def test_torch_stream_normals_consume_like_randn_and_match_to_rounding(n):
    g = torch.Generator().manual_seed(5)
    s = TorchStream(5)
    torch.rand(1, 2, dtype=torch.float64, generator=g), s.uniforms(1, 2)
    a = torch.randn(n, generator=g).numpy()
    b = s.normals((n,))
    assert np.abs(a - b).max() <= 4 * np.spacing(np.abs(a)).max()  # Box-Muller from the same words
    assert np.array_equal(torch.rand(1, 3, dtype=torch.float64, generator=g).numpy(), s.uniforms(1, 3))  # aligned
    assert normal_words(n) == n + (16 if n % 16 else 0)
    with pytest.raises(ValueError, match="at least 16"):
        normal_words(15)
