"""The NumPy engine of the offline job: no torch import, the injectors' maths, its own documented random numbers."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import audionoise
from audionoise import io
from audionoise.functional.loop import loop_windows, make_loopable
from audionoise.offline import OfflineUsageError, augment, output_seed, quick_config
from audionoise.offline import numpy_engine as ne
from audionoise.offline.numpy_steps.background_noise import decode_bank, window
from offline_helpers import content, jsonl

SR = 16000


def _speech_like(n: int, rng: np.random.Generator, channels: int = 1) -> np.ndarray:
    t = np.arange(n) / SR
    x = 0.2 * np.sin(2 * np.pi * (120 + 80 * rng.random()) * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    return np.stack([x * (1 - 0.3 * c) for c in range(channels)]).astype(np.float32)


@pytest.fixture
def folders(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(12):
        channels = 2 if i % 4 == 3 else 1
        p = tmp_path / "in" / f"spk{i % 3}" / f"u{i:02d}.wav"
        p.parent.mkdir(parents=True, exist_ok=True)
        sf.write(p, _speech_like(4000 + 97 * i, rng, channels).T, SR, subtype="FLOAT")  # FLOAT: no rounding
    (tmp_path / "noise").mkdir()
    sf.write(tmp_path / "noise" / "long.wav", (0.05 * rng.standard_normal(3 * SR)).astype(np.float32), SR)
    sf.write(tmp_path / "noise" / "short.wav", (0.05 * rng.standard_normal(1500)).astype(np.float32), SR)
    return tmp_path


def _config(noise: Path, **extra) -> dict:
    return {"sample_rate": SR, "transforms": [
        {"name": "BackgroundNoise", "noise": str(noise), "min_snr_db": 0.0, "max_snr_db": 20.0, "p": 0.8,
         "crossfade_s": 0.0, **extra},
        {"name": "WhiteNoise", "min_snr_db": 10.0, "max_snr_db": 30.0, "p": 0.7},
        {"name": "TimeMask", "max_width_s": 0.05, "num_masks": 2, "p": 0.9},
        {"name": "Gain", "min_db": -6.0, "max_db": 0.0, "p": 0.5}]}


def _power(v: np.ndarray) -> float:
    v = v.astype(np.float64).ravel()
    return float(np.dot(v, v)) / v.size


def test_quick_flags_run_without_importing_torch(folders):
    script = textwrap.dedent(f"""
        import sys
        from audionoise.offline import augment, quick_config
        cfg = quick_config(noise={str(folders / 'noise')!r}, snr=(0, 20), white_snr=(10, 30), time_mask=0.1)
        s = augment({str(folders / 'in')!r}, {str(folders / 'out')!r}, cfg, copies=2, workers=2, progress=False)
        assert s.written == 24 and s.failed == 0, s
        assert "torch" not in sys.modules, "torch was imported"
    """)
    subprocess.run([sys.executable, "-c", script], check=True, cwd=Path(__file__).parent)
    rows = jsonl(folders / "out" / "manifest.jsonl")
    assert len(rows) == 24 and {r["engine"] for r in rows} == {"numpy"}
    assert json.loads((folders / "out" / "run.json").read_text())["engine"] == "auto"


def test_each_step_is_the_injectors_maths(folders):
    """One step at a time, each output against its record in closed form."""
    bank = decode_bank(str(folders / "noise"), SR, 0.0, None, "t")
    for name, step in [("white", {"name": "WhiteNoise", "min_snr_db": 5.0, "max_snr_db": 25.0}),
                       ("background", {"name": "BackgroundNoise", "noise": str(folders / "noise"),
                                       "min_snr_db": -5.0, "max_snr_db": 15.0, "crossfade_s": 0.0}),
                       ("mask", {"name": "TimeMask", "max_width_s": 0.1, "num_masks": 3}),
                       ("gain", {"name": "Gain", "min_db": -12.0, "max_db": 12.0})]:
        s = augment(folders / "in", folders / name, {"sample_rate": SR, "transforms": [step]}, copies=2,
                    progress=False)
        assert s.written == 24
        for row in jsonl(folders / name / "manifest.jsonl"):
            x = io.load_array(folders / "in" / row["input"])[0]
            y = io.load_array(folders / name / row["output"])[0]
            rec = row["transforms"][0]
            assert rec["applied"] and row["engine"] == "numpy"
            d = y.astype(np.float64) - x
            if name == "white":
                assert abs(10 * math.log10(_power(x) / _power(d)) - rec["snr_db"]) < 1e-3
                assert 5.0 <= rec["snr_db"] <= 25.0 and rec["noise_added"]
                if x.shape[0] == 2:  # each channel its own noise
                    assert not np.allclose(d[0], d[1])
            elif name == "background":
                w = window(bank, rec["clip"], rec["offset"], x.shape[1]).astype(np.float64)
                g = math.sqrt(_power(x) / _power(w)) * 10 ** (-rec["snr_db"] / 20)
                assert np.allclose(d, g * w[None], atol=1e-6)  # the same window on every channel
                assert abs(rec["snr_db_actual"] - rec["snr_db"]) < 1e-4 and rec["clip_name"] == bank.names[rec["clip"]]
            elif name == "mask":
                keep = np.ones(x.shape[1], bool)
                for start, width in zip(rec["starts"], rec["widths"]):
                    assert 0 <= width <= 1600 and 0 <= start <= x.shape[1] - width
                    keep[start:start + width] = False
                assert np.array_equal(y[:, ~keep], np.zeros_like(y[:, ~keep])) and np.array_equal(y[:, keep],
                                                                                                   x[:, keep])
            else:
                assert np.array_equal(y, x * np.float32(10 ** (rec["gain_db"] / 20)))


def test_outputs_follow_the_documented_generator(folders):
    """Each output is NumpyPipeline(x, output_seed(seed, key, k)) (the TorchStream of that seed), whatever the
    workers."""
    cfg = _config(folders / "noise")
    augment(folders / "in", folders / "a", cfg, copies=3, seed=5, progress=False)
    pipe = ne.plan(cfg, SR)
    for row in jsonl(folders / "a" / "manifest.jsonl"):
        assert row["seed"] == output_seed(5, row["input"], row["copy"])
        x = io.load_array(folders / "in" / row["input"])[0]
        y, records = pipe(x, row["seed"])
        assert np.array_equal(io.load_array(folders / "a" / row["output"])[0], y)
        assert json.loads(json.dumps(records)) == row["transforms"]
    applied = {(r["transforms"][0]["applied"], r["transforms"][3]["applied"]) for r in jsonl(folders / "a" /
                                                                                            "manifest.jsonl")}
    assert len(applied) > 2  # the coins really differ across outputs


def test_workers_shards_and_resume_give_identical_bytes(folders):
    cfg = _config(folders / "noise")
    augment(folders / "in", folders / "one", cfg, copies=2, progress=False)
    augment(folders / "in", folders / "two", cfg, copies=2, workers=2, progress=False)
    for i in range(3):
        augment(folders / "in", folders / "shards", cfg, copies=2, shard=(i, 3), progress=False)
    augment(folders / "in", folders / "resumed", cfg, copies=2, progress=False)
    removed = sorted((folders / "resumed").rglob("*_aug1.wav"))[:5]
    for p in removed:
        p.unlink()
    s = augment(folders / "in", folders / "resumed", cfg, copies=2, resume=True, progress=False)
    assert s.written == 5
    ref = content(folders / "one")
    assert content(folders / "two") == ref and content(folders / "resumed") == ref
    shards = content(folders / "shards")
    assert {k: v for k, v in shards.items() if k.endswith(".wav")} == {k: v for k, v in ref.items()
                                                                       if k.endswith(".wav")}


def test_torch_engine_on_request_equals_the_library_call(folders):
    cfg = _config(folders / "noise")
    augment(folders / "in", folders / "t", cfg, progress=False, engine="torch")
    pipe = audionoise.load_pipeline(cfg)
    rows = jsonl(folders / "t" / "manifest.jsonl")
    assert all("engine" not in r for r in rows)
    assert json.loads((folders / "t" / "run.json").read_text())["engine"] == "torch"
    for row in rows[:4]:
        x, _ = io.load(folders / "in" / row["input"])
        y = pipe(x[None], generator=torch.Generator().manual_seed(row["seed"]))[0]
        assert torch.equal(io.load(folders / "t" / row["output"])[0], y)
    with pytest.raises(OfflineUsageError, match="engine"):  # resuming with the other engine would mix them
        augment(folders / "in", folders / "t", cfg, resume=True, progress=False)
    with pytest.raises(OfflineUsageError, match="engine must be one of"):
        augment(folders / "in", folders / "bad", cfg, progress=False, engine="jax")


@pytest.mark.parametrize("change", [
    {"snr_reference": "active"},            # an option the NumPy engine does not implement
    {"num_sources": 2},
    {"min_snr_db": 30.0},                   # min > max: torch words the error
])
def test_other_configs_go_to_torch(folders, change):
    cfg = _config(folders / "noise", **change)
    assert ne.plan(cfg, SR) is None
    if change.get("min_snr_db") == 30.0:
        with pytest.raises(OfflineUsageError, match="min_snr_db"):
            augment(folders / "in", folders / "o", cfg, progress=False)
        return
    augment(folders / "in", folders / "o", cfg, progress=False)
    assert all("engine" not in r for r in jsonl(folders / "o" / "manifest.jsonl"))


def test_noise_at_another_rate_or_a_bad_noise_file_goes_to_torch(folders):
    sf.write(folders / "noise" / "hifi.wav", np.zeros((100, 1), np.float32) + 0.01, 44100)
    assert ne.plan(_config(folders / "noise"), SR) is None  # resampling is torchaudio's
    (folders / "noise" / "hifi.wav").unlink()
    sf.write(folders / "noise" / "silent.wav", np.zeros((100, 1), np.float32), SR)
    assert ne.plan(_config(folders / "noise"), SR) is None  # torch skips it with a warning
    (folders / "noise" / "silent.wav").unlink()
    assert ne.plan(_config(folders / "noise"), SR) is not None
    assert ne.plan({"transforms": [{"name": "ColoredNoise", "min_snr_db": 0, "max_snr_db": 1}]}, SR) is None
    assert ne.plan({"transforms": [{"name": "OneOf", "transforms": []}]}, SR) is None


def test_bank_equals_the_torch_bank(folders):
    """Decoding, mono mix-down, loopable clips and circular windows: the NoiseBank's, value for value."""
    sf.write(folders / "noise" / "stereo.wav", (0.05 * np.random.default_rng(3).standard_normal((5000, 2)))
             .astype(np.float32), SR)
    ours = decode_bank(str(folders / "noise"), SR, 0.01, None, "t")
    ref = audionoise.NoiseBank.from_folder(folders / "noise", SR, cache_dir=False)
    assert ours.names == ref.names and ours.sizes.tolist() == ref.clip_lengths.tolist()
    assert np.array_equal(ours.data, ref.data.numpy())
    for clip, offset, length in [(0, 5, 40000), (1, 1400, 4000), (2, 4000, 12000), (1, 0, 3)]:
        got = window(ours, clip, offset, length)
        want = loop_windows(ref.data, ref.clip_starts, ref.clip_lengths, torch.tensor([clip]),
                            torch.tensor([offset]), length)[0]
        assert np.array_equal(got, want.numpy())
    clip = np.random.default_rng(1).standard_normal(999).astype(np.float32)
    from audionoise.kernels.loopable import make_loopable as make_loopable_np

    assert np.array_equal(make_loopable_np(clip, 100), make_loopable(torch.from_numpy(clip), 100).numpy())


