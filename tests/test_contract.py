"""The injector contract of issue 9: forward/sample/apply_params, torch-module behaviour, autograd, low precision,
shapes and reprs."""

import numpy as np
import pytest
import torch
from torch import nn

import audionoise as an
from audionoise import functional as F
from audionoise import io as aio

SR = 16000


def seeded(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def bank():
    g = seeded(99)
    return an.NoiseBank.from_tensors([torch.randn(5000, generator=g), torch.randn(1200, generator=g)],
                                     sample_rate=SR)


def wave_injectors(bank):
    return [an.WhiteNoise(-5, 30, p=0.7), an.ColoredNoise(0, 20, -2, 2, p=0.7),
            an.BackgroundNoise(bank, -5, 20, sample_rate=SR, p=0.7),
            an.TimeMask(0.05, num_masks=2, sample_rate=SR, p=0.7), an.TimeMask(0.05, sample_rate=SR, fade_s=0.002),
            an.Gain(-12, 6, p=0.7), an.TimeShift(0.05, sample_rate=SR, p=0.7),
            an.TimeShift(0.05, sample_rate=SR, mode="pad", p=0.7),
            an.ShortNoises(bank, -5, 20, sample_rate=SR, min_duration_s=0.01, max_duration_s=0.05, p=0.7)]


def spec_injectors():
    return [an.SpecTimeMask(5, 2, p=0.7), an.SpecFreqMask(4, 2, p=0.7), an.SpecWarp(0.1, 0.15, p=0.7)]


def test_nothing_shadows_module_apply(bank):
    for t in wave_injectors(bank) + spec_injectors():
        assert type(t).apply is nn.Module.apply
    model = nn.Sequential(nn.Linear(4, 4), an.Compose(wave_injectors(bank)), an.Compose(spec_injectors()))
    seen = []
    model.apply(lambda m: seen.append(type(m).__name__))  # raised TypeError before
    assert {"Linear", "WhiteNoise", "BackgroundNoise", "NoiseBank", "SpecWarp", "Compose"} <= set(seen)
    model.apply(lambda m: nn.init.zeros_(m.weight) if isinstance(m, nn.Linear) else None)
    assert float(model[0].weight.detach().abs().sum()) == 0.0


@pytest.mark.parametrize("batch", [1, 2, 4, 5, 9])
@pytest.mark.parametrize("with_lengths", [False, True])
def test_forward_replays_sample_then_apply_params(bank, batch, with_lengths):
    """forward == apply_params(sample(...)) bit for bit, including TimeMask's scalar path (batch * masks <= 8)."""
    x = torch.randn(batch, 3000, generator=seeded(1))
    lengths = torch.randint(1, 3001, (batch,), generator=seeded(2)) if with_lengths else None
    for t in wave_injectors(bank):
        y = t(x, lengths, seeded(3))
        again = t.apply_params(x, t.sample(x, lengths, seeded(3)), lengths)
        assert torch.equal(y, again), type(t).__name__
    s = torch.randn(batch, 20, 30, generator=seeded(4))
    frames = torch.randint(1, 31, (batch,), generator=seeded(5)) if with_lengths else None
    for t in spec_injectors():
        assert torch.equal(t(s, frames, seeded(6)), t.apply_params(s, t.sample(s, frames, seeded(6)), frames))


def test_time_mask_scalar_path_equals_tensor_path():
    t = an.TimeMask(0.1, num_masks=2, sample_rate=SR)
    x = torch.randn(3, 4000, generator=seeded(7))
    lengths = torch.tensor([4000, 1000, 3])
    scalar = t._fast_forward(x, lengths, seeded(8))
    tensor = t._apply_params(x, t._sample(x, lengths, seeded(8)), lengths, True)[0]
    assert torch.equal(scalar, tensor) and not torch.equal(scalar, x)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(3000,), (3, 3000), (2, 2, 3000)])
