"""ShortNoises: exact SNR over each burst's span, untouched samples elsewhere, sampling inside the valid samples,
the contract (replay, determinism, autograd, low precision, channels), configs, records and argument errors."""

import contextlib
import dataclasses
import io
import json
import math
import re
from pathlib import Path

import pytest
import torch

import audionoise as an
from audionoise import functional as F

SR = 16000
ROOT = Path(__file__).resolve().parents[1]


def seeded(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.fixture
def bank():
    g = seeded(9)
    clips = [torch.randn(3000, generator=g), F.colored_noise((20000,), "pink", g), 0.01 * torch.randn(700, generator=g)]
    return an.NoiseBank.from_tensors(clips, SR)


def spans(params, b):
    """The ``(slot, start, duration)`` of example ``b``'s applied events."""
    if not bool(params.applied[b]):
        return []
    return [(k, int(params.start[b, k]), int(params.duration[b, k]))
            for k in range(params.event.shape[1]) if bool(params.event[b, k])]


def span_snr(x, y, b, s, d):
    """SNR over ``[s, s + d)`` of example ``b``, all channels, float64."""
    xs, ns = x[b, ..., s:s + d].double(), (y.double() - x.double())[b, ..., s:s + d]
    return 10 * math.log10(float(xs.square().mean()) / float(ns.square().mean()))


def overlaps(events, k):
    _, s, d = next(e for e in events if e[0] == k)
    return any(o != k and s < s2 + d2 and s2 < s + d for o, s2, d2 in events)


def alone(params, b, k):
    """``params`` with only event ``k`` of example ``b`` kept."""
    event = torch.zeros_like(params.event)
    event[b, k] = True
    return dataclasses.replace(params, event=event)


LENGTHS = [12000, 6000, 1600, 900, 1, 0, 11999, 4000]


# -- the level ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(16, 12000), (16, 2, 12000)])
@pytest.mark.parametrize("fade_s", [0.0, 0.005, 0.2])
def test_snr_over_each_span_is_exact(bank, shape, fade_s):
    """Non-overlapping bursts: the SNR over the span is the target (< 0.01 dB; measured ~1e-5). Overlapping ones:
    each burst alone is exact, and the mix is their sum."""
    t = an.ShortNoises(bank, -10, 30, sample_rate=SR, min_duration_s=0.02, max_duration_s=0.15, num_events=(1, 4),
                       fade_s=fade_s)
    x = torch.randn(shape, generator=seeded(1))
    lengths = torch.tensor(LENGTHS * 2)
    params = t.sample(x, lengths, seeded(2))
    y = t.apply_params(x, params, lengths)
    checked = overlapped = 0
    for b in range(16):
        events = spans(params, b)
        for k, s, d in events:
            target = float(params.snr_db[b, k])
            if not overlaps(events, k):
                assert abs(span_snr(x, y, b, s, d) - target) < 0.01
                checked += 1
            else:
                one = t.apply_params(x, alone(params, b, k), lengths)
                assert abs(span_snr(x, one, b, s, d) - target) < 0.01
                overlapped += 1
        if len(events) > 1:  # the mix is the sum of the bursts alone
            total = sum(t.apply_params(x, alone(params, b, k), lengths)[b] - x[b] for k, _, _ in events)
            assert torch.allclose(y[b] - x[b], total, atol=1e-5)
    assert checked > 8 and overlapped > 0


@pytest.mark.parametrize("shape", [(16, 6000), (16, 2, 6000)])
def test_without_overlap_every_burst_keeps_its_snr_in_the_output(bank, shape):
    t = an.ShortNoises(bank, -10, 30, sample_rate=SR, min_duration_s=0.05, max_duration_s=0.3, num_events=(1, 5),
                       overlap=False)
    x = torch.randn(shape, generator=seeded(40))
    lengths = torch.tensor(LENGTHS * 2).clamp(max=6000)
    params = t.sample(x, lengths, seeded(41))
    y = t.apply_params(x, params, lengths)
    n = 0
    for b in range(16):
        events = spans(params, b)
        assert sum(d for _, _, d in events) <= int(lengths[b])
        for k, s, d in events:
            assert not overlaps(events, k) and 0 <= s and s + d <= int(lengths[b])
            assert abs(span_snr(x, y, b, s, d) - float(params.snr_db[b, k])) < 0.01
            n += 1
    assert n > 30
    full = params.event.sum(1) == 5
    assert bool(full.any())  # 5 bursts of >= 800 samples in 6000: shortened in proportion where they do not fit
    one = dict(min_duration_s=0.05, max_duration_s=0.3, num_events=1)  # one burst: the same draws either way
    a, b = (an.ShortNoises(bank, 0, 9, sample_rate=SR, overlap=o, **one).sample(x, lengths, seeded(42))
            for o in (True, False))
    assert all(torch.equal(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))


def test_closed_form_with_a_constant_signal_and_a_constant_noise():
    """x = 1 and w = 1: the burst is g * e with e the raised-cosine envelope and g = 10**(-snr/20) / rms(e)."""
    ones = an.NoiseBank.from_tensors([torch.ones(5000)], SR, crossfade_s=0)
    t = an.ShortNoises(ones, 6.0, 6.0, sample_rate=SR, min_duration_s=0.01, max_duration_s=0.01, num_events=1,
                       fade_s=0.002)
    x = torch.ones(1, 2000)
    params = t.sample(x, None, seeded(3))
    y = t.apply_params(x, params)
    s, d, fade = int(params.start[0, 0]), 160, 32
    i = torch.arange(fade, dtype=torch.float64)
    ramp = torch.sin(math.pi / 2 * (i + 0.5) / fade) ** 2
    env = torch.cat([ramp, torch.ones(d - 2 * fade, dtype=torch.float64), ramp.flip(0)])
    assert torch.allclose(ramp + ramp.flip(0), torch.ones(fade, dtype=torch.float64))  # complementary ramps
    g = 10 ** (-6 / 20) / float(env.square().mean().sqrt())
    assert torch.allclose((y - x)[0, s:s + d].double(), g * env, atol=1e-6)
    assert torch.allclose(F.burst_envelope(torch.tensor(d), d, fade, torch.float64), env)
    assert F.burst_envelope(torch.tensor(3), 5, 4).tolist()[3:] == [0.0, 0.0]  # ramps of at most d // 2


def test_a_silent_span_uses_the_example_power_and_a_silent_example_gets_nothing(bank):
    t = an.ShortNoises(bank, 10, 10, sample_rate=SR, min_duration_s=0.05, max_duration_s=0.05, num_events=1)
    x = torch.randn(3, 6000, generator=seeded(4))
    x[0, :3000] = 0
    x[2] = 0
    params = t.sample(x, None, seeded(5))
    params = dataclasses.replace(params, start=torch.tensor([[1000], [1000], [1000]]))  # inside the silence of 0
    y, info = t._apply_params(x, params, None, False)
    burst = float((y - x)[0, 1000:1800].double().square().mean())
    whole = 10 * math.log10(float(x[0].double().square().mean()) / burst)
    assert abs(whole - 10.0) < 1e-3 and abs(span_snr(x, y, 1, 1000, 800) - 10.0) < 1e-3
    assert torch.equal(y[2], x[2])
    rec = t.records(params, info)
    assert [r["events"][0]["snr_reference"] for r in rec] == ["example", "span", "example"]
    assert [r["events"][0]["noise_added"] for r in rec] == [True, True, False]
    json.dumps(rec)


# -- where the bursts go --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(8, 12000), (8, 3, 12000)])
def test_outside_the_bursts_nothing_changes_bit_for_bit(bank, shape):
    t = an.ShortNoises(bank, -5, 20, sample_rate=SR, num_events=(0, 3), p=0.8)
    x = torch.randn(shape, generator=seeded(6))
    x[..., ::7] = -0.0  # x + 0.0 would turn these into +0.0
    x[..., 5::7] = 0.0
    lengths = torch.tensor(LENGTHS)
    params = t.sample(x, lengths, seeded(7))
    y = t.apply_params(x, params, lengths)
    inside = torch.zeros(8, shape[-1], dtype=torch.bool)
    for b in range(8):
        for _, s, d in spans(params, b):
            inside[b, s:s + d] = True
    outside = ~inside.view(8, *([1] * (x.dim() - 2)), -1).expand_as(x)
    assert torch.equal(y.view(torch.int32)[outside], x.view(torch.int32)[outside])
    assert not torch.equal(y, x)


@pytest.mark.parametrize("num_events", [1, (0, 2), (2, 5)])
def test_bursts_lie_inside_the_valid_samples_and_follow_their_ranges(bank, num_events):
    t = an.ShortNoises(bank, -3, 7, sample_rate=SR, min_duration_s=0.05, max_duration_s=0.25, num_events=num_events)
    lo, hi = (num_events, num_events) if isinstance(num_events, int) else num_events
    lengths = torch.randint(0, 8001, (400,), generator=seeded(8))
    lengths[:3] = torch.tensor([0, 1, 8000])
    x = torch.randn(400, 8000, generator=seeded(9))
    params = t.sample(x, lengths, seeded(10))
    assert params.event.shape == params.start.shape == params.snr_db.shape == (400, hi)
    n = lengths[:, None]
    d, s = params.duration, params.start
    assert bool((d == torch.clamp(d, 800, 4000).minimum(n)).all())  # U{800..4000} samples, capped at the length
    assert bool(((s >= 0) & (s + d <= n)).all())
    k = params.event.sum(1)
    assert int(k[lengths == 0].max()) == 0
    long = lengths >= 800
    assert int(k[long].min()) == lo and int(k[long].max()) == hi  # every count of U{lo..hi} occurs
    assert float(params.snr_db.min()) >= -3 and float(params.snr_db.max()) <= 7
    assert bool((params.offset < torch.from_numpy(bank.clip_lengths)[params.clip]).all())
    y = t.apply_params(x, params, lengths)
    for b in range(400):
        assert torch.equal(y[b, int(lengths[b]):], x[b, int(lengths[b]):])


def test_clip_choice_by_duration_prefers_long_clips(bank):
    x = torch.zeros(2000, 4000)
    by_clip, by_time = (an.ShortNoises(bank, 0, 0, sample_rate=SR, num_events=1, weight=w).sample(x, None, seeded(11))
                        .clip for w in ("clip", "duration"))
    share = [float((c == 1).float().mean()) for c in (by_clip, by_time)]
    sizes = bank.clip_lengths
    assert abs(share[0] - 1 / 3) < 0.05 and abs(share[1] - sizes[1] / sizes.sum()) < 0.03  # clip 1: 85% of the samples


# -- the contract ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("batch", [1, 3, 8])
@pytest.mark.parametrize("with_lengths", [False, True])
@pytest.mark.parametrize("overlap", [True, False])
def test_forward_replays_sample_then_apply_params_and_is_deterministic(bank, batch, with_lengths, overlap):
    t = an.ShortNoises(bank, -5, 20, sample_rate=SR, p=0.7, overlap=overlap)
    x = torch.randn(batch, 5000, generator=seeded(12))
    lengths = torch.tensor(LENGTHS[:batch]).clamp(max=5000) if with_lengths else None
    y = t(x, lengths, seeded(13))
    assert torch.equal(y, t.apply_params(x, t.sample(x, lengths, seeded(13)), lengths))
    assert torch.equal(y, t(x, lengths, seeded(13)))
    assert not torch.equal(y, t(x, lengths, seeded(14)))
    one = t(x[0], generator=seeded(13))  # a 1-D input is one example
    assert one.shape == x[0].shape and torch.equal(one, t(x[:1], generator=seeded(13))[0])


def test_device_code_path_agrees_with_the_host_path(bank):
    """The GPU path (prefix-sum powers, scatter placement, no host branch) run on CPU tensors: the host path's
    values to float32 rounding (its powers are BLAS dots per span), the same flags, untouched samples elsewhere."""
    host = an.ShortNoises(bank, -5, 20, sample_rate=SR, p=0.8)
    dev = an.ShortNoises(bank, -5, 20, sample_rate=SR, p=0.8)
    dev._host_paths = False
    x = torch.randn(6, 2, 4000, generator=seeded(29))
    x[1, :, :2000] = 0
    x[..., 3::5] = -0.0  # x + 0.0 would turn these into +0.0
    lengths = torch.tensor([4000, 4000, 1, 2500, 0, 1600])
    params = host.sample(x, lengths, seeded(30))
    params.applied[1], params.event[1, 0], params.start[1, 0], params.duration[1, 0] = True, True, 100, 800
    assert bool(params.applied.any() & ~params.applied.all())  # a silent span (the example's power) and p < 1
    a, ia = host._apply_params(x, params, lengths, False)
    b, ib = dev._apply_params(x, params, lengths, False)
    assert torch.allclose(a, b, atol=1e-5, rtol=1e-5) and torch.allclose(ia["gain"], ib["gain"], rtol=1e-5)
    assert torch.equal(ia["noise_added"], ib["noise_added"]) and torch.equal(ia["span_silent"], ib["span_silent"])
    assert bool(ia["span_silent"].any())
    inside = torch.zeros(6, 4000, dtype=torch.bool)
    for r in range(6):
        for _, s, d in spans(params, r):
            inside[r, s:s + d] = True
    out = ~inside[:, None].expand_as(x)
    assert torch.equal(b.view(torch.int32)[out], x.view(torch.int32)[out])  # the scatter path leaves them too
    none = dataclasses.replace(params, applied=torch.zeros(6, dtype=torch.bool))
    assert torch.equal(dev.apply_params(x, none, lengths), x)


def test_tensor_uniforms_sample_like_numpy_uniforms(bank, monkeypatch):
    """A generator on a GPU gives tensor uniforms: the tensor formulas must give the same parameters."""
    from audionoise.transforms import short_noises

    for weight, overlap in (("clip", True), ("duration", True), ("clip", False)):
        t = an.ShortNoises(bank, -5, 20, sample_rate=SR, num_events=(0, 3), p=0.6, weight=weight, overlap=overlap)
        x = torch.zeros(50, 6000)
        lengths = torch.randint(0, 6001, (50,), generator=seeded(31))
        lengths[:10] = torch.arange(10) * 300  # bursts that do not fit
        u = torch.rand(50, 2 + 5 * 3, generator=seeded(32), dtype=torch.float64)
        monkeypatch.setattr(short_noises, "draw", lambda b, c, g: u.numpy())
        from_numpy = t.sample(x, lengths)
        monkeypatch.setattr(short_noises, "draw", lambda b, c, g: u)
        from_tensor = t.sample(x, lengths)
        for field in dataclasses.fields(from_numpy):
            a, b = getattr(from_numpy, field.name), getattr(from_tensor, field.name)
            assert a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b), field.name


