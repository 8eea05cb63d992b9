"""BackgroundNoise: exact SNR with variable lengths, gain cap, absolute level, several sources, sampling."""

import json
import math

import numpy as np
import pytest
import torch

import audionoise as an
from audionoise import functional as F
from audionoise.transforms import background

SR = 16000


def seeded(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.fixture
def bank():
    g = seeded(9)
    clips = [torch.randn(3000, generator=g), F.colored_noise((20000,), "pink", g), 0.01 * torch.randn(700, generator=g)]
    return an.NoiseBank.from_tensors(clips, SR)


def dbfs(x, lengths):
    return 20 * torch.log10(F.rms(x, lengths))


CONFIGS = {
    "snr": dict(min_snr_db=-10, max_snr_db=30),
    "snr, 1-3 sources": dict(min_snr_db=-10, max_snr_db=30, num_sources=(1, 3)),
    "snr, 2 sources, by duration": dict(min_snr_db=0, max_snr_db=10, num_sources=2, weight="duration"),
    "level": dict(noise_level_dbfs=(-40, -10)),
    "level, 1-4 sources, capped": dict(noise_level_dbfs=(-40, -10), num_sources=(1, 4), max_gain_db=6.0),
    "snr, active reference": dict(min_snr_db=0, max_snr_db=20, snr_reference="active"),
}


@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("shape", [(9, 4000), (9, 2, 3000)])
def test_target_is_exact_with_variable_lengths_and_padding_untouched(name, shape, bank):
    t = an.BackgroundNoise(bank, **CONFIGS[name])
    x = torch.randn(shape, generator=seeded(1))
    x[3] = 0  # silent: no noise at an SNR, noise at an absolute level
    lengths = torch.tensor([shape[-1], shape[-1] // 2, 700, 2000, 1, 5, shape[-1] - 1, 333, 0])
    params = t.sample(x, lengths, seeded(2))
    y = t.apply_params(x, params, lengths)
    n = y - x
    capped = t._apply_params(x, params, lengths, False)[1]["gain_capped"]
    ok = (lengths > 0) & ~capped
    assert not capped.all()
    if "level" in name:
        err = (dbfs(n, lengths) - params.noise_level_dbfs)[ok]
    else:
        ok &= torch.arange(9) != 3
        ref = "active" if "active" in name else "full"
        err = (F.snr_db(x, n, lengths) - params.snr_db)[ok] if ref == "full" else torch.zeros(1)
        if ref == "active":
            mask = F.active_mask(x, lengths)
            m = mask.view(9, *([1] * (x.dim() - 2)), -1).expand_as(x)
            ps = (x.square() * m).flatten(1).sum(1) / m.flatten(1).sum(1).clamp_min(1)
            pn = (n.square() * m).flatten(1).sum(1) / m.flatten(1).sum(1).clamp_min(1)
            ok &= m.flatten(1).any(1)
            err = (10 * torch.log10(ps / pn) - params.snr_db)[ok]
        assert torch.equal(y[3], x[3])
    assert float(err.abs().max()) < 1e-3
    for b, k in enumerate(lengths.tolist()):
        assert torch.equal(y[b, ..., k:], x[b, ..., k:])
    if x.dim() == 3:  # the same noise on every channel
        assert torch.allclose(n[:, 0], n[:, 1], atol=1e-6)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_batched_equals_per_example_and_deterministic(name, bank):
    t = an.BackgroundNoise(bank, p=0.8, **CONFIGS[name])
    x = torch.randn(7, 2500, generator=seeded(5))
    lengths = torch.tensor([2500, 2400, 100, 2500, 1, 1800, 0])
    y = t(x, lengths, seeded(6))
    assert torch.equal(y, t(x, lengths, seeded(6)))
    params = t.sample(x, lengths, seeded(6))
    assert torch.equal(t.apply_params(x, params, lengths), y)
    for b in range(7):
        yb = t.apply_params(x[b:b + 1], params.select(b), lengths[b:b + 1])
        assert torch.equal(yb[0], y[b])
        assert torch.equal(t.apply_params(x[b], params.select(b)), t.apply_params(x[b:b + 1], params.select(b))[0])


def test_single_example_sampling_is_the_batch_formula(bank, monkeypatch):
    """One example is sampled with Python floats; the result equals the array formulas for the same uniforms."""
    for weight in ("clip", "duration"):
        t = an.BackgroundNoise(bank, -5, 25, weight=weight, p=0.5)
        u = torch.rand(300, 4, generator=seeded(3), dtype=torch.float64).numpy()
        u[:3, 2:] = [[0.0, 0.0], [1 - 2 ** -53, 1 - 2 ** -53], [0.3, 1 - 2 ** -53]]  # edges of the ranges
        monkeypatch.setattr(background, "draw", lambda b, c, g: u[:b] if b > 1 else u[draw_row[0]:draw_row[0] + 1])
        draw_row = [0]
        batch = t.sample(torch.zeros(300, 10))
        for i in range(300):
            draw_row[0] = i
            one = t.sample(torch.zeros(1, 10))
            for field in ("applied", "snr_db", "clip", "offset", "source_db"):
                assert torch.equal(getattr(one, field), getattr(batch, field)[i:i + 1]), (weight, i, field)
            assert one.noise_level_dbfs.isnan().all() and one.clip.dtype == batch.clip.dtype == torch.int64


def test_gain_cap_binds_only_where_needed_and_records_the_snr_reached():
    quiet = an.NoiseBank.from_tensors([1e-3 * torch.randn(8000, generator=seeded(1))], SR)
    t = an.BackgroundNoise(quiet, 0, 0, max_gain_db=40.0)  # rms 1e-3 -> a 0 dB SNR needs ~ +60 dB on loud input
    x = torch.cat([torch.randn(1, 4000, generator=seeded(2)), 1e-3 * torch.randn(1, 4000, generator=seeded(3))])
    y, rec = an.Compose([t])(x, generator=seeded(4), return_params=True)
    loud, soft = rec[0][0], rec[1][0]
    measured = F.snr_db(x, y - x)
    assert loud["gain_capped"] and not soft["gain_capped"]
    assert abs(float(measured[0]) - loud["snr_db_actual"]) < 1e-3 and loud["snr_db_actual"] > 15  # capped at +40 dB
    g = F.rms(y[0] - x[0]) / F.rms(t.bank.windows(torch.tensor([loud["clip"]]), torch.tensor([loud["offset"]]),
                                                   4000))
    assert abs(float(20 * torch.log10(g)) - 40.0) < 1e-3
    assert abs(float(measured[1])) < 1e-3 and abs(soft["snr_db_actual"]) < 1e-3  # exact where it does not bind
    json.dumps(rec)


def test_absolute_level_puts_noise_on_silence_and_configs_hold_either_mode(bank, tmp_path):
    t = an.BackgroundNoise(bank, noise_level_dbfs=(-30, -20), sample_rate=SR)
    x = torch.zeros(16, 3000)
    params = t.sample(x, None, seeded(1))
    y = t.apply_params(x, params)
    assert float((dbfs(y, None) - params.noise_level_dbfs).abs().max()) < 1e-3
    assert float(params.noise_level_dbfs.min()) >= -30 and float(params.noise_level_dbfs.max()) <= -20
    _, rec = an.Compose([t])(x, generator=seeded(1), return_params=True)
    assert "snr_db" not in rec[0][0] and rec[0][0]["noise_added"] and rec[0][0]["snr_db_actual"] is None
    cfg = {"name": "BackgroundNoise", "noise": str(tmp_path), "noise_level_dbfs": [-30, -20]}
    with pytest.raises(ValueError, match="either min_snr_db/max_snr_db .* or noise_level_dbfs .*, not both"):
        an.BackgroundNoise(bank, 0, 10, noise_level_dbfs=(-30, -20))
    with pytest.raises(ValueError, match="needs min_snr_db and max_snr_db .* or noise_level_dbfs"):
        an.BackgroundNoise(bank)
    with pytest.raises(ValueError, match=r"noise_level_dbfs\[0\] \(-10\) must be <= noise_level_dbfs\[1\]"):
        an.BackgroundNoise(bank, noise_level_dbfs=(-10, -20))
    with pytest.raises(ValueError, match="holds no audio file"):  # the config form reaches the bank
        an.load_pipeline({"sample_rate": SR, "transforms": [cfg]})


def test_several_sources_sum_to_the_exact_total_and_are_recorded(bank):
    t = an.BackgroundNoise(bank, -5, 15, num_sources=(1, 3), source_db=(-6, 0))
    x = torch.randn(64, 2000, generator=seeded(1))
    params = t.sample(x, None, seeded(2))
    y, info = t._apply_params(x, params, None, False)
    rec = t.records(params, info)
    assert torch.equal(t.apply_params(x, params), y)
    assert float((F.snr_db(x, y - x) - params.snr_db).abs().max()) < 0.01
    assert max(abs(r["snr_db_actual"] - r["snr_db"]) for r in rec) < 0.01
    counts = [len(r["clip"]) for r in rec]
    assert set(counts) == {1, 2, 3}
    for b, r in enumerate(rec[:10]):
        k = len(r["clip"])
        assert len(r["offset"]) == len(r["source_db"]) == len(r["clip_name"]) == k
        assert all(-6 <= d <= 0 for d in r["source_db"])
        mix = sum(10 ** (d / 20) * bank.windows(torch.tensor([c]), torch.tensor([o]), 2000)[0]
                  for c, o, d in zip(r["clip"], r["offset"], r["source_db"]))
        g = float(F.rms(y[b] - x[b]) / F.rms(mix))
        assert torch.allclose(y[b] - x[b], g * mix, atol=1e-5)  # one gain for the sum, relative levels kept
    json.dumps(rec)
    with pytest.raises(ValueError, match="num_sources must be an integer >= 1 or a"):
        an.BackgroundNoise(bank, 0, 1, num_sources=(2, 1))
    with pytest.raises(ValueError, match="weight must be one of"):
        an.BackgroundNoise(bank, 0, 1, weight="length")


def test_clip_choice_by_clip_or_by_duration():
    bank = an.NoiseBank.from_tensors([torch.randn(1000), torch.randn(9000)], SR, crossfade_s=0)
    x = torch.zeros(20000, 1)
    by_clip = an.BackgroundNoise(bank, 0, 0).sample(x, None, seeded(1))
    by_time = an.BackgroundNoise(bank, 0, 0, weight="duration").sample(x, None, seeded(1))
    assert abs(float(by_clip.clip.float().mean()) - 0.5) < 0.015  # 5 sigma
    assert abs(float(by_time.clip.float().mean()) - 0.9) < 0.011
    for p in (by_clip, by_time):
        for k, n in ((0, 1000), (1, 9000)):
            off = p.offset[p.clip == k]
            assert int(off.min()) >= 0 and int(off.max()) <= n - 1
    assert by_clip.offset[by_clip.clip == 0].unique().numel() == 1000  # every offset of the short clip drawn


@pytest.mark.parametrize("name", list(CONFIGS))
def test_gradient_is_the_identity_and_values_match_no_grad(name, bank):
    """The scaled noise is a constant of the augmentation (detached gain), as for every noise injector."""
    t = an.BackgroundNoise(bank, **CONFIGS[name])
    for b in (1, 3):
        x = torch.randn(b, 1000, generator=seeded(1), requires_grad=True)
        lengths = torch.tensor([1000, 600, 1][:b])
        y = t(x, lengths, seeded(2))
        w = torch.randn(b, 1000, generator=seeded(3))
        (y * w).sum().backward()
        assert torch.equal(x.grad, w)
        with torch.no_grad():
            assert torch.equal(t(x, lengths, seeded(2)), y)


def test_bank_arguments_and_records(bank):
    with pytest.raises(ValueError, match="crossfade_s .* is set when the bank is built"):
        an.BackgroundNoise(bank, 0, 1, crossfade_s=0.05)
    with pytest.raises(ValueError, match="sample_rate is required"):
        an.BackgroundNoise("somewhere", 0, 1)
    t = an.BackgroundNoise(bank, 0, 1)  # the rate comes from the bank
    assert t.sample_rate == SR
    rec = t.records(t.sample(torch.randn(2, 100), None, seeded()))
    assert set(rec[0]) >= {"snr_db", "clip", "offset", "clip_name"} and "source_db" not in rec[0]
    assert "noise_level_dbfs" not in rec[0] and isinstance(rec[0]["clip"], int)
    assert math.isfinite(rec[0]["snr_db"])


@pytest.mark.parametrize("name", list(CONFIGS))
def test_device_code_paths_agree_with_the_host_paths(name, bank):
    """The GPU paths (masks instead of row loops, dense source sums, torch gains) run here on CPU tensors."""
    host = an.BackgroundNoise(bank, **CONFIGS[name])
    dev = an.BackgroundNoise(bank, **CONFIGS[name])
    dev._host_paths = False
    for shape in ((6, 3000), (6, 2, 2000)):
        x = torch.randn(shape, generator=seeded(3))
        lengths = torch.tensor([shape[-1], 1000, 1, shape[-1], 0, 1500])
        params = host.sample(x, lengths, seeded(4))
        a, b = host.apply_params(x, params, lengths), dev.apply_params(x, params, lengths)
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-5)
        ia, ib = (t._apply_params(x, params, lengths, False)[1] for t in (host, dev))
        assert torch.equal(ia["noise_added"], ib["noise_added"]) and torch.equal(ia["gain_capped"], ib["gain_capped"])


@pytest.mark.parametrize("name", list(CONFIGS))
def test_tensor_uniforms_sample_like_numpy_uniforms(name, bank, monkeypatch):
    """A generator on a GPU gives tensor uniforms: the tensor formulas must give the same parameters."""
    t = an.BackgroundNoise(bank, **CONFIGS[name], p=0.6)
    x = torch.zeros(50, 100)
    cols = t.sample(x, None, seeded(1)).clip.reshape(50, -1).shape[1]
    u = torch.rand(50, 4 if cols == 1 else 3 + 3 * cols, generator=seeded(2), dtype=torch.float64)
    monkeypatch.setattr(background, "draw", lambda b, c, g: u.numpy())
    from_numpy = t.sample(x)
    monkeypatch.setattr(background, "draw", lambda b, c, g: u)
    from_tensor = t.sample(x)
    for field in ("applied", "snr_db", "noise_level_dbfs", "clip", "offset", "source_db"):
        a, b = getattr(from_numpy, field), getattr(from_tensor, field)
        assert a.dtype == b.dtype and a.shape == b.shape and torch.equal(a.nan_to_num(), b.nan_to_num()), field


def test_config_round_trip_with_a_list_of_sources(tmp_path):
    from audionoise import io as aio

    (tmp_path / "noise").mkdir()
    for i in range(3):
        aio.save(tmp_path / "noise" / f"{i}.wav", 0.1 * torch.randn(1, 3000 + 500 * i, generator=seeded(i)), SR)
    (tmp_path / "noise.txt").write_text("noise/0.wav\nnoise/2.wav\n")
    cfg = {"sample_rate": SR, "transforms": [{"name": "BackgroundNoise", "noise": ["noise.txt", "noise/1.wav"],
                                              "min_snr_db": 0, "max_snr_db": 10, "num_sources": [1, 2]}]}
    cfg["transforms"][0]["cache_dir"] = tmp_path / "cache"  # a Path is saved as a string
    pipe = an.load_pipeline(cfg, base_dir=tmp_path)
    assert pipe.transforms[0].bank.cache_file.startswith(str(tmp_path / "cache"))
    assert pipe.transforms[0].bank.names == ["noise/0.wav", "noise/2.wav", str(tmp_path / "noise" / "1.wav")]
    out = tmp_path / "configs" / "pipe.toml"
    out.parent.mkdir()
    an.save_pipeline(pipe, out)
    assert "../noise.txt" in out.read_text()  # sources saved relative to the config
    again = an.load_pipeline(out)
    x = torch.randn(3, 4000, generator=seeded(1))
    assert torch.equal(pipe(x, generator=seeded(2)), again(x, generator=seeded(2)))


@pytest.mark.parametrize("shape", [(4, 3000), (4, 2, 3000)])
def test_a_padded_batch_equals_its_examples_without_lengths(shape, bank):
    """The offline engine pads files of one shape into a batch; each row must equal its file's own call."""
    t = an.BackgroundNoise(bank, -5, 25)
    x = torch.randn(shape, generator=seeded(1))
    params = t.sample(x, None, seeded(2))
    full = torch.full((4,), shape[-1])
    y = t.apply_params(x, params, full)
    for b in range(4):
        assert torch.equal(t.apply_params(x[b:b + 1], params.select(b)), y[b:b + 1])


def test_records_of_examples_without_noise_are_null_not_strings(bank):
    """A record names no clip for an example that got no noise, and holds no "inf" strings: strict JSON."""
    x = torch.randn(64, 3000, generator=seeded(5))
    x[:8] = 0  # silent: no SNR to reach, no noise in SNR mode
    t = an.BackgroundNoise(bank, 0, 10, sample_rate=SR, p=0.5)
    _, rec = an.Compose([t])(x, generator=seeded(6), return_params=True)
    rows = [r[0] for r in rec]
    assert {r["applied"] for r in rows} == {True, False}
    for r in rows:
        if r["noise_added"]:
            assert isinstance(r["clip_name"], str) and isinstance(r["snr_db_actual"], float)
        else:
            assert r["clip"] is r["offset"] is r["clip_name"] is r["snr_db_actual"] is None
            assert isinstance(r["snr_db"], float)  # the drawn target stays, like any drawn parameter
    assert not any(rows[i]["noise_added"] for i in range(8))
    json.dumps(rec, allow_nan=False)
    plain = t.records(t.sample(x, None, seeded(6)))  # without apply-time info: applied decides
    assert all((r["clip_name"] is None) == (not r["applied"]) for r in plain)
