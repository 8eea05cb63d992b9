"""Pipelines: records, containers, TOML round trip, pickling, folder noise banks."""

import json
import pickle

import pytest
import soundfile as sf
import torch

import audionoise as an
from audionoise import functional as F

SR = 16000


def seeded(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.fixture
def noise_dir(tmp_path):
    d = tmp_path / "noise"
    (d / "sub").mkdir(parents=True)
    g = seeded(11)
    sf.write(d / "a.wav", (0.1 * torch.randn(8000, generator=g)).numpy(), SR)
    sf.write(d / "sub" / "b.flac", (0.1 * torch.randn(44100, 2, generator=g)).numpy(), 44100)
    sf.write(d / "silent.wav", torch.zeros(4000).numpy(), SR)
    (d / "notes.txt").write_text("not audio")
    return d


CONFIG = """
sample_rate = 16000

[[transforms]]
name = "BackgroundNoise"
noise = "noise"
min_snr_db = 0.0
max_snr_db = 20.0
p = 0.8

[[transforms]]
name = "OneOf"
weights = [1.0, 3.0]

[[transforms.transforms]]
name = "WhiteNoise"
min_snr_db = 10.0
max_snr_db = 30.0

[[transforms.transforms]]
name = "ColoredNoise"
min_snr_db = 10.0
max_snr_db = 30.0
min_exponent = 1.0
max_exponent = 2.0

[[transforms]]
name = "RandomApply"
p = 0.5
transform = { name = "TimeMask", max_width_s = 0.05, num_masks = 2 }

[[transforms]]
name = "TimeShift"
max_shift_s = 0.1
mode = "pad"
"""


@pytest.fixture
def config_path(tmp_path, noise_dir):
    p = tmp_path / "pipe.toml"
    p.write_text(CONFIG)
    return p


def test_noise_bank_decodes_each_file_once_and_resamples(noise_dir, monkeypatch):
    import audionoise.io as aio

    calls = []
    real_load = aio.load
    monkeypatch.setattr(aio, "load", lambda path, *a, **k: calls.append(str(path)) or real_load(path, *a, **k))
    with pytest.warns(an.NoiseBankWarning, match="silent.wav: all-zero"):
        bank = an.NoiseBank.from_folder(noise_dir, SR, crossfade_s=0)  # clips as decoded (no seam cross-fade)
    assert sorted(calls) == sorted(str(noise_dir / n) for n in ("a.wav", "silent.wav", "sub/b.flac"))
    assert bank.names == ["a.wav", "sub/b.flac"] and bank.skipped[0]["clip"] == "silent.wav"
    assert bank.lengths.tolist() == [8000, 16000]  # 1 s at 44.1 kHz -> 16000 samples
    t = an.BackgroundNoise(bank, 0, 10, sample_rate=SR)
    for _ in range(3):
        t(torch.randn(4, 20000), generator=seeded())
    assert len(calls) == 3  # mixing never reads from disk


def test_noise_bank_cache_is_memory_mapped_and_equal(noise_dir, tmp_path):
    a = an.NoiseBank.from_folder(noise_dir, SR, cache_dir=tmp_path / "cache")
    b = an.NoiseBank.from_folder(noise_dir, SR, cache_dir=tmp_path / "cache")
    assert torch.equal(a.data, b.data) and a.names == b.names
    assert len(list((tmp_path / "cache").glob("noisebank-*.npy"))) == 1


def test_noise_folder_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        an.NoiseBank.from_folder(tmp_path / "missing", SR)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no audio file"):
        an.NoiseBank.from_folder(tmp_path / "empty", SR)


def test_records_one_list_per_example_with_every_leaf(config_path):
    pipe = an.load_pipeline(config_path)
    x = torch.randn(6, SR, generator=seeded(1))
    y, records = pipe(x, generator=seeded(2), return_params=True)
    assert len(records) == 6
    names = [r["transform"] for r in records[0]]
    assert names == ["BackgroundNoise", "WhiteNoise", "ColoredNoise", "TimeMask", "TimeShift"]
    for rows in records:
        assert sum(r["applied"] for r in rows[1:3]) == 1  # OneOf: exactly one branch
    json.dumps(records)
    assert torch.isfinite(y).all()


def test_one_of_weights_and_random_apply_rates():
    pipe = an.Compose([an.OneOf([an.Gain(0, 0), an.Gain(1, 1)], weights=[1, 3]),
                       an.RandomApply(an.Gain(2, 2), p=0.25)])
    _, records = pipe(torch.ones(4000, 4), generator=seeded(), return_params=True)
    second = sum(r[1]["applied"] for r in records) / 4000
    random_apply = sum(r[2]["applied"] for r in records) / 4000
    assert second == pytest.approx(0.75, abs=0.03) and random_apply == pytest.approx(0.25, abs=0.03)


def test_compose_probability_applies_whole_chain_or_nothing():
    pipe = an.Compose([an.Gain(-6, -6), an.WhiteNoise(0, 0)], p=0.5)
    x = torch.randn(64, 500, generator=seeded())
    y, records = pipe(x, generator=seeded(1), return_params=True)
    for i, rows in enumerate(records):
        assert rows[0]["applied"] == rows[1]["applied"]
        assert torch.equal(y[i], x[i]) != rows[0]["applied"]


def test_save_load_round_trip_gives_identical_output(config_path, tmp_path):
    pipe = an.load_pipeline(config_path)
    out = tmp_path / "saved" / "again.toml"
    out.parent.mkdir()
    an.save_pipeline(pipe, out)
    again = an.load_pipeline(out)
    x = torch.randn(4, 2, 12000, generator=seeded(3))
    lengths = torch.tensor([12000, 9000, 100, 12000])
    assert torch.equal(pipe(x, lengths, seeded(4)), again(x, lengths, seeded(4)))
    assert an.pipeline_config(again)["transforms"][0]["noise"] == str((tmp_path / "noise"))


def test_pickle_round_trip_gives_identical_output(config_path):
    pipe = an.load_pipeline(config_path)
    clone = pickle.loads(pickle.dumps(pipe))
    x = torch.randn(3, SR, generator=seeded(5))
    assert torch.equal(pipe(x, generator=seeded(6)), clone(x, generator=seeded(6)))


def test_pipeline_moves_with_to(config_path):
    pipe = an.load_pipeline(config_path).double()
    y = pipe(torch.randn(2, 4000, dtype=torch.float64), generator=seeded())
    assert y.dtype == torch.float64


def test_snr_exact_through_a_pipeline(config_path):
    pipe = an.Compose([an.Gain(-20, 0), an.WhiteNoise(-5, 25)])
    x = torch.randn(8, 4000, generator=seeded(7))
    y, rec = pipe(x, generator=seeded(8), return_params=True)
    scaled = torch.stack([x[i] * 10 ** (rec[i][0]["gain_db"] / 20) for i in range(8)])
    target = torch.tensor([rec[i][1]["snr_db"] for i in range(8)])
    assert float((F.snr_db(scaled, y - scaled) - target).abs().max()) < 0.01


@pytest.mark.parametrize("bad,match", [
    ({"transforms": [{"name": "Flanger"}]}, r"transforms\[0\]\.name: unknown transform 'Flanger'; allowed: .*WhiteNoise"),
    ({"transforms": [{"name": "WhiteNoise", "min_snr_db": 0, "max_snr_db": 1, "snr": 3}]},
     r"unknown field\(s\) \['snr'\] for WhiteNoise; allowed fields: .*min_snr_db"),
    ({"transforms": [{"name": "WhiteNoise", "min_snr_db": 0}]}, r"missing required field\(s\) \['max_snr_db'\]"),
    ({"transforms": [{"name": "TimeMask", "max_width_s": 0.1}]}, "needs sample_rate"),
    ({"transforms": [{"name": "WhiteNoise", "min_snr_db": 9, "max_snr_db": 1}]}, r"transforms\[0\]: WhiteNoise: min_snr_db \(9\) must be <= max_snr_db \(1\)"),
    ({"sample_rate": 16000, "transform": []}, r"unknown top-level field\(s\) \['transform'\]"),
    ({"sample_rate": 16000, "transforms": [{"name": "BackgroundNoise", "noise": "nowhere", "min_snr_db": 0,
                                            "max_snr_db": 1}]}, "noise: file or folder 'nowhere' not found"),
])
def test_config_errors_name_the_field(bad, match):
    with pytest.raises(ValueError, match=match):
        an.load_pipeline(bad)


def test_config_file_errors(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        an.load_pipeline(tmp_path / "none.toml")
    (tmp_path / "bad.toml").write_text("[[transforms]\nname=")
    with pytest.raises(ValueError, match="not valid TOML"):
        an.load_pipeline(tmp_path / "bad.toml")


def test_spectrogram_pipeline():
    pipe = an.Compose([an.SpecFreqMask(5, 2), an.SpecTimeMask(10, 2)])
    y, rec = pipe(torch.ones(3, 40, 101), torch.tensor([101, 50, 10]), seeded(), return_params=True)
    assert y.shape == (3, 40, 101) and (y[1, :, 50:] == 1).all() and len(rec) == 3


def test_sample_rate_override_rebuilds_every_rate(config_path):
    pipe = an.load_pipeline(config_path, sample_rate=8000)
    rates = {t.sample_rate for t in pipe.modules() if hasattr(t, "sample_rate")}
    assert rates == {8000}
    bank = pipe.transforms[0].bank
    # resampled to the new rate (4000 and 8000 samples), minus the 0.01 s seam cross-fade of each looped clip
    assert bank.sample_rate == 8000 and bank.lengths.tolist() == [4000 - 80, 8000 - 80]