def test_white_noise_fast_path_equals_tensor_path(dtype, shape):
    """The per-item shortcut of WhiteNoise (no Params tensors) is taken and gives the general path's bits."""
    t = an.WhiteNoise(-5, 30, p=0.6)
    x = torch.randn(shape, generator=seeded(11), dtype=dtype)
    xb = x if x.dim() > 1 else x[None]
    fast = t._fast_forward(xb.clone(), None, seeded(12))
    assert fast is not None and fast.dtype == dtype
    tensor = t._apply_params(xb, t._sample(xb, None, seeded(12)), None, True)[0]
    assert torch.equal(fast, tensor) and torch.equal(t(x, generator=seeded(12)), tensor.reshape(shape))
    assert t._fast_forward(xb, torch.full((xb.shape[0],), 100), seeded(12)) is None  # lengths: general path
    assert an.ColoredNoise(0, 10, 1, 1)._fast_forward(xb, None, seeded(12)) is None  # shaped noise: general path


@pytest.mark.parametrize("weight", ["clip", "duration"])
@pytest.mark.parametrize("shape", [(1, 3000), (1, 2, 3000), (1, 1, 3000)])
def test_background_noise_fast_path_equals_tensor_path(tmp_path, weight, shape):
    """The per-item shortcut of BackgroundNoise (no Params tensors) is taken and gives the general path's bits, for
    clips longer and shorter than the example (looped windows) and any channel count."""
    import soundfile as sf

    rng = np.random.default_rng(0)
    for i, n in enumerate((700, 2500, 9000)):  # one clip shorter than the example
        sf.write(tmp_path / f"n{i}.wav", (0.1 * rng.standard_normal(n)).astype(np.float32), SR)
    t = an.BackgroundNoise(tmp_path, -5.0, 25.0, sample_rate=SR, p=0.8, weight=weight)
    x = torch.randn(shape, generator=seeded(13))
    taken = 0
    for seed in range(40):
        fast = t._fast_forward(x, None, seeded(seed))
        assert fast is not None
        tensor = t._apply_params(x, t._sample(x, None, seeded(seed)), None, True)[0]
        assert torch.equal(fast, tensor), seed
        taken += not torch.equal(fast, x)
    assert 20 < taken < 40  # p = 0.8: most examples got noise, some did not
    assert t._fast_forward(x, torch.tensor([3000]), seeded(0)) is None  # lengths: general path
    assert t._fast_forward(torch.randn(2, 3000), None, seeded(0)) is None  # a batch: general path


def test_pipeline_matches_its_leaves(bank):
    """A pipeline validates once and runs its children on trusted input: same result as calling them in turn
    with the generator in the same state (Compose p=1 still draws its coin)."""
    leaves = wave_injectors(bank)[:4]
    x = torch.randn(4, 2000, generator=seeded(9))
    g = seeded(10)
    torch.rand(4, 1, generator=g, dtype=torch.float64)  # the Compose coin
    expected = x
    for t in leaves:
        expected = t(expected, None, g)
    assert torch.equal(an.Compose(leaves)(x, generator=seeded(10)), expected)


class _NoHooks(an.Injector):
    pass


def test_a_subclass_without_hooks_raises_instead_of_recursing():
    t = _NoHooks()
    for call in (lambda: t(torch.zeros(10)), lambda: t.sample(torch.zeros(10)),
                 lambda: t.apply_params(torch.zeros(10), None)):
        with pytest.raises(NotImplementedError, match="_NoHooks must implement"):
            call()


def test_repr_never_raises_and_in_memory_banks_are_named_when_saving(bank, tmp_path):
    t = an.BackgroundNoise(bank, 0, 10, sample_rate=SR)
    assert "BackgroundNoise(" in repr(t) and "NoiseBank" in repr(an.Compose([t]))
    with pytest.raises(ValueError, match="in-memory NoiseBank"):
        an.save_pipeline(an.Compose([t]), tmp_path / "p.toml")