def test_print_config_and_errors_stay_the_same_with_quick_flags(folders):
    cfg = quick_config(white_snr=(10, 30))
    assert ne.plan(cfg, SR) is not None
    s = augment(folders / "in", folders / "w", cfg, progress=False)
    assert s.written == 12 and s.failed == 0


def test_messy_folder_same_outcome_as_the_torch_engine(folders):
    """Broken, odd and exotic files: the same error lines, outputs with the same properties, under both engines."""
    from messy_audio import build_messy_folder

    build_messy_folder(folders / "messy")
    cfg = _config(folders / "noise")
    a = augment(folders / "messy", folders / "np", cfg, copies=2, progress=False)
    b = augment(folders / "messy", folders / "pt", cfg, copies=2, progress=False, engine="torch")
    assert (a.written, a.failed, a.skipped, a.unsupported) == (b.written, b.failed, b.skipped, b.unsupported)
    assert a.written > 10 and a.failed > 3
    assert jsonl(folders / "np" / "errors.jsonl") == jsonl(folders / "pt" / "errors.jsonl")
    fields = ("output", "input", "copy", "seed", "sample_rate", "frames", "channels", "subtype")
    rows_np = [{k: r[k] for k in fields} for r in jsonl(folders / "np" / "manifest.jsonl")]
    assert rows_np == [{k: r[k] for k in fields} for r in jsonl(folders / "pt" / "manifest.jsonl")]
    engines = {r.get("engine") for r in jsonl(folders / "np" / "manifest.jsonl")}
    assert "numpy" in engines  # files at other rates than the bank's go to torch (the bank needs resampling)


