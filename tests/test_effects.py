"""Closed-form tests of the distortion and equaliser injectors: clip fraction, quantisation levels, polarity,
EQ gain at the centre and the notch's -3 dB edges; the batched biquad against scipy's lfilter."""

import math

import numpy as np
import pytest
import torch

import audionoise as an
from audionoise.functional.distortion import _sorted_threshold, bit_crush, clip_threshold
from audionoise.functional.eq import biquad_coefficients, biquad_filter, biquad_response

SR = 16000


def seeded(seed=0):
    return torch.Generator().manual_seed(seed)


# -- clipping -------------------------------------------------------------------------------------------------------
def test_percentile_clipping_clips_exactly_that_share_of_valid_samples():
    x = torch.randn(4, 2, 3000, generator=seeded(1))  # distinct magnitudes (continuous draws)
    lengths = torch.tensor([3000, 1234, 7, 2999])
    x[1, :, 1234:] = 50.0  # padding louder than anything: must neither set the threshold nor be clipped
    t = an.ClippingDistortion(5, 35)
    y, rec = an.Compose([t])(x, lengths, seeded(2), return_params=True)
    for b, n in enumerate(lengths.tolist()):
        r = rec[b][0]
        valid = 2 * n
        m = math.floor(valid * np.float32(r["percentile"]) / 100.0)
        assert r["clipped_fraction"] == pytest.approx(m / valid, abs=1e-12)
        c = r["threshold"]
        assert float(y[b, :, :n].abs().max()) == pytest.approx(c, rel=1e-6)
        assert int((x[b, :, :n].abs() > c).sum()) == m  # the m largest magnitudes, no more
        assert torch.equal(y[b, :, n:], x[b, :, n:])


def test_threshold_sort_path_equals_partition_path():
    x = torch.randn(5, 3, 700, generator=seeded(3))
    lengths = torch.tensor([700, 1, 350, 0, 699])
    pct = torch.tensor([0.0, 50.0, 12.5, 30.0, 99.9])
    cpu = clip_threshold(x, pct, lengths)
    n = lengths * 3
    m = torch.floor(n.double() * pct.double() / 100).long().clamp_max(n - 1).clamp_min(0)
    assert torch.equal(cpu, _sorted_threshold(x.abs(), n, m, lengths))
    assert float(cpu[3]) == 0.0 and float(cpu[0]) == float(x[0].abs().max())  # no valid sample; 0 % = the peak


def test_db_clipping_threshold_and_measured_fraction():
    x = torch.linspace(-1, 1, 2001)[None].repeat(2, 1)
    y, rec = an.Compose([an.ClippingDistortion(min_threshold_db=-6.0206, max_threshold_db=-6.0206)])(
        x, generator=seeded(4), return_params=True)
    assert rec[0][0]["threshold"] == pytest.approx(0.5, abs=1e-5)
    assert float(y.abs().max()) == pytest.approx(0.5, abs=1e-5)
    assert rec[0][0]["clipped_fraction"] == pytest.approx(1000 / 2001, abs=1e-9)  # |x| > 0.5: 2 x 500 samples


def test_clipping_needs_one_kind_of_threshold():
    with pytest.raises(ValueError, match="not both"):
        an.ClippingDistortion(0, 10, min_threshold_db=-10, max_threshold_db=-3)
    with pytest.raises(ValueError, match="max_threshold_db"):
        an.ClippingDistortion(min_threshold_db=-10)
    with pytest.raises(ValueError, match="below 100"):
        an.ClippingDistortion(0, 100)


# -- bit crushing ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bits", [1, 2, 4, 8, 12])
def test_bit_crush_levels_and_step(bits):
    x = 1.2 * torch.rand(3, 20000, generator=seeded(bits)) * 2 - 1.2  # includes samples beyond full scale
    y = bit_crush(x, torch.full((3,), bits))
    step = 2.0 ** (1 - bits)
    assert len(torch.unique(y)) <= 2 ** bits
    assert torch.equal(y / step, torch.round(y / step))  # on the grid
    assert float(y.min()) >= -1.0 and float(y.max()) <= 1.0 - step
    inside = (x >= -1.0) & (x <= 1.0 - step)
    assert float((y - x)[inside].abs().max()) <= step / 2 + 1e-7


