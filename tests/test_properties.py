"""Property-based tests: any shape, dtype, lengths and parameter range -> no crash but documented errors, no NaN."""

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import audionoise as an
from audionoise import functional as F

SR = 8000
settings.register_profile("audionoise", max_examples=40, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("audionoise")

BANK = an.NoiseBank.from_tensors([torch.randn(50, generator=torch.Generator().manual_seed(0)),
                                  torch.randn(3000, generator=torch.Generator().manual_seed(1))], SR)


@st.composite
def batches(draw, spectrogram=False):
    batch = draw(st.integers(1, 4))
    time = draw(st.integers(1, 600))
    channels = draw(st.sampled_from([None, 1, 2, 3])) if not spectrogram else draw(st.integers(1, 12))
    dtype = draw(st.sampled_from([torch.float32, torch.float64]))
    shape = (batch, time) if channels is None else (batch, channels, time)
    scale = draw(st.sampled_from([0.0, 1e-6, 1.0, 1e3]))
    seed = draw(st.integers(0, 2**31 - 1))
    x = torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=dtype) * scale
    if draw(st.booleans()):  # some silent examples
        x[0] = 0
    lengths = None
    if draw(st.booleans()):
        lengths = torch.tensor(draw(st.lists(st.integers(0, time), min_size=batch, max_size=batch)))
    return x, lengths, seed


def snr_ranges():
    return st.tuples(st.floats(-30, 60), st.floats(-30, 60)).map(sorted)


@st.composite
def injectors(draw):
    lo, hi = draw(snr_ranges())
    p = draw(st.floats(0, 1))
    kind = draw(st.sampled_from(["white", "colored", "background", "timemask", "gain", "shift"]))
    if kind == "white":
        return an.WhiteNoise(lo, hi, p=p, snr_reference=draw(st.sampled_from(["full", "active"])))
    if kind == "colored":
        e = sorted(draw(st.tuples(st.floats(-2, 2), st.floats(-2, 2))))
        return an.ColoredNoise(lo, hi, e[0], e[1], p=p)
    if kind == "background":
        return an.BackgroundNoise(BANK, lo, hi, sample_rate=SR, p=p,
                                  snr_reference=draw(st.sampled_from(["full", "active"])))
    if kind == "timemask":
        return an.TimeMask(draw(st.floats(0, 0.2)), draw(st.integers(1, 4)), sample_rate=SR, p=p,
                           fade_s=draw(st.sampled_from([0.0, 0.001])))
    if kind == "gain":
        return an.Gain(lo / 3, hi / 3, p=p)
    return an.TimeShift(draw(st.floats(0, 0.1)), sample_rate=SR, mode=draw(st.sampled_from(["roll", "pad"])), p=p)


@given(batches(), injectors())
def test_waveform_injectors_never_crash_or_emit_nan(data, t):
    x, lengths, seed = data
    y, rec = an.Compose([t])(x, lengths, torch.Generator().manual_seed(seed), return_params=True)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert torch.isfinite(y).all()
    assert len(rec) == x.shape[0]
    if lengths is not None and not isinstance(t, an.Gain):
        for b, n in enumerate(lengths.tolist()):
            assert torch.equal(y[b, ..., n:], x[b, ..., n:])


@given(batches(spectrogram=True), st.integers(0, 30), st.integers(1, 3), st.floats(0, 1))
def test_spec_masks_never_crash(data, width, masks, p):
    x, lengths, seed = data
    if x.dim() == 2:
        x = x[:, None]
    y = an.Compose([an.SpecFreqMask(width, masks, p), an.SpecTimeMask(width, masks, p, fill=-1.0)])(
        x, lengths, torch.Generator().manual_seed(seed))
    assert y.shape == x.shape and torch.isfinite(y).all()


@given(batches(), st.floats(-20, 50))
def test_mix_at_snr_exact_or_silent(data, target):
    x, lengths, seed = data
    n = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed + 1), dtype=x.dtype)
    y = F.mix_at_snr(x, n, target, lengths)
    assert torch.isfinite(y).all()
    ps = F.power(x, lengths)
    measured = F.snr_db(x, y - x, lengths)
    loud = ps > 0
    valid = (lengths if lengths is not None else torch.full((x.shape[0],), x.shape[-1])) > 0
    assert torch.allclose(measured[loud & valid].double(), torch.full_like(measured[loud & valid], target).double(),
                          atol=0.02)
    assert torch.equal(y[~loud], x[~loud])  # silent examples get no noise


@given(st.sampled_from([float("nan"), float("inf"), float("-inf")]), st.integers(0, 99), batches())
def test_non_finite_inputs_raise_value_error(bad, where, data):
    x = data[0].clone()
    x.view(-1)[where % x.numel()] = bad
    with pytest.raises(ValueError, match="non-finite"):
        an.WhiteNoise(0, 10)(x, generator=torch.Generator())