def test_not_applied_examples_pass_through(bank):
    t = an.ShortNoises(bank, -5, 20, sample_rate=SR, p=0.5)
    x = torch.randn(64, 3000, generator=seeded(15))
    params = t.sample(x, None, seeded(16))
    y = t.apply_params(x, params)
    off = ~params.applied
    assert 0 < int(off.sum()) < 64 and torch.equal(y[off], x[off])
    none = dataclasses.replace(params, applied=torch.zeros(64, dtype=torch.bool))
    assert torch.equal(t.apply_params(x, none), x)
    assert all(r["events"] == [] for r, a in zip(t.records(params), params.applied.tolist()) if not a)


def test_gradient_is_the_identity_and_values_match_no_grad(bank):
    t = an.ShortNoises(bank, -5, 20, sample_rate=SR)
    x = torch.randn(3, 2, 4000, dtype=torch.float64, generator=seeded(17), requires_grad=True)
    lengths = torch.tensor([4000, 2500, 900])
    y = t(x, lengths, seeded(18))
    w = torch.randn(y.shape, dtype=torch.float64, generator=seeded(19))
    (y * w).sum().backward()
    assert torch.equal(x.grad, w)  # dy/dx = identity: the bursts are constants
    with torch.no_grad():
        assert torch.equal(y.detach(), t(x.detach(), lengths, seeded(18)))
    # the whole Jacobian (autograd's) is the identity; a numerical gradcheck would also see the gain move with x
    small, n = x.detach()[..., :300].clone(), torch.tensor([300, 200, 100])
    fixed = t.sample(small, n, seeded(18))
    jac = torch.autograd.functional.jacobian(lambda s: t.apply_params(s, fixed, n), small)
    assert bool(fixed.event.any()) and torch.equal(jac.reshape(small.numel(), -1), torch.eye(small.numel(),
                                                                                           dtype=torch.float64))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_keeps_dtype_and_the_span_snr(bank, dtype):
    """Bursts of the default 0.1-0.5 s at -5..20 dB: within 0.01 dB (measured: bf16 <= 0.006, fp16 <= 0.0006 dB).
    The rounding of ``y`` to 8 significant bits is what limits it: a 1-sample bf16 burst can be 0.05 dB off."""
    t = an.ShortNoises(bank, -5, 20, sample_rate=SR, num_events=(1, 3))
    x = (0.3 * torch.randn(48, 16000, generator=seeded(20))).to(dtype)
    lengths = torch.randint(8000, 16001, (48,), generator=seeded(22))
    params = t.sample(x, lengths, seeded(21))
    y = t.apply_params(x, params, lengths)
    assert y.dtype == dtype
    worst, n = 0.0, 0
    for b in range(48):
        events = spans(params, b)
        for k, s, d in events:
            if not overlaps(events, k):
                worst, n = max(worst, abs(span_snr(x, y, b, s, d) - float(params.snr_db[b, k]))), n + 1
    assert n > 20 and worst < 0.01