def test_a_folder_from_before_the_numpy_engine_resumes_with_the_torch_engine(folders):
    cfg = _config(folders / "noise")
    augment(folders / "in", folders / "old", cfg, progress=False, engine="torch")
    run = folders / "old" / "run.json"
    settings = json.loads(run.read_text())
    del settings["engine"]  # what earlier versions wrote
    run.write_text(json.dumps(settings, sort_keys=True, indent=1) + "\n")
    assert augment(folders / "in", folders / "old", cfg, resume=True, progress=False, engine="torch").written == 0
    with pytest.raises(OfflineUsageError, match="engine.* differ.*--engine torch"):
        augment(folders / "in", folders / "old", cfg, resume=True, progress=False)


def test_a_folder_of_the_numpy_engine_before_its_torch_stream_is_not_resumed(folders):
    cfg = _config(folders / "noise")
    augment(folders / "in", folders / "old", cfg, progress=False)
    run = folders / "old" / "run.json"
    settings = json.loads(run.read_text())
    del settings["numpy_stream"]  # what versions whose NumPy engine drew from PCG64 wrote
    run.write_text(json.dumps(settings, sort_keys=True, indent=1) + "\n")
    with pytest.raises(OfflineUsageError, match="numpy_stream differ"):
        augment(folders / "in", folders / "old", cfg, resume=True, progress=False)