# -- autograd -------------------------------------------------------------------------------------------------------
def test_gradcheck_mixing_path_float64():
    noise = torch.randn(2, 64, dtype=torch.float64, generator=seeded(11))
    x = torch.randn(2, 64, dtype=torch.float64, generator=seeded(12), requires_grad=True)
    lengths = torch.tensor([64, 40])
    # the functional mix differentiates through the gain (a function of the signal's power)
    assert torch.autograd.gradcheck(lambda s: F.mix_at_snr(s, noise, torch.tensor([5.0, -3.0]), lengths), (x,))
    # the injectors add the scaled noise as a constant (detached gain): dy/dx is the identity
    for t in (an.WhiteNoise(0, 10), an.ColoredNoise(0, 10, 1, 1), an.BackgroundNoise(
            an.NoiseBank.from_tensors([torch.randn(300, generator=seeded(13))], sample_rate=SR), 0, 10,
            sample_rate=SR)):
        w = torch.randn(2, 64, dtype=torch.float64, generator=seeded(14))
        x.grad = None
        (t(x, lengths, seeded(15)) * w).sum().backward()
        assert torch.equal(x.grad, w), type(t).__name__


def test_gradient_of_masks_shifts_gains_and_warps(bank):
    x = torch.randn(3, 2000, generator=seeded(15))
    for t in wave_injectors(bank) + spec_injectors():
        inp = (torch.randn(3, 20, 30, generator=seeded(16)) if t.spectrogram else x).clone().requires_grad_()
        y = t(inp, generator=seeded(17))
        y.sum().backward()
        assert inp.grad is not None and torch.isfinite(inp.grad).all(), type(t).__name__
        with torch.no_grad():  # the fast in-place paths give the same values
            assert torch.equal(y.detach(), t(inp.detach(), generator=seeded(17))), type(t).__name__
    tm = an.TimeMask(0.05, num_masks=2, sample_rate=SR)
    inp = x.clone().requires_grad_()
    y = tm(inp, generator=seeded(18))
    y.sum().backward()
    assert torch.equal(inp.grad, (y.detach() != 0).float())  # 1 outside the masks, 0 inside (x has no zeros)
    gain = an.Gain(-6, -6)
    inp = x.clone().requires_grad_()
    gain(inp).sum().backward()
    assert torch.allclose(inp.grad, torch.full_like(x, 10 ** (-6 / 20)))


# -- low precision --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_keeps_dtype_and_snr_exact(bank, dtype):
    x = (0.3 * torch.randn(8, 16000, generator=seeded(19))).to(dtype)
    lengths = torch.tensor([16000, 12000, 9000, 16000, 5000, 16000, 16000, 2000])
    for t in (an.WhiteNoise(-5, 20), an.ColoredNoise(-5, 20, -2, 2), an.BackgroundNoise(bank, -5, 20, sample_rate=SR)):
        params = t.sample(x, lengths, seeded(20))
        y = t.apply_params(x, params, lengths)
        assert y.dtype == dtype
        measured = F.snr_db(x.double(), y.double() - x.double(), lengths)
        assert (measured - params.snr_db.double()).abs().max() < 0.01, type(t).__name__


# -- shapes ---------------------------------------------------------------------------------------------------------
def test_a_stereo_file_passed_straight_in_is_an_error_and_x_none_is_one_example(tmp_path, bank):
    g = seeded(21)
    stereo = torch.randn(2, 4000, generator=g) * torch.tensor([[0.5], [0.05]])
    aio.save(tmp_path / "s.wav", stereo, SR, subtype="FLOAT")
    aio.save(tmp_path / "m.wav", stereo[:1], SR, subtype="FLOAT")
    x, _ = aio.load(tmp_path / "s.wav")
    t = an.BackgroundNoise(bank, 10, 10, sample_rate=SR)
    with pytest.raises(ValueError, match=r"x\[None\]"):
        t(x, generator=seeded(22))
    with pytest.raises(ValueError, match=r"x\[None\]"):
        an.Compose([t])(x, generator=seeded(22))
    y = t(x[None], generator=seeded(22))[0]
    added = y - x
    assert torch.allclose(added[0], added[1], atol=1e-6)  # one noise window for both channels of the example
    assert float(F.snr_db(x[None], added[None])) == pytest.approx(10.0, abs=0.01)  # over both channels together
    mono, _ = aio.load(tmp_path / "m.wav")
    assert t(mono, generator=seeded(22)).shape == (1, 4000)  # (1, time): one mono clip, fine either way