def test_multichannel_examples_get_the_same_bursts_on_every_channel(bank):
    t = an.ShortNoises(bank, -5, 20, sample_rate=SR)
    x = torch.randn(4, 3, 6000, generator=seeded(22)) * torch.tensor([[1.0], [0.1], [0.01]])
    y = t(x, torch.tensor([6000, 3000, 1000, 6000]), seeded(23))
    added = y - x
    assert torch.allclose(added[:, 0], added[:, 1], atol=1e-6) and torch.allclose(added[:, 0], added[:, 2], atol=1e-6)
    mono = t(x[:, :1], torch.tensor([6000, 3000, 1000, 6000]), seeded(23))
    params = t.sample(x, torch.tensor([6000, 3000, 1000, 6000]), seeded(23))
    assert torch.equal(params.start, t.sample(x[:, :1], torch.tensor([6000, 3000, 1000, 6000]), seeded(23)).start)
    assert not torch.allclose(mono - x[:, :1], added[:, :1])  # the SNR counts every channel: other gains


def test_pipeline_records_and_repr(bank):
    t = an.ShortNoises(bank, 0, 10, sample_rate=SR, num_events=(1, 2))
    x = torch.randn(3, 4000, generator=seeded(24))
    y, records = an.Compose([t])(x, generator=seeded(25), return_params=True)
    rec = records[0][0]
    assert rec["transform"] == "ShortNoises" and rec["applied"] and 1 <= len(rec["events"]) <= 2
    assert set(rec["events"][0]) == {"clip", "clip_name", "offset", "start", "duration", "snr_db", "noise_added",
                                     "snr_reference"}
    json.dumps(records)
    assert "ShortNoises(" in repr(t) and "NoiseBank" in repr(an.Compose([t]))
    assert an.transforms.REGISTRY["ShortNoises"] is an.ShortNoises