def test_bit_crush_per_example_bits_and_records():
    x = torch.rand(6, 5000, generator=seeded(5)) * 2 - 1
    t = an.BitCrush(2, 6)
    y, rec = an.Compose([t])(x, generator=seeded(6), return_params=True)
    for b in range(6):
        bits = rec[b][0]["bits"]
        assert 2 <= bits <= 6 and len(torch.unique(y[b])) <= 2 ** bits
    assert len({r[0]["bits"] for r in rec}) > 1
    with pytest.raises(ValueError, match="min_bits"):
        an.BitCrush(0, 4)
    with pytest.raises(ValueError, match="<= max_bits"):
        an.BitCrush(8, 4)


# -- polarity -------------------------------------------------------------------------------------------------------
def test_polarity_inversion_negates_applied_examples_only():
    x = torch.randn(8, 2, 500, generator=seeded(7))
    lengths = torch.tensor([500, 100, 3, 0, 500, 250, 499, 1])
    t = an.PolarityInversion(p=0.5)
    params = t.sample(x, lengths, seeded(8))
    y = t.apply_params(x, params, lengths)
    assert 0 < int(params.applied.sum()) < 8
    for b, n in enumerate(lengths.tolist()):
        want = -x[b, :, :n] if bool(params.applied[b]) else x[b, :, :n]
        assert torch.equal(y[b, :, :n], want) and torch.equal(y[b, :, n:], x[b, :, n:])
    assert torch.equal(t.apply_params(y, params, lengths), x)  # an involution


# -- equalisers -----------------------------------------------------------------------------------------------------
def sine(freq, seconds=1.0):
    return torch.sin(2 * math.pi * freq * torch.arange(int(seconds * SR), dtype=torch.float64) / SR)


def gain_db(x, y):
    half = x.shape[-1] // 2  # steady state: the second half
    return float(20 * torch.log10(y[..., half:].pow(2).mean().sqrt() / x[..., half:].pow(2).mean().sqrt()))


@pytest.mark.parametrize("f0,q,gain", [(1000.0, 1.0, 6.0), (100.0, 5.0, 24.0), (3000.0, 0.5, -12.0),
                                       (7000.0, 2.0, -24.0), (60.0, 0.7, 12.0)])
def test_peaking_gain_at_the_centre_is_the_target(f0, q, gain):
    t = an.PeakingEQ(f0, f0, gain, gain, q, q, sample_rate=SR)
    x = sine(f0, 2.0)[None].float()
    y, rec = an.Compose([t])(x, generator=seeded(9), return_params=True)
    assert rec[0][0]["center_hz"] == pytest.approx(f0) and rec[0][0]["gain_db"] == pytest.approx(gain)
    assert gain_db(x.double(), y.double()) == pytest.approx(gain, abs=0.05)  # the issue asks for 0.5 dB
    far = sine(f0 * 8 if f0 * 8 < SR / 2 else f0 / 8, 2.0)[None].float()
    assert abs(gain_db(far.double(), t(far).double())) < abs(gain) / 3  # back towards 0 dB away from it


@pytest.mark.parametrize("f0,q", [(1000.0, 1.0), (300.0, 2.0), (5000.0, 0.7)])
def test_notch_zero_at_centre_and_minus_3_db_at_its_edges(f0, q):
    t = an.BandStop(f0, f0, q, q, sample_rate=SR)
    x = sine(f0, 2.0)[None].float()
    assert gain_db(x.double(), t(x).double()) < -40
    omega = math.sqrt(1 + 1 / (4 * q * q))
    for k in (omega - 1 / (2 * q), omega + 1 / (2 * q)):
        edge = 2 * math.atan(k * math.tan(math.pi * f0 / SR)) * SR / (2 * math.pi)
        xe = sine(edge, 2.0)[None].float()
        assert gain_db(xe.double(), t(xe).double()) == pytest.approx(-3.0103, abs=0.05)


def test_biquad_filter_is_lfilter():
    signal = pytest.importorskip("scipy.signal")
    g = seeded(10)
    for t_len, block in ((16000, 64), (1001, 128), (5, 64), (1, 64), (300, 7)):
        x = torch.randn(4, 2, t_len, generator=g, dtype=torch.float64)
        f = torch.tensor([50.0, 440.0, 3000.0, 7900.0], dtype=torch.float64)
        b, a = biquad_coefficients("peaking", f, torch.tensor([5.0, 0.5, 1.0, 2.0]),
                                   torch.tensor([24.0, -24.0, 3.0, -6.0]), SR)
        y = biquad_filter(x, b, a, block)
        want = np.stack([[signal.lfilter(b[i].numpy(), a[i].numpy(), x[i, c].numpy()) for c in range(2)]
                         for i in range(4)])
        assert np.abs(y.numpy() - want).max() < 1e-9 * max(1.0, np.abs(want).max())
        y32 = biquad_filter(x.float(), b, a, block)
        assert y32.dtype == torch.float32
        # float32: no further from the exact result than scipy's own float32 lfilter (the resonant 50 Hz, Q 5,
        # +24 dB section amplifies rounding: both are off by ~1e-3 there, ~1e-6 elsewhere)
        ref32 = np.stack([[signal.lfilter(b[i].numpy().astype(np.float32), a[i].numpy().astype(np.float32),
                                          x[i, c].numpy().astype(np.float32)) for c in range(2)] for i in range(4)])
        for i in range(4):
            ours, theirs = (np.abs(v[i] - want[i]).max() for v in (y32.double().numpy(), ref32))
            assert ours <= 1.5 * theirs + 1e-6, (t_len, i, ours, theirs)


