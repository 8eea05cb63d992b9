"""Pipelines thread the lengths of length-changing transforms (SpeedPerturb, TimeStretch) to what follows."""

import math

import pytest
import torch

import audionoise as an
from audionoise import functional as F
from speech_like import speech_like

SR = 16000


def batch(n=6, t=8000):
    x = speech_like(n, t, torch.Generator().manual_seed(0))
    lengths = torch.tensor([t, t - 1000, 4000, t, 3000, t][:n])
    return x, lengths


def test_compose_returns_new_lengths_and_later_noise_respects_them():
    x, lengths = batch()
    pipe = an.Compose([an.SpeedPerturb((0.8, 1.25), sample_rate=SR), an.WhiteNoise(10.0, 10.0)])
    y, n, records = pipe(x, lengths, torch.Generator().manual_seed(1), return_params=True)
    factors = torch.tensor([r[0]["factor"] for r in records])
    expect = torch.tensor([math.ceil(int(m) * SR / round(f * SR)) for m, f in zip(lengths, factors.tolist())])
    assert torch.equal(n, expect) and y.shape[-1] == int(n.max())
    assert [r[0]["length"] for r in records] == n.tolist()
    for b, m in enumerate(n.tolist()):
        assert torch.all(y[b, m:] == 0)  # no noise in the new padding
    # the noise is exact over the new valid samples
    speed = pipe.transforms[0]
    clean, _ = speed.apply_params(x, speed.sample(x, lengths, _skip_coin(1)), lengths)
    assert torch.allclose(F.snr_db(clean, y - clean, n), torch.full((6,), 10.0), atol=0.01)
    y2, n2 = pipe(x, lengths, torch.Generator().manual_seed(1))
    assert torch.equal(y2, y) and torch.equal(n2, n)


def _skip_coin(seed):
    """A generator in the state Compose leaves it after drawing its own coin (one column per example)."""
    g = torch.Generator().manual_seed(seed)
    torch.rand(6, 1, generator=g, dtype=torch.float64)
    return g


@pytest.mark.parametrize("container", ["OneOf", "RandomApply"])
def test_mixed_branches_give_per_example_lengths_padded_to_the_longest(container):
    x, lengths = batch()
    speed = an.SpeedPerturb((0.5,), sample_rate=SR)  # twice as long
    if container == "OneOf":
        inner = an.OneOf([speed, an.Gain(-6.0, -6.0)])
    else:
        inner = an.RandomApply(speed, p=0.5)
    pipe = an.Compose([inner, an.Gain(6.0, 6.0)])
    y, n, records = pipe(x, lengths, torch.Generator().manual_seed(4), return_params=True)
    slowed = torch.tensor([r[0]["applied"] for r in records])
    assert 0 < int(slowed.sum()) < 6  # both kinds of example in the batch
    assert torch.equal(n, torch.where(slowed, 2 * lengths, lengths))
    assert y.shape[-1] == int(n.max())
    for b in range(6):
        m = int(n[b])
        assert torch.all(y[b, m:] == 0)
        if not slowed[b]:
            g = 1.0 if container == "OneOf" else 10 ** (6 / 20)
            if container == "OneOf":  # the Gain branch then the outer gain: -6 + 6 dB
                assert torch.allclose(y[b, :m], x[b, :m], atol=1e-6)
            else:
                assert torch.allclose(y[b, :m], g * x[b, :m], atol=1e-6)


def test_pipeline_without_length_changes_returns_a_tensor_and_lengths_pipeline_from_config(tmp_path):
    x, lengths = batch()
    plain = an.Compose([an.Gain(-3, 3)])
    assert isinstance(plain(x, lengths, torch.Generator().manual_seed(0)), torch.Tensor)
    cfg = {"sample_rate": SR, "transforms": [
        {"name": "OneOf", "transforms": [{"name": "SpeedPerturb", "factors": [0.9, 1.1]},
                                         {"name": "TimeStretch", "min_rate": 0.8, "max_rate": 1.2}]},
        {"name": "Reverb", "max_rt60": 0.4}, {"name": "Telephone"}]}
    pipe = an.load_pipeline(cfg)
    y, n = pipe(x, lengths, torch.Generator().manual_seed(2))
    assert y.shape == (6, int(n.max())) and not torch.equal(n, lengths)
    an.save_pipeline(pipe, tmp_path / "p.toml")
    y2, n2 = an.load_pipeline(tmp_path / "p.toml")(x, lengths, torch.Generator().manual_seed(2))
    assert torch.equal(y, y2) and torch.equal(n, n2)


def test_one_example_through_a_length_pipeline():
    x = speech_like(1, 8000, torch.Generator().manual_seed(0))[0]
    pipe = an.Compose([an.SpeedPerturb((1.25,), sample_rate=SR)])
    y, n = pipe(x, generator=torch.Generator().manual_seed(0))
    assert y.dim() == 1 and n.dim() == 0 and int(n) == 6400 == y.shape[0]
    y, n, records = pipe(x, generator=torch.Generator().manual_seed(0), return_params=True)
    assert records[0][0]["length"] == 6400