def test_config_round_trip_toml(tmp_path):
    from audionoise import io as aio

    (tmp_path / "events").mkdir()
    for i in range(3):
        aio.save(tmp_path / "events" / f"{i}.wav", 0.1 * torch.randn(1, 2000 + 700 * i, generator=seeded(i)), SR)
    (tmp_path / "events.txt").write_text("events/0.wav\nevents/2.wav\n")
    cfg = tmp_path / "pipe.toml"
    cfg.write_text('sample_rate = 16000\n\n[[transforms]]\nname = "ShortNoises"\n'
                   'noise = ["events.txt", "events/1.wav"]\nmin_snr_db = 0.0\nmax_snr_db = 15.0\n'
                   'min_duration_s = 0.05\nmax_duration_s = 0.3\nnum_events = [0, 3]\nfade_s = 0.002\np = 0.5\n'
                   'weight = "duration"\noverlap = false\n')
    pipe = an.load_pipeline(cfg)
    t = pipe.transforms[0]
    assert isinstance(t, an.ShortNoises) and t.num_events == [0, 3] and t.bank.names[0] == "events/0.wav"
    assert t.overlap is False and t.weight == "duration"
    out = tmp_path / "saved" / "again.toml"
    out.parent.mkdir()
    an.save_pipeline(pipe, out)
    assert "../events.txt" in out.read_text() and 'name = "ShortNoises"' in out.read_text()
    again = an.load_pipeline(out)
    assert again.transforms[0].config() == t.config()
    x = torch.randn(4, 8000, generator=seeded(26))
    assert torch.equal(pipe(x, generator=seeded(27)), again(x, generator=seeded(27)))
    memory = an.NoiseBank.from_tensors([torch.randn(500, generator=seeded(28))], SR)
    with pytest.raises(ValueError, match="in-memory NoiseBank"):
        an.save_pipeline(an.Compose([an.ShortNoises(memory, 0, 1)]), tmp_path / "p.toml")