def test_blas_runs_on_one_thread_during_a_job_and_is_restored(folders, monkeypatch):
    from audionoise import runtime
    from audionoise.offline import job

    before = runtime.set_blas_threads(2)
    if before is None:
        pytest.skip("NumPy here does not use a loaded OpenBLAS (nothing to set)")
    seen = []
    real = job._augment

    def spy(*args, **kwargs):
        get, _ = runtime._openblas()
        seen.append(int(get()))
        return real(*args, **kwargs)

    monkeypatch.setattr(job, "_augment", spy)
    try:
        augment(folders / "in", folders / "out", _config(folders / "noise"), progress=False)
        get, _ = runtime._openblas()
        assert seen == [1] and int(get()) == 2
    finally:
        runtime.set_blas_threads(before)  # the process's own setting for the other tests


def test_numpy_and_torch_engines_draw_the_same_parameters(folders):
    """--engine auto (NumPy) and --engine torch: the same records for every output (parameters drawn from the same
    stream by the same kernels), the audio equal to float32 rounding of the noise (torch's vectorised log/cos/sin)."""
    cfg = _config(folders / "noise")
    augment(folders / "in", folders / "np", cfg, copies=2, seed=3, progress=False)
    augment(folders / "in", folders / "pt", cfg, copies=2, seed=3, progress=False, engine="torch")
    rows_np = {r["output"]: r for r in jsonl(folders / "np" / "manifest.jsonl")}
    rows_pt = {r["output"]: r for r in jsonl(folders / "pt" / "manifest.jsonl")}
    assert rows_np.keys() == rows_pt.keys() and len(rows_np) == 24
    for out, a in rows_np.items():
        b = rows_pt[out]
        assert a["engine"] == "numpy" and b.get("engine", "torch") == "torch"
        for ra, rb in zip(a["transforms"], b["transforms"]):
            for k, v in ra.items():
                if k == "snr_db_actual":
                    assert v == pytest.approx(rb[k], abs=1e-4)
                else:
                    assert rb[k] == v, (out, ra["transform"], k)
        ya = io.load_array(folders / "np" / out)[0]
        yb = io.load_array(folders / "pt" / out)[0]
        np.testing.assert_allclose(ya, yb, rtol=0, atol=2e-6)