def test_offline_then_train_split_never_warps_waveforms():
    from audionoise.kws.augment import default_pipeline_config, split_config

    wave, spec = split_config(default_pipeline_config("data/noise"))
    assert [e["name"] for e in spec["transforms"]] == ["SpecWarp", "SpecTimeMask", "SpecFreqMask"]
    pipe = an.load_pipeline(wave)
    assert not any(m.spectrogram for m in pipe.modules() if isinstance(m, an.Injector))
    impulse = torch.zeros(1, 16000)
    impulse[0, 8000] = 1.0
    shift_free = an.load_pipeline({"transforms": [e for e in wave["transforms"] if e["name"] != "TimeShift"],
                                   "sample_rate": 16000})
    y = shift_free(impulse, generator=seeded(23))
    assert int(y.abs().argmax()) == 8000  # noise is added around it, nothing moves the impulse
    a_wave, a_spec = an.split_stages(an.load_pipeline(default_pipeline_config("data/noise")))
    assert [type(t).__name__ for t in a_spec] == ["SpecWarp", "SpecTimeMask", "SpecFreqMask"]
    assert [type(t).__name__ for t in a_wave] == ["TimeShift", "BackgroundNoise", "ShortNoises", "WhiteNoise"]


def test_a_pipeline_validates_once_for_all_its_children(bank, monkeypatch):
    import audionoise.functional._checks as checks
    import audionoise.transforms.base as base

    calls = {"lengths": 0, "waveform": 0, "finite": 0}

    def counting(name, fn):
        def wrapped(*args, **kwargs):
            calls[name] += 1
            return fn(*args, **kwargs)
        return wrapped

    monkeypatch.setattr(base, "check_lengths", counting("lengths", base.check_lengths))
    monkeypatch.setattr(base, "check_waveform", counting("waveform", base.check_waveform))
    monkeypatch.setattr(checks, "check_finite", counting("finite", checks.check_finite))
    pipe = an.Compose(wave_injectors(bank))
    x = torch.randn(4, 3000, generator=seeded(30))
    pipe(x, torch.tensor([3000, 2000, 1000, 10]), seeded(31))
    assert calls == {"lengths": 1, "waveform": 0, "finite": 0}  # one lengths check; dtype/shape read once inline



def test_a_generator_passed_as_lengths_is_one_line_naming_generator(bank):
    """`t(x, g)` (the generator as second positional argument) used to fail inside torch ("Could not infer dtype
    of torch._C.Generator"): every entry (injectors, pipelines, sample, plans) says what to write instead."""
    from audionoise.cli._common import is_user_error

    x = torch.randn(2, 4000, generator=seeded(3))
    spec = torch.rand(2, 40, 30, generator=seeded(4))
    calls = [(t, x) for t in wave_injectors(bank)] + [(t, spec) for t in spec_injectors()]
    calls += [(an.Compose([an.WhiteNoise(0, 10)]), x), (an.WhiteNoise(0, 10).sample, x),
              (an.Compose([an.Gain(-6, 6)]).augment, x)]
    for call, data in calls:
        with pytest.raises(ValueError, match=r"second positional argument is lengths, got a torch\.Generator; pass "
                                             r"the generator by keyword, t\(x, generator=g\)") as err:
            call(data, seeded())
        assert "\n" not in str(err.value) and is_user_error(err.value)