def test_biquad_filter_gradient():
    b, a = biquad_coefficients("notch", torch.tensor([800.0, 2000.0]), torch.tensor([1.0, 3.0]), None, SR)
    x = torch.randn(2, 200, dtype=torch.float64, generator=seeded(11), requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: biquad_filter(v, b, a, 16), (x,))


def test_biquad_response_closed_forms():
    b, a = biquad_coefficients("peaking", torch.tensor([1234.0]), torch.tensor([3.0]), torch.tensor([-9.0]), SR)
    h = biquad_response(b, a, torch.tensor([1234.0, 1.0, SR / 2 - 1]), SR).abs()
    assert 20 * math.log10(float(h[0, 0])) == pytest.approx(-9.0, abs=1e-9)
    assert 20 * math.log10(float(h[0, 1])) == pytest.approx(0.0, abs=1e-3)


def test_eq_validation_names_the_parameter():
    with pytest.raises(ValueError, match="Nyquist"):
        an.PeakingEQ(100, 9000, sample_rate=SR)
    with pytest.raises(ValueError, match="min_q"):
        an.BandStop(100, 200, 0.0, 1.0, sample_rate=SR)
    with pytest.raises(ValueError, match="min_gain_db"):
        an.PeakingEQ(100, 200, 6.0, -6.0, sample_rate=SR)


# -- loudness -------------------------------------------------------------------------------------------------------
def speech_clips(sr, seconds, count, seed):
    from speech_like import speech_like

    return speech_like(count, int(seconds * sr), seeded(seed)) * torch.logspace(0, -2, count)[:, None]


@pytest.mark.parametrize("sr,seconds", [(16000, 3.0), (16000, 1.0), (44100, 2.5), (8000, 4.2), (48000, 1.7)])
def test_integrated_loudness_matches_pyloudnorm(sr, seconds):
    pyln = pytest.importorskip("pyloudnorm")
    x = speech_clips(sr, seconds, 4, int(seconds * 10))
    ours = an.functional.integrated_loudness(x, sr)
    for b in range(4):
        ref = pyln.Meter(sr).integrated_loudness(x[b].double().numpy())
        assert float(ours[b]) == pytest.approx(ref, abs=0.01)  # the issue asks for 0.1 LU


def test_integrated_loudness_of_the_asset_words_and_stereo():
    pyln = pytest.importorskip("pyloudnorm")
    from audionoise import io as aio
    from audionoise.assets import example_clip

    for path in (example_clip("yes"), example_clip("stop")):
        x, sr = aio.load(path, mono=True)
        assert float(an.functional.integrated_loudness(x[0], sr)) == pytest.approx(
            pyln.Meter(sr).integrated_loudness(x[0].double().numpy()), abs=0.01)
    st = speech_clips(SR, 2.0, 2, 3)  # two channels of one example: BS.1770 sums their weighted powers
    ref = pyln.Meter(SR).integrated_loudness(st.T.double().numpy())
    assert float(an.functional.integrated_loudness(st[None], SR)) == pytest.approx(ref, abs=0.01)


