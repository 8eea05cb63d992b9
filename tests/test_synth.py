"""audionoise.synth: espeak-ng synthesis, procedural noises and the bundled-data builder (tiny builds only)."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import soundfile as sf
import torch

from audionoise import io
from audionoise.cli import main as cli_main
from audionoise.kws import SpeechCommands
from audionoise.synth import bundle, noises, voices
from audionoise.synth.espeak import ESPEAK_RATE, Espeak

SR = 16000


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------------------------- noises
GENERATORS = ["white", "pink", "brown", "mains_hum", "fan", "rain", "engine", "music", "keyboard", "wind", "clinks"]


@pytest.mark.parametrize("name", GENERATORS)
def test_noise_generators_unit_rms_finite_deterministic(name):
    fn = getattr(noises, name)
    x = fn(2 * SR, SR, _g(1))
    assert x.shape == (2 * SR,) and x.dtype == torch.float32
    assert torch.isfinite(x).all()
    assert float(x.pow(2).mean().sqrt()) == pytest.approx(1.0, abs=1e-4)
    assert torch.equal(x, fn(2 * SR, SR, _g(1)))
    assert not torch.equal(x, fn(2 * SR, SR, _g(2)))


def _octave_slope_db(x: torch.Tensor, lo=125.0, hi=4000.0) -> float:
    """Least-squares slope (dB per octave) of the averaged power spectrum between lo and hi Hz."""
    frames = x[: x.numel() // 1024 * 1024].reshape(-1, 1024) * torch.hann_window(1024)
    power = torch.fft.rfft(frames).abs().pow(2).mean(0)
    f = torch.fft.rfftfreq(1024, 1 / SR)
    band = (f >= lo) & (f <= hi)
    octaves = torch.log2(f[band]).double()
    db = 10 * torch.log10(power[band]).double()
    slope = ((octaves - octaves.mean()) * (db - db.mean())).sum() / (octaves - octaves.mean()).pow(2).sum()
    return float(slope)


@pytest.mark.parametrize("name, expected", [("white", 0.0), ("pink", -3.01), ("brown", -6.02)])
def test_white_pink_brown_slopes(name, expected):
    x = getattr(noises, name)(20 * SR, SR, _g(0))
    assert _octave_slope_db(x) == pytest.approx(expected, abs=0.35)


def test_white_pink_brown_are_the_cores_colored_noise():
    from audionoise.functional import colored_noise

    for name in ("white", "pink", "brown"):
        assert torch.equal(getattr(noises, name)(4000, SR, _g(3)), colored_noise((4000,), name, _g(3)))


def test_unit_rms_uses_the_whole_waveform_and_keeps_silence():
    x = torch.tensor([3.0, -4.0, 0.0, 0.0])  # mean square 25 / 4
    torch.testing.assert_close(noises.unit_rms(x), x / 2.5)
    assert torch.equal(noises.unit_rms(torch.zeros(5)), torch.zeros(5))


@pytest.mark.parametrize("mains", [50.0, 60.0])
def test_mains_hum_energy_sits_on_harmonics(mains):
    x = noises.mains_hum(4 * SR, SR, _g(0), mains)
    spectrum = torch.fft.rfft(x).abs().pow(2)
    f = torch.fft.rfftfreq(x.numel(), 1 / SR)
    near = torch.zeros_like(f, dtype=torch.bool)
    for k in range(1, int(2000 // mains) + 1):
        near |= (f - k * mains).abs() < 1.0
    assert spectrum[near].sum() / spectrum.sum() > 0.95


def test_mix_streams_loops_and_skips_silent_streams():
    g = _g(0)
    x = noises.mix_streams([torch.randn(300, generator=g), torch.zeros(50)], 1000, g)
    assert x.shape == (1000,) and float(x.pow(2).mean()) == pytest.approx(1.0, abs=1e-5)
    assert torch.count_nonzero(noises.mix_streams([torch.zeros(10)], 100, g)) == 0


# ---------------------------------------------------------------------------------- channel
def _flat_speaker(**changes):
    base = dict(
        id="t", voice="en-us", variant="m3", female=False, pitch=50, pitch_range=50, rate=170,
        highpass_hz=20.0, lowpass_hz=7900.0, eq_hz=1000.0, eq_gain_db=0.0, eq_q=1.0, rt60_s=0.0,
        reverb_wet=0.0, floor_db=-60.0, room_seed=0,
    )
    base.update(changes)
    return voices.Speaker(**base)


def test_channel_eq_gain_at_centre_frequency():
    h = voices.channel_response(_flat_speaker(eq_gain_db=6.0, eq_hz=1000.0, eq_q=1.0), SR)
    response = torch.fft.rfft(h, n=SR).abs()  # 1 Hz bins
    assert 20 * math.log10(float(response[1000])) == pytest.approx(6.0, abs=0.3)
    assert 20 * math.log10(float(response[250])) == pytest.approx(0.0, abs=1.5)
    assert voices.apply_channel(torch.zeros(2, 500), _flat_speaker()).shape == (2, 500)


# ---------------------------------------------------------------------------------- espeak
def test_espeak_all_words_voices_and_variants_speak():
    with Espeak() as tts:
        for word in bundle.WORDS:
            assert tts.say(word, "en-us+m3").numel() > 0.15 * ESPEAK_RATE
        for voice in voices.ENGLISH_VOICES:
            assert tts.say("yes", f"{voice}+m1").abs().max() > 0.05
        for variant in voices.FEMALE_VARIANTS + voices.MALE_VARIANTS:
            x = tts.say("go", f"en+{variant}")
            assert x.abs().max() > 0.05 and x.abs().max() < 0.999  # audible, not clipped


def test_espeak_sessions_are_reproducible():
    calls = [("stop", "en-us+f3"), ("marvin", "en-029+klatt"), ("wow", "en+victor")]
    with Espeak() as tts:
        first = [tts.say(t, v, seed=7) for t, v in calls]
    with Espeak() as tts:
        tts.say("a long unrelated sentence to move the internal state", "en+m2")
    with Espeak() as tts:
        again = [tts.say(t, v, seed=7) for t, v in calls]
    assert all(torch.equal(a, b) for a, b in zip(first, again))


def test_espeak_errors():
    with Espeak() as tts:
        with pytest.raises(ValueError, match="not-a-voice"):
            tts.say("yes", "not-a-voice")
    with pytest.raises(RuntimeError, match="inside `with Espeak"):
        Espeak().say("yes", "en")


# ---------------------------------------------------------------------------------- speakers
def test_make_speakers_distinct_and_varied():
    speakers = voices.make_speakers(40, seed=0)
    assert len({s.id for s in speakers}) == 40
    assert len({s.variant for s in speakers}) == 40
    assert {s.voice for s in speakers} == set(voices.ENGLISH_VOICES)
    assert sum(s.female for s in speakers) == 15
    assert speakers == voices.make_speakers(40, seed=0)
    assert speakers != voices.make_speakers(40, seed=1)
    with pytest.raises(ValueError, match=r"count \(41\)"):
        voices.make_speakers(41)


def test_split_speakers_disjoint_complete_and_mixed():
    speakers = voices.make_speakers(40, seed=0)
    parts = voices.split_speakers(speakers, seed=0)
    assert {k: len(v) for k, v in parts.items()} == {"training": 28, "validation": 6, "testing": 6}
    ids = [s.id for group in parts.values() for s in group]
    assert sorted(ids) == sorted(s.id for s in speakers)
    for group in parts.values():
        assert {s.female for s in group} == {True, False}


def test_render_words_levels_and_determinism():
    speaker = voices.make_speakers(40, seed=0)[5]
    words = ["yes", "sheila", "go"]
    clips = voices.render_words(speaker, words, _g(3))
    assert clips.shape == (3, SR) and torch.isfinite(clips).all()
    peak_db = 20 * torch.log10(clips.abs().amax(dim=1))
    assert torch.all(peak_db >= -20.01) and torch.all(peak_db <= -0.99)
    voices.render_words(voices.make_speakers(40, seed=0)[6], ["no"], _g(9))  # unrelated call between
    assert torch.equal(clips, voices.render_words(speaker, words, _g(3)))
    assert not torch.equal(clips, voices.render_words(speaker, words, _g(4)))
    # the word is inside the clip, not at the edges: first and last 10 ms are near the noise floor
    edges = torch.cat([clips[:, :160], clips[:, -160:]], dim=1).abs().amax(dim=1)
    assert torch.all(edges < 0.1 * clips.abs().amax(dim=1))


# ---------------------------------------------------------------------------------- builder
@pytest.fixture(scope="module")
def tiny_build(tmp_path_factory):
    out = tmp_path_factory.mktemp("build")
    summary = bundle.generate_bundled_data(
        out, seed=0, speakers=8, words=("yes", "no", "bed"), repetitions=2, noise_seconds=1.0
    )
    return out, summary


def test_tiny_build_layout_and_summary(tiny_build):
    out, summary = tiny_build
    kws = out / "kws"
    assert summary.speakers == {"training": 6, "validation": 1, "testing": 1}
    assert summary.clips == {"training": 36, "validation": 6, "testing": 6}
    assert not (kws / "_background_noise_").exists() and summary.background_noises == []
    assert sorted(p.name for p in (out / "noise_eval").iterdir()) == summary.eval_noises
    for path in list((kws / "yes").iterdir()) + list((out / "noise_eval").iterdir()):
        info = io.info(path)
        assert (info.sample_rate, info.channels, info.subtype) == (SR, 1, "PCM_16")
    assert io.info(kws / "yes" / next((kws / "yes").iterdir()).name).frames == SR
    assert io.info(out / "noise_eval" / "rain.wav").frames == SR
    assert summary.bytes == sum(f.stat().st_size for f in out.rglob("*") if f.is_file())


def test_tiny_build_splits_by_speaker(tiny_build):
    out, _ = tiny_build
    kws = out / "kws"
    meta = {m["id"]: m["subset"] for m in json.loads((kws / "speakers.json").read_text())}
    seen: dict[str, set[str]] = {}
    for subset in ("training", "validation", "testing"):
        ds = SpeechCommands(kws, subset, labels="all")
        speakers = {f.name.split("_nohash_")[0] for f in ds.files}
        assert all(meta[s] == subset for s in speakers)
        seen[subset] = speakers
    assert not (seen["training"] & seen["validation"]) and not (seen["training"] & seen["testing"])
    assert not (seen["validation"] & seen["testing"])
    assert set().union(*seen.values()) == set(meta)


def test_held_out_speakers_are_new_people_with_training_voice_variants(tiny_build):
    out, _ = tiny_build
    meta = json.loads((out / "kws" / "speakers.json").read_text())
    train = [m for m in meta if m["subset"] == "training"]
    for m in (m for m in meta if m["subset"] != "training"):
        same = [t for t in train if t["variant"] == m["variant"]]
        assert same and all(t["female"] == m["female"] for t in same)
        assert all((t["pitch"], t["rate"], t["formant_scale"]) != (m["pitch"], m["rate"], m["formant_scale"])
                   for t in same)


def test_held_out_variants_cycle_without_repetition_in_a_subset():
    parts = voices.split_speakers(voices.make_speakers(40, seed=0), seed=0)
    moved = voices.held_out_from_training_families(parts, seed=0)
    assert moved["training"] == parts["training"]
    train_variants = {s.variant for s in parts["training"]}
    for name in ("validation", "testing"):
        assert [s.id for s in moved[name]] == [s.id for s in parts[name]]
        assert {s.variant for s in moved[name]} <= train_variants
        assert len({s.variant for s in moved[name]}) == len(moved[name])
        assert [dataclasses.replace(s, variant="x") for s in moved[name]] == [
            dataclasses.replace(s, variant="x") for s in parts[name]]
    assert moved == voices.held_out_from_training_families(parts, seed=0)
    with pytest.raises(ValueError, match="no training speaker with female=True"):
        voices.held_out_from_training_families({"training": [s for s in parts["training"] if not s.female],
                                                "validation": parts["validation"], "testing": []})


def test_tiny_build_is_deterministic(tiny_build, tmp_path):
    out, _ = tiny_build
    bundle.generate_bundled_data(
        tmp_path, seed=0, speakers=8, words=("yes", "no", "bed"), repetitions=2, noise_seconds=1.0
    )
    files = sorted(p.relative_to(out) for p in out.rglob("*.wav"))
    assert files == sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.wav"))
    assert all((out / f).read_bytes() == (tmp_path / f).read_bytes() for f in files)


def test_generate_rejects_bad_options(tmp_path):
    with pytest.raises(ValueError, match="repetitions >= 1"):
        bundle.generate_bundled_data(tmp_path, repetitions=0)


# ---------------------------------------------------------------------------------- ensure
def _fake_generate(calls, fail=False):
    def generate(out, seed=0, progress=False, **kw):
        calls.append(seed)
        (out / "kws" / "yes").mkdir(parents=True)
        (out / "kws" / "yes" / "marker.txt").write_text(f"seed {seed} call {len(calls)}")
        if fail:
            raise KeyboardInterrupt("interrupted")
        (out / "noise_eval").mkdir()
        return bundle.DataSummary({}, {}, [], [], 0, 0.0)

    return generate


def test_ensure_builds_once_and_rebuilds_on_change(tmp_path, monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr(bundle, "generate_bundled_data", _fake_generate(calls))
    paths = bundle.ensure_bundled_data(tmp_path / "gen")
    assert paths == {"kws": tmp_path / "gen" / "kws", "noise_eval": tmp_path / "gen" / "noise_eval"}
    assert bundle.bundled_data_current(tmp_path / "gen", seed=0)
    bundle.ensure_bundled_data(tmp_path / "gen")
    assert calls == [0]  # up to date: not rebuilt
    bundle.ensure_bundled_data(tmp_path / "gen", seed=1)
    assert calls == [0, 1]
    assert (paths["kws"] / "yes" / "marker.txt").read_text() == "seed 1 call 2"
    (tmp_path / "gen" / "VERSION.json").write_text('{"data_version": 0, "seed": 1}')
    bundle.ensure_bundled_data(tmp_path / "gen", seed=1)
    bundle.ensure_bundled_data(tmp_path / "gen", seed=1, force=True)
    assert calls == [0, 1, 1, 1]
    assert not [p for p in (tmp_path / "gen").iterdir() if p.name.startswith(".building")]


def test_ensure_interrupted_build_leaves_no_partial_set(tmp_path, monkeypatch):
    root = tmp_path / "gen"
    calls: list[int] = []
    monkeypatch.setattr(bundle, "generate_bundled_data", _fake_generate(calls))
    bundle.ensure_bundled_data(root)
    monkeypatch.setattr(bundle, "generate_bundled_data", _fake_generate(calls, fail=True))
    with pytest.raises(KeyboardInterrupt):
        bundle.ensure_bundled_data(root, seed=5)
    assert (root / "kws" / "yes" / "marker.txt").read_text() == "seed 0 call 1"  # old set intact
    assert bundle.bundled_data_current(root, seed=0) and not bundle.bundled_data_current(root, seed=5)
    assert sorted(p.name for p in root.iterdir()) == [".lock", "VERSION.json", "kws", "noise_eval", "summary.json"]


def test_cli_make_data(tmp_path, monkeypatch, capsys):
    from audionoise.synth import noise_bank

    calls: list[int] = []
    bank_calls: list[int] = []
    monkeypatch.setattr(bundle, "generate_bundled_data", _fake_generate(calls))

    def fake_bank(out, seed=0, **kw):
        bank_calls.append(seed)
        out.mkdir(parents=True)
        return noise_bank.BankSummary({"stationary": 1, "babble": 1}, 12.0, 1000, 0.5)

    monkeypatch.setattr(noise_bank, "generate_training_noise", fake_bank)
    monkeypatch.setenv("AUDIONOISE_NOISE_BANK", str(tmp_path / "bank"))
    assert cli_main(["make-data", "--out", str(tmp_path / "g"), "--seed", "2"]) == 0
    assert "training noises: stationary 1, babble 1 clips" in capsys.readouterr().out
    assert cli_main(["make-data", "--out", str(tmp_path / "g"), "--seed", "2"]) == 0
    assert calls == [2] and bank_calls == [2]
    out = capsys.readouterr().out
    assert "up to date" in out and f"training-noise bank {tmp_path / 'bank'} is up to date" in out
    assert cli_main(["make-data", "--out", str(tmp_path / "g"), "--noise-bank", str(tmp_path / "b2")]) == 0
    assert bank_calls == [2, 0] and f"--noise-dir {tmp_path / 'b2'}" in capsys.readouterr().out
    assert cli_main(["make-data", "--out", str(tmp_path / "g"), "--no-noise-bank", "--seed", "7"]) == 0
    assert bank_calls == [2, 0]
    (tmp_path / "file").write_text("x")
    assert cli_main(["make-data", "--out", str(tmp_path / "file")]) == 2


def test_repo_bundle(tmp_path):
    written = bundle.write_repo_bundle(tmp_path, seed=0, seconds=0.5)
    names = sorted(str(p.relative_to(tmp_path)) for p in written)
    assert names == [
        "examples/stop.wav", "examples/yes.wav", "noise/babble.wav", "noise/fan.wav",
        "noise/hum_50hz.wav", "noise/pink.wav",
    ]
    for p in written:
        data, rate = sf.read(p)
        assert rate == SR and data.ndim == 1 and np.abs(data).max() > 0.05
    assert io.info(tmp_path / "examples" / "yes.wav").frames == SR


def test_telephone_channel_band_limits_and_keeps_rms(tmp_path):
    from audionoise.synth.shift import telephone, telephone_test_split

    sr = 16000
    t = torch.arange(sr) / sr
    tones = {f: torch.sin(2 * torch.pi * f * t)[None] for f in (100.0, 1000.0, 6000.0)}
    x = sum(tones.values())
    spec = torch.fft.rfft(telephone(x, sr)[0]).abs()  # 1 Hz bins
    assert spec[100] < 0.05 * spec[1000] and spec[6000] < 0.05 * spec[1000]  # outside the band: > 26 dB down
    assert float(telephone(x, sr).pow(2).mean()) == pytest.approx(float(x.pow(2).mean()), rel=1e-4)
    src = tmp_path / "src"
    (src / "yes").mkdir(parents=True)
    mix = 0.1 * (tones[100.0] + tones[1000.0])
    io.save(src / "yes" / "a.wav", mix, sr, subtype="FLOAT")
    io.save(src / "yes" / "b.wav", mix, sr, subtype="FLOAT")
    (src / "testing_list.txt").write_text("yes/a.wav\n")
    (src / "validation_list.txt").write_text("")
    dst = telephone_test_split(src, tmp_path / "dst")
    assert (dst / "yes" / "b.wav").read_bytes() == (src / "yes" / "b.wav").read_bytes()  # not a test clip
    y = io.load(dst / "yes" / "a.wav")[0]
    assert float(y.pow(2).mean()) == pytest.approx(float(mix.pow(2).mean()), rel=1e-3)  # RMS kept
    assert not torch.allclose(y, mix, atol=1e-3)  # the 100 Hz part is gone