# -- errors ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, message", [
    (dict(min_duration_s=0.5, max_duration_s=0.1), r"min_duration_s \(0.5\) must be <= max_duration_s \(0.1\)"),
    (dict(min_duration_s=-0.1), r"min_duration_s \(-0.1\) must be >= 0"),
    (dict(min_duration_s=0.0, max_duration_s=-1.0), r"max_duration_s \(-1.0\) must be >= 0"),
    (dict(min_duration_s=0.0, max_duration_s=1e-6), r"max_duration_s \(1e-06\) is shorter than one sample"),
    (dict(max_duration_s=math.inf), "max_duration_s must be a finite number"),
    (dict(num_events=0), "num_events must be an integer >= 1 or a"),
    (dict(num_events=(2, 1)), r"0 <= low <= high and high >= 1, got \(2, 1\)"),
    (dict(num_events=(0, 0)), "num_events"),
    (dict(num_events=(-1, 2)), "num_events"),
    (dict(num_events=(1, 2, 3)), "num_events"),
    (dict(num_events=True), "num_events"),
    (dict(num_events="3"), "num_events"),
    (dict(num_events=1.5), "num_events"),
    (dict(fade_s=-0.01), r"fade_s \(-0.01\) must be >= 0"),
    (dict(min_snr_db=10, max_snr_db=0), r"min_snr_db \(10\) must be <= max_snr_db \(0\)"),
    (dict(p=1.5), "p must be a probability"),
    (dict(weight="loud"), "weight must be one of"),
    (dict(overlap="no"), "overlap must be true .* or false"),
    (dict(sample_rate=8000), r"NoiseBank sample_rate \(16000\) differs from sample_rate \(8000\)"),
])
def test_bad_arguments_are_named(bank, kwargs, message):
    args = dict(min_snr_db=0, max_snr_db=10, sample_rate=SR) | kwargs
    with pytest.raises(ValueError, match=message):
        an.ShortNoises(bank, args.pop("min_snr_db"), args.pop("max_snr_db"), **args)