def test_loudness_closed_forms_gates_and_short_clips():
    sr = 48000
    t = torch.arange(2 * sr, dtype=torch.float64) / sr
    tone = torch.sin(2 * math.pi * 997 * t)
    lufs = an.functional.integrated_loudness
    k = float(lufs(tone, sr))
    assert float(lufs(0.1 * tone, sr)) == pytest.approx(k - 20.0, abs=1e-9)  # scale-invariant: 20 dB
    # 1 s of tone then 1 s at -30 dB: 17 blocks; the 7 quiet ones are below the relative gate (-10 LU under the
    # mean of all 17) and do not count; 7 loud ones and 3 that straddle the step (75 / 50 / 25 % loud) do
    gated = torch.cat([tone[:sr], 10 ** (-30 / 20) * tone[sr:]])
    kept = 7 + sum(f + (1 - f) * 1e-3 for f in (0.75, 0.5, 0.25))
    assert float(lufs(gated, sr)) == pytest.approx(k + 10 * math.log10(kept / 10), abs=0.01)
    assert float(lufs(torch.zeros(sr), sr)) == float("-inf")
    assert float(lufs(1e-5 * tone, sr)) == float("-inf")  # -103 LUFS: below the absolute gate
    # shorter than one 400 ms block: one block over the whole clip (pyloudnorm refuses such clips)
    short = tone[: int(0.3 * sr)]
    assert float(lufs(short, sr)) == pytest.approx(k, abs=0.05)
    # lengths: the padding is not measured
    padded = torch.stack([tone, torch.cat([tone[:sr], 5 * torch.ones(sr, dtype=torch.float64)])])
    out = lufs(padded, sr, torch.tensor([2 * sr, sr]))
    assert float(out[1]) == pytest.approx(float(lufs(tone[:sr], sr)), abs=1e-9)


def test_loudness_normalize_hits_the_target_and_records_it():
    x = speech_clips(SR, 2.0, 6, 4)
    x[5] = 0.0
    lengths = torch.tensor([32000, 20000, 5000, 32000, 3000, 32000])  # 5000 / 3000: shorter than 400 ms
    t = an.LoudnessNormalize(-30, -16, sample_rate=SR)
    y, rec = an.Compose([t])(x, lengths, seeded(5), return_params=True)
    after = an.functional.integrated_loudness(y, SR, lengths)
    for b in range(5):
        r = rec[b][0]
        assert r["normalized"] and float(after[b]) == pytest.approx(r["target_lufs"], abs=1e-4)
        assert r["gain_db"] == pytest.approx(r["target_lufs"] - r["loudness_lufs"], abs=1e-6)
        n = int(lengths[b])
        assert torch.equal(y[b, n:], x[b, n:])
    assert rec[5][0]["normalized"] is False and torch.equal(y[5], x[5])  # silence: left as it is


# -- mixing another utterance ---------------------------------------------------------------------------------------
def test_mix_in_batch_is_exact_and_records_the_source():
    from audionoise import functional as F

    x = torch.randn(6, 2, 4000, generator=seeded(12))
    lengths = torch.tensor([4000, 3000, 1000, 4000, 2500, 10])
    t = an.Mix(-5, 20)
    assert torch.equal(t(x, lengths, seeded(13)), t.apply_params(x, t.sample(x, lengths, seeded(13)), lengths))
    y, rec = an.Compose([t])(x, lengths, seeded(13), return_params=True)
    sir = F.snr_db(x, y - x, lengths)
    for b, n in enumerate(lengths.tolist()):
        j = rec[b][0]["source_index"]
        assert j != b and 0 <= j < 6
        assert float(sir[b]) == pytest.approx(rec[b][0]["sir_db"], abs=0.01)
        added = (y - x)[b, :, :n]
        m = min(n, int(lengths[j]))
        g = float(added[0, 0] / x[j, 0, 0])  # the interferer, scaled, from its start and only up to its length
        assert torch.allclose(added[:, :m], g * x[j, :, :m], atol=1e-5) and torch.all(added[:, m:] == 0)
        assert torch.equal(y[b, :, n:], x[b, :, n:])
    one = an.Compose([t])(x[:1], generator=seeded(14), return_params=True)
    assert torch.equal(one[0], x[:1]) and one[1][0][0]["noise_added"] is False  # nobody to mix in


def test_mix_from_a_folder_of_utterances(tmp_path):
    from audionoise import functional as F
    from audionoise import io as aio

    for i in range(3):
        aio.save(tmp_path / f"utt{i}.wav", 0.1 * torch.randn(1, 3000, generator=seeded(20 + i)), SR, subtype="FLOAT")
    t = an.Mix(0, 10, str(tmp_path), sample_rate=SR)
    x = torch.randn(4, 5000, generator=seeded(15))
    y, rec = an.Compose([t])(x, generator=seeded(16), return_params=True)
    for b in range(4):
        r = rec[b][0]
        assert r["transform"] == "Mix" and r["source"].startswith("utt") and "sir_db" in r
        assert float(F.snr_db(x[b], y[b] - x[b])) == pytest.approx(r["sir_db"], abs=0.01)
    again = an.load_pipeline(an.pipeline_config(an.Compose([t])))(x, generator=seeded(16))
    assert torch.equal(again, y)
    with pytest.raises(ValueError, match="sample_rate"):
        an.Mix(0, 10, str(tmp_path))


