"""Normalize (exact peak / RMS over valid samples) and the clipping policy."""

import pytest
import torch

import audionoise as an
from audionoise import functional as F


def batch():
    x = torch.randn(4, 2, 3000, generator=torch.Generator().manual_seed(0)) * torch.tensor([0.01, 0.5, 3.0, 1.0])[
        :, None, None]
    x[3] = 0.0  # silent example
    lengths = torch.tensor([3000, 1200, 2500, 3000])
    x[1, :, 1200:] = 7.0  # a loud padding must be neither measured nor written
    return x, lengths


@pytest.mark.parametrize("target", [-1.0, -20.0, 0.0])
def test_peak_normalization_is_exact_over_valid_samples(target):
    x, lengths = batch()
    y, records = an.Compose([an.Normalize(peak_db=target)])(x, lengths, return_params=True)
    for b in range(3):
        n = int(lengths[b])
        assert 20 * torch.log10(y[b, :, :n].abs().max()).item() == pytest.approx(target, abs=0.01)
        assert torch.equal(y[b, :, n:], x[b, :, n:])
        assert records[b][0]["normalized"] is True
        gain = records[b][0]["gain_db"]
        assert gain == pytest.approx(target - 20 * torch.log10(x[b, :, :n].abs().max()).item(), abs=1e-3)
    assert torch.equal(y[3], x[3]) and records[3][0]["normalized"] is False and records[3][0]["gain_db"] == 0.0


def test_rms_normalization_is_exact():
    x, lengths = batch()
    y = an.Normalize(rms_db=-23.0)(x, lengths)
    rms = 20 * torch.log10(F.rms(y, lengths)[:3])
    assert torch.allclose(rms, torch.full((3,), -23.0), atol=0.01)


def test_normalize_p_and_errors():
    x, lengths = batch()
    t = an.Normalize(peak_db=-3.0, p=0.5)
    params = t.sample(x, lengths, torch.Generator().manual_seed(2))
    y = t.apply_params(x, params, lengths)
    for b in range(4):
        if not bool(params.applied[b]):
            assert torch.equal(y[b], x[b])
    with pytest.raises(ValueError, match="exactly one of peak_db and rms_db"):
        an.Normalize()
    with pytest.raises(ValueError, match="exactly one of peak_db and rms_db"):
        an.Normalize(peak_db=-1, rms_db=-20)


def test_handle_clipping_policies():
    x = torch.tensor([[2.0, -0.5, 0.1], [0.5, -0.9, 0.0], [-4.0, 1.0, 0.0]])
    y, over = F.handle_clipping(x, "clip")
    assert torch.equal(y, x.clamp(-1, 1)) and over.tolist() == [True, False, True]
    y, over = F.handle_clipping(x, "normalize")
    assert torch.allclose(y[0], x[0] / 2) and torch.allclose(y[2], x[2] / 4) and torch.equal(y[1], x[1])
    assert float(y.abs().max()) == 1.0
    lengths = torch.tensor([3, 3, 1])
    y, over = F.handle_clipping(x, "normalize", lengths)  # the peak is taken over valid samples only
    assert torch.allclose(y[2], x[2] / 4)
    assert torch.equal(F.handle_clipping(x[1:2], "error")[0], x[1:2])
    with pytest.raises(ValueError, match=r"2 example\(s\) exceed full scale \(peak 4.000 = \+12.04 dBFS\)"):
        F.handle_clipping(x, "error")
    with pytest.raises(ValueError, match="clipping policy must be one of"):
        F.handle_clipping(x, "wrap")