def test_bad_noise_arguments(tmp_path):
    with pytest.raises(ValueError, match="sample_rate is required .* this ShortNoises is applied to"):
        an.ShortNoises(str(tmp_path), 0, 10)
    with pytest.raises(ValueError, match="noise must be a folder, list file, manifest"):
        an.ShortNoises(42, 0, 10, sample_rate=SR)
    with pytest.raises(ValueError, match="holds no audio file"):
        an.ShortNoises(str(tmp_path), 0, 10, sample_rate=SR)


def test_functional_add_bursts_checks_its_spans():
    x = torch.ones(2, 100)
    bursts = torch.ones(2, 1, 10)
    with pytest.raises(ValueError, match=r"burst 0 of example 1 \(start 95, duration 10\) must lie inside"):
        F.add_bursts(x, bursts, torch.tensor([[0], [95]]), torch.tensor([[10], [10]]), 0.0)
    with pytest.raises(ValueError, match="noise must be"):
        F.add_bursts(x, bursts[0], torch.tensor([[0], [0]]), torch.tensor([[10], [10]]), 0.0)
    y, g, silent = F.add_bursts(x[0], bursts[0], torch.tensor([5]), torch.tensor([10]), 0.0)
    assert y.shape == (100,) and abs(float(g[0]) - 1.0) < 1e-6 and not bool(silent[0])
    assert abs(float(y[5:15].sum()) - 20.0) < 1e-5 and torch.equal(y[:5], x[0, :5]) and torch.equal(y[15:], x[0, 15:])


