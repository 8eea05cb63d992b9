"""augment --stems: noisy = clean + noise (exactly in PCM, to rounding in float), SNR from the files equals the
record, the noisy file is the one written without --stems, refusals in one line; the enhancement recipe."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import audionoise as an
from audionoise.offline import augment
from audionoise.offline.pipelines import OfflineUsageError
from audionoise.offline.stems import augment_with_stems, check, stem_names

SR = 16000


def seeded(seed):
    return torch.Generator().manual_seed(seed)


@pytest.fixture
def corpus(tmp_path):
    g = seeded(0)
    src = tmp_path / "in"
    (src / "spk").mkdir(parents=True)
    for i in range(3):
        sf.write(src / "spk" / f"u{i}.wav", (0.2 * torch.randn(8000, generator=g)).numpy(), SR, subtype="PCM_16")
    sf.write(src / "f.wav", (0.3 * torch.randn(2, 6000, generator=g)).numpy().T, SR, subtype="FLOAT")
    noise = tmp_path / "noise"
    noise.mkdir()
    sf.write(noise / "n.wav", (0.5 * torch.randn(20000, generator=g)).numpy(), SR)
    return src, noise


def config(noise, room=True):
    transforms = [{"name": "Reverb", "min_rt60": 0.2, "max_rt60": 0.5}] if room else []
    transforms += [{"name": "PeakingEQ", "min_gain_db": -6.0, "max_gain_db": 6.0},
                   {"name": "BackgroundNoise", "noise": str(noise), "min_snr_db": -5.0, "max_snr_db": 20.0}]
    return {"sample_rate": SR, "transforms": transforms}


def rows(out):
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def test_stems_add_up_and_the_snr_from_the_files_is_the_record(corpus, tmp_path):
    src, noise = corpus
    out, plain = tmp_path / "out", tmp_path / "plain"
    assert augment(src, out, config(noise), copies=2, stems=True, progress=False).exit_status == 0
    augment(src, plain, config(noise), copies=2, progress=False, engine="torch")
    lines = rows(out)
    assert len(lines) == 8
    for r in lines:
        noisy_path, clean_path, noise_path = (out / r[k] for k in ("audio_filepath", "clean_filepath", "noise_filepath"))
        assert (r["clean_filepath"], r["noise_filepath"]) == stem_names(r["audio_filepath"])
        info = sf.info(noisy_path)
        assert sf.info(clean_path).subtype == sf.info(noise_path).subtype == info.subtype
        if info.subtype == "PCM_16":  # read back as integers: exactly noisy = clean + noise
            y, c, n = (sf.read(p, dtype="int32")[0] for p in (noisy_path, clean_path, noise_path))
            assert np.array_equal(y, c + n)
        else:
            y, c, n = (sf.read(p, dtype="float32")[0] for p in (noisy_path, clean_path, noise_path))
            assert np.abs(y - (c + n)).max() <= 1e-6
        yf, cf, nf = (sf.read(p, dtype="float64")[0] for p in (noisy_path, clean_path, noise_path))
        snr = 10 * np.log10(np.mean(cf ** 2) / np.mean(nf ** 2))
        record = next(t for t in r["transforms"] if t["transform"] == "BackgroundNoise")
        assert snr == pytest.approx(record["snr_db"], abs=0.01)
        same, _ = sf.read(plain / r["audio_filepath"], dtype="float64")
        assert np.array_equal(same, yf)  # the noisy file is the output written without --stems


def test_loud_mixtures_scaled_to_full_scale_keep_their_stems_consistent(corpus, tmp_path):
    src, noise = corpus
    cfg = {"sample_rate": SR, "transforms": [{"name": "Gain", "min_db": 12.0, "max_db": 12.0},
                                             {"name": "WhiteNoise", "min_snr_db": 0.0, "max_snr_db": 0.0}]}
    out = tmp_path / "out"
    augment(src / "spk", out, cfg, stems=True, progress=False)
    for r in rows(out):
        assert r["normalized_db"] < 0  # scaled down as a whole
        y, c, n = (sf.read(out / r[k], dtype="int32")[0] for k in ("audio_filepath", "clean_filepath", "noise_filepath"))
        assert np.array_equal(y, c + n)
        snr = 10 * np.log10(np.mean(c.astype(float) ** 2) / np.mean(n.astype(float) ** 2))
        assert snr == pytest.approx(0.0, abs=0.01)


def test_pipelines_without_stems_are_refused_in_one_line(corpus, tmp_path):
    src, noise = corpus
    after = {"transforms": [{"name": "WhiteNoise", "min_snr_db": 0, "max_snr_db": 10},
                            {"name": "LowPass", "min_cutoff_hz": 1000, "max_cutoff_hz": 2000}], "sample_rate": SR}
    with pytest.raises(OfflineUsageError, match="LowPass comes after the additive noise"):
        augment(src, tmp_path / "a", after, stems=True, progress=False)
    with pytest.raises(OfflineUsageError, match="adds no noise"):
        augment(src, tmp_path / "b", {"transforms": [{"name": "Gain", "min_db": 0, "max_db": 1}]}, stems=True,
                progress=False)
    assert not (tmp_path / "a").exists() or not any((tmp_path / "a").rglob("*.wav"))
    check(an.Compose([an.Reverb(sample_rate=SR), an.OneOf([an.WhiteNoise(0, 1), an.Mix(0, 5)])]))  # fine


def test_cli_stems_and_refusal(corpus, tmp_path, capsys):
    from audionoise.cli import main

    src, noise = corpus
    toml = tmp_path / "p.toml"
    toml.write_text('sample_rate = 16000\n[[transforms]]\nname = "WhiteNoise"\nmin_snr_db = 0\nmax_snr_db = 5\n'
                    '[[transforms]]\nname = "TimeMask"\nmax_width_s = 0.1\n')
    assert main(["augment", str(src), str(tmp_path / "o"), "--config", str(toml), "--stems", "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "TimeMask comes after the additive noise" in err[0]
    assert main(["augment", str(src), str(tmp_path / "o2"), "--noise", str(noise), "--snr", "5", "--stems",
                 "-q"]) == 0
    assert all("clean_filepath" in r for r in rows(tmp_path / "o2"))


def test_augment_with_stems_is_the_pipeline_call():
    pipe = an.Compose([an.Gain(-3, 3), an.BandStop(sample_rate=SR), an.WhiteNoise(0, 10), an.Mix(0, 5)], p=0.8)
    x = torch.randn(4, 2, 3000, generator=seeded(1))
    y, records = pipe(x, generator=seeded(2), return_params=True)
    noisy, clean, lengths, recs = augment_with_stems(pipe, x, seeded(2))
    assert torch.equal(noisy, y) and recs == records and lengths is None
    assert torch.equal(clean, an.Compose([an.Gain(-3, 3), an.BandStop(sample_rate=SR)], p=0.8)(x, generator=seeded(2)))


def test_enhancement_recipe_smoke(corpus, tmp_path):
    src, noise = corpus
    spec = importlib.util.spec_from_file_location(
        "recipe_enhancement_data", Path(__file__).resolve().parents[1] / "recipes" / "enhancement_data.py")
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    out = tmp_path / "enh"
    assert recipe.main(["--clean", str(src), "--noise", str(noise), "--out", str(out), "--snr", "0", "10",
                        "--valid-fraction", "0.25", "--rooms", "0.5", "-q"]) == 0
    train, valid = rows(out / "train"), rows(out / "valid")
    assert len(train) == 3 and len(valid) == 1
    for r in train + valid:
        snr = next(t["snr_db"] for t in r["augmentation"]["transforms"]
                   if t["transform"] == "BackgroundNoise" and t["applied"])
        assert snr in (0.0, 10.0)
        y, c, n = (sf.read(out / ("train" if r in train else "valid") / r[k], dtype="float64")[0]
                   for k in ("audio_filepath", "clean_filepath", "noise_filepath"))
        assert np.abs(y - (c + n)).max() < 1e-6
