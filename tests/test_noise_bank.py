"""The default training-noise bank: its procedural families, per-clip variety, the on-disk build and its cache."""

from __future__ import annotations

import json
import math

import pytest
import torch

from audionoise import NoiseBank, io
from audionoise.synth import noise_bank, noise_families, noises

SR = 16000


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("name", sorted(noise_families.FAMILIES))
def test_families_unit_rms_finite_deterministic_and_varied(name):
    fn = noise_families.FAMILIES[name]
    clips = [fn(2 * SR, SR, _g(seed)) for seed in range(6)]
    for x in clips:
        assert x.shape == (2 * SR,) and x.dtype == torch.float32 and torch.isfinite(x).all()
        assert math.isclose(float(x.pow(2).mean().sqrt()), 1.0, rel_tol=1e-4)
    torch.testing.assert_close(fn(2 * SR, SR, _g(3)), clips[3], rtol=0, atol=0)
    # different seeds give different recordings, not one recording with another phase: the spectra differ
    spectra = [torch.fft.rfft(x)[:16000].abs().reshape(64, -1).mean(1).log() for x in clips]
    assert min(float((a - b).abs().mean()) for i, a in enumerate(spectra) for b in spectra[i + 1:]) > 0.05


def test_families_are_not_the_evaluation_generators():
    evaluation = {noises.rain, noises.engine, noises.music, noises.keyboard, noises.wind, noises.clinks}
    assert not evaluation & set(noise_families.FAMILIES.values())
    # music is the one name both sets use: two different generators (docs/kws.md says how they differ)
    assert set(noise_bank.EVALUATION_FAMILIES) & set(noise_bank.TRAINING_FAMILIES) == {"music"}


def test_vary_keeps_length_and_unit_rms_and_changes_the_spectrum():
    x = noise_families.stationary(SR, SR, _g(0))
    outs = [noise_families.vary(x, SR, _g(seed)) for seed in range(5)]
    for y in outs:
        assert y.shape == x.shape and torch.isfinite(y).all()
        assert math.isclose(float(y.pow(2).mean()), 1.0, rel_tol=1e-4)
    assert len({round(float(y[:100].sum()), 3) for y in outs}) == 5
    torch.testing.assert_close(noise_families.vary(x, SR, _g(2)), outs[2], rtol=0, atol=0)


def test_band_and_peak_filters_have_their_closed_form_gains():
    t = torch.arange(SR) / SR
    tone = torch.sin(2 * math.pi * 1000 * t)
    # second-order high-pass at 1 kHz: |H(fc)| = 1/sqrt(2); a peaking band of +6 dB: x2 at its centre
    assert math.isclose(float(noise_families._band(tone, SR, 1000.0, None).pow(2).mean().sqrt()),
                        0.5, rel_tol=1e-3)
    assert math.isclose(float(noise_families._peak(tone, SR, 1000.0, 20 * math.log10(2), 1.0).abs().max()),
                        2.0, rel_tol=1e-3)


def test_mains_hum_like_tonal_energy_sits_on_few_bins():
    x = noise_families.tonal(4 * SR, SR, _g(1))
    power = torch.fft.rfft(x).abs().pow(2)
    top = torch.topk(power, 40).values.sum() / power.sum()
    assert top > 0.5  # a handful of partials, not a broadband noise


def test_generate_writes_every_family_deterministically(tmp_path, monkeypatch):
    monkeypatch.setattr(noise_bank, "_babble_clips",
                        lambda count, n, seed, sr: [noises.pink(n, sr, _g(seed + k)) for k in range(count)])
    summary = noise_bank.generate_training_noise(tmp_path / "a", seed=3, clips_per_family=2, clip_seconds=0.5)
    names = sorted(p.name for p in (tmp_path / "a").glob("*.wav"))
    counts = {f: 2 * (noise_bank.BABBLE_WEIGHT if f == "babble" else 1) for f in noise_bank.TRAINING_FAMILIES}
    assert names == sorted(f"{f}_{k:02d}.wav" for f, c in counts.items() for k in range(c))
    assert summary.families == counts and counts["babble"] == 4
    assert summary.seconds_of_audio == 0.5 * sum(counts.values())
    index = json.loads((tmp_path / "a" / "families.json").read_text())
    assert index["music_01.wav"] == "music" and len(index) == len(names)
    info = io.info(tmp_path / "a" / "animal_00.wav")
    assert (info.sample_rate, info.channels, info.subtype, info.frames) == (SR, 1, "PCM_16", SR // 2)
    noise_bank.generate_training_noise(tmp_path / "b", seed=3, clips_per_family=1, clip_seconds=0.5,
                                       families=("impact", "water"))
    for name in ("impact_00.wav", "water_00.wav"):  # a clip does not depend on which others are made
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:  # one thread inside, whatever the caller's
        noise_bank.generate_training_noise(tmp_path / "c", seed=3, clips_per_family=1, clip_seconds=0.5,
                                           families=("music",))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
    assert (tmp_path / "a" / "music_00.wav").read_bytes() == (tmp_path / "c" / "music_00.wav").read_bytes()
    bank = NoiseBank.from_folder(tmp_path / "a", SR, cache_dir=False)
    assert len(bank.clip_lengths) == len(names)
    with pytest.raises(ValueError, match="unknown"):
        noise_bank.generate_training_noise(tmp_path / "c", families=("rain",))


def test_babble_mixes_the_stated_densities_of_talkers(monkeypatch):
    calls = []
    monkeypatch.setattr(noise_bank, "talker_stream", lambda s, text, seconds, g, sr: torch.randn(int(seconds * sr),
                                                                                             generator=g))
    monkeypatch.setattr(noise_bank.noises, "mix_streams", lambda streams, n, g: calls.append(len(streams)) or
                        torch.ones(n))
    clips = noise_bank._babble_clips(6, 800, 0, SR)
    assert calls == [1, 2, 3, 4, 6, 8] and all(c.shape == (800,) for c in clips)
    noise_bank._babble_clips(10, 800, 0, SR)
    assert calls[6:] == [1, 2, 3, 4, 6, 8, 12, 16, 1, 2]


def test_ensure_builds_once_into_place_and_rebuilds_on_change(tmp_path, monkeypatch):
    calls = []

    def fake(out, seed=0, clips_per_family=10, clip_seconds=6.0, **kw):
        calls.append(seed)
        out.mkdir(parents=True)
        io.save(out / "stationary_00.wav", noises.pink(800, SR, _g(seed))[None], SR)
        return noise_bank.BankSummary({"stationary": 1}, 0.05, 0, 0.0)

    monkeypatch.setattr(noise_bank, "generate_training_noise", fake)
    monkeypatch.setenv("AUDIONOISE_NOISE_BANK", str(tmp_path / "bank"))
    assert noise_bank.default_bank_dir() == tmp_path / "bank"
    folder = noise_bank.ensure_training_noise()
    assert folder == tmp_path / "bank" and (folder / "stationary_00.wav").is_file()
    assert noise_bank.ensure_training_noise() == folder and calls == [0]
    noise_bank.ensure_training_noise(seed=2)
    noise_bank.ensure_training_noise(force=True, seed=2)
    assert calls == [0, 2, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", "bank"]  # no temporary folder left
    monkeypatch.delenv("AUDIONOISE_NOISE_BANK")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert noise_bank.default_bank_dir(1) == (tmp_path / "cache" / "audionoise" / "training_noise"
                                              / f"v{noise_bank.BANK_VERSION}-seed1")