def test_docs_example_runs_and_prints_what_the_docs_show():
    text = (ROOT / "docs" / "noise.md").read_text(encoding="utf-8")
    section = text[text.index("## Short noises (`ShortNoises`)"):]
    code, shown = re.search(r"```python\n(.*?)```\n\n```text\n(.*?)```", section, flags=re.S).groups()
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(compile(code, "docs/noise.md[ShortNoises]", "exec"), {"__name__": "docs"})
    assert buf.getvalue() == shown


def test_nan_in_a_burst_span_is_named(bank):
    t = an.ShortNoises(bank, 0, 10, sample_rate=SR, min_duration_s=0.1, max_duration_s=0.1, num_events=1)
    x = torch.randn(2, 1600, generator=seeded(33))  # the burst covers the whole example
    x[1, 7] = math.nan
    with pytest.raises(ValueError, match="NaN"):
        t(x, generator=seeded(34))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (run on the GPU machine)")
def test_cuda_bursts_are_exact_and_match_the_cpu(bank):
    """On the GPU (bank and input there, a CUDA generator: tensor uniforms, scatter placement, no host sync)."""
    t = an.ShortNoises(bank, -5, 20, sample_rate=SR, p=0.8).to("cuda")
    x = torch.randn(16, 2, 12000, device="cuda")
    x[3, :, :6000] = 0
    lengths = torch.tensor(LENGTHS * 2, device="cuda")
    params = t.sample(x, lengths, torch.Generator(device="cuda").manual_seed(0))
    assert params.start.device.type == "cuda"
    y = t.apply_params(x, params, lengths)
    assert y.device.type == "cuda" and y.dtype == x.dtype
    cpu = an.ShortNoises(bank, -5, 20, sample_rate=SR, p=0.8)
    expected = cpu.apply_params(x.cpu(), params.to("cpu"), lengths.cpu())
    assert torch.allclose(y.cpu(), expected, atol=1e-5, rtol=1e-5)
    yc, xc, pc = y.cpu(), x.cpu(), params.to("cpu")
    for b in range(16):
        events = spans(pc, b)
        for k, s, d in events:
            if not overlaps(events, k) and float(xc[b, :, s:s + d].abs().max()) > 0:
                assert abs(span_snr(xc, yc, b, s, d) - float(pc.snr_db[b, k])) < 0.01
        n = int(lengths[b])
        assert torch.equal(yc[b, :, n:], xc[b, :, n:])
    half = t(x.half(), lengths, torch.Generator(device="cuda").manual_seed(1))
    assert half.dtype == torch.float16