def test_the_docs_examples_run():
    import pathlib
    import re

    doc = (pathlib.Path(__file__).resolve().parents[1] / "docs" / "injectors.md").read_text(encoding="utf-8")
    section = doc[doc.index("<!-- effects examples"):doc.index("<!-- end of effects examples -->")]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert blocks
    for i, source in enumerate(blocks):
        exec(compile(source, f"docs/injectors.md[effects python block {i}]", "exec"), {"__name__": "docs"})
    toml = re.findall(r"```toml\n(.*?)```", section, flags=re.S)[0]
    import tomllib

    cfg = tomllib.loads(toml.replace('source = "utterances"     # omit to mix in another example of the batch\n', ""))
    pipe = an.load_pipeline(cfg)
    assert [type(t).__name__ for t in pipe.transforms] == ["ClippingDistortion", "Mix", "LoudnessNormalize"]


def test_batchable_effects_stack_exactly_and_in_batch_mix_does_not_claim_to(tmp_path):
    from audionoise import io as aio
    from audionoise.offline.batched import batchable
    from audionoise.plan import Plan, apply_plan, sample_plan

    aio.save(tmp_path / "u.wav", 0.1 * torch.randn(1, 3000, generator=seeded(30)), SR, subtype="FLOAT")
    pipe = an.Compose([an.ClippingDistortion(0, 30, p=0.7), an.BitCrush(4, 12, p=0.7), an.PolarityInversion(p=0.5),
                       an.Mix(0, 10, str(tmp_path), sample_rate=SR, p=0.7)])
    assert batchable(pipe) and not batchable(an.Mix(0, 10)) and not batchable(an.PeakingEQ(sample_rate=SR))
    xs = [0.3 * torch.randn(1, 2, 5000, generator=seeded(40 + i)) for i in range(7)]
    reference = [pipe(x, generator=seeded(50 + i), return_params=True) for i, x in enumerate(xs)]
    plans = [sample_plan(pipe, x, None, seeded(50 + i)) for i, x in enumerate(xs)]
    y, _, records = apply_plan(torch.cat(xs), Plan.concat(plans), owned=True)
    for i, (ref_y, ref_records) in enumerate(reference):
        assert torch.equal(y[i:i + 1], ref_y) and records[i] == ref_records[0]


def test_sos_filter_cascade_is_sosfilt():
    signal = pytest.importorskip("scipy.signal")
    from audionoise.functional.eq import _block_matrices, _simulated, sos_filter

    g = seeded(31)
    f = torch.tensor([60.0, 500.0, 2500.0], dtype=torch.float64)
    first = biquad_coefficients("peaking", f, torch.tensor([4.0, 0.7, 1.5]), torch.tensor([18.0, -9.0, 3.0]), SR)
    second = biquad_coefficients("notch", torch.tensor([1000.0]), torch.tensor([2.0]), None, SR)  # shared
    for t_len, block in ((16000, 64), (777, 32), (3, 64), (130, 7)):
        x = torch.randn(3, 2, t_len, generator=g, dtype=torch.float64)
        y = sos_filter(x, [first, second], block)
        for i in range(3):
            sos = np.stack([np.concatenate([first[0][i], first[1][i]]) / first[1][i, 0].item(),
                            np.concatenate([second[0][0], second[1][0]]) / second[1][0, 0].item()])
            want = signal.sosfilt(sos, x[i].numpy(), axis=-1)
            assert np.abs(y[i].numpy() - want).max() < 1e-9 * max(1.0, np.abs(want).max()), (t_len, i)
    # one section: the closed forms and the simulation agree
    closed = _block_matrices([first], 3, 16)
    simulated = _simulated([(first[0].numpy(), first[1].numpy())], 16)
    for c, s in zip(closed, simulated):
        assert np.allclose(c, s, rtol=1e-9, atol=1e-12)
    x = torch.randn(2, 100, dtype=torch.float64, generator=g, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: sos_filter(v, [(first[0][:2], first[1][:2]), second], 16), (x,))


def test_block_state_scan_tensor_path_equals_numpy_path():
    from audionoise.functional.eq import _scan

    e = torch.randn(3, 2, 9, 4, generator=seeded(40), dtype=torch.float64)
    m = 0.5 * torch.randn(3, 4, 4, generator=seeded(41), dtype=torch.float64)
    for reverse in (False, True):
        assert torch.allclose(_scan(e, m, reverse, cpu=True), _scan(e, m, reverse, cpu=False), rtol=1e-12)
