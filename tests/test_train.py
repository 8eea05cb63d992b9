"""Trainer: config parsing, run files, exact resume, determinism, workers, errors, DDP under torchrun."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from audionoise import io
from audionoise.cli import main as cli_main
from audionoise.kws.augment import build_augmentation, default_pipeline_config, resolve_noise_dir
from audionoise.kws.train import TrainConfig, load_train_config, train

from kws_tiny_data import make_tiny_speech_commands

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_speech_commands(tmp_path_factory.mktemp("tiny"))


def _cfg(data, out, **kw):
    base = dict(data=str(data), out=str(out), epochs=2, batch_size=16, width=0.25, clip_seconds=0.5, num_workers=0,
                progress=False, preload=True, lr=3e-3, device="cpu")
    base.update(kw)
    return TrainConfig(**base)


def _weights(run: Path, name="last.pt"):
    return torch.load(run / name, weights_only=True)


def test_run_writes_checkpoints_logs_and_metrics(tiny, tmp_path):
    summary = train(_cfg(tiny["kws"], tmp_path / "run"))
    run = tmp_path / "run"
    for name in ("last.pt", "best.pt", "train.log", "metrics.json", "config.toml", "augmentation.json"):
        assert (run / name).is_file(), name
    metrics = json.loads((run / "metrics.json").read_text())
    assert [e["epoch"] for e in metrics["epochs"]] == [1, 2]
    assert metrics["labels"][-2:] == ["_silence_", "_unknown_"] and len(metrics["labels"]) == 12
    assert metrics["params"] == summary["params"] > 0
    for e in metrics["epochs"]:
        assert 0.0 <= e["val_acc"] <= 1.0 and e["val_n"] == 12  # 10 words + 1 silence + 1 unknown
        # on the CPU the augmentation runs in the loader (off the step): none in the step, some per batch
        assert e["aug_fraction"] == 0.0 and e["aug_ms_per_step"] == 0.0 and e["step_ms"] > 0
        assert e["worker_aug_ms_per_batch"] > 0 and 0.0 <= e["data_wait_fraction"] < 1.0
    assert summary["best_val_acc"] == max(e["val_acc"] for e in metrics["epochs"])
    log = (run / "train.log").read_text()
    assert "epoch 1/2" in log and "epoch 2/2" in log
    # the resolved auto curriculum is logged and saved: half an epoch clean, so epoch 2 is the one with noise
    plan = json.loads((run / "run.json").read_text())
    assert plan["curriculum"] == "auto" and plan["clean_epochs"] == 0.5 and plan["clean_fraction"] == 0.25
    assert plan["clean_share_per_epoch"] == [1.0, 0.25] and plan["augmented_epochs"] == 1
    assert "curriculum (auto): 0.5 clean epoch(s)" in log and "1 of 2 epoch(s) get noise" in log
    assert "no waveform augmentation" not in log
    ckpt = _weights(run)
    assert ckpt["epoch"] == 2 and ckpt["labels"] == metrics["labels"]
    assert [t["name"] for t in ckpt["augmentation"]["transforms"]][:2] == ["TimeShift", "BackgroundNoise"]
    assert "per batch" in ckpt["augment_seeding"] and "aug_generator_states" not in ckpt


def test_two_epochs_equal_one_epoch_plus_resume(tiny, tmp_path):
    train(_cfg(tiny["kws"], tmp_path / "full"))
    train(_cfg(tiny["kws"], tmp_path / "split", stop_after=1))
    assert _weights(tmp_path / "split")["epoch"] == 1
    train(_cfg(tiny["kws"], tmp_path / "split", resume=True))
    a, b = _weights(tmp_path / "full"), _weights(tmp_path / "split")
    assert b["epoch"] == 2
    for part in ("model", "train_model"):  # weight average and trained weights
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), (part, k)
    assert a["history"][1]["val_acc"] == b["history"][1]["val_acc"]
    # resuming a finished run is a no-op
    summary = train(_cfg(tiny["kws"], tmp_path / "split", resume=True))
    assert summary["epochs_done"] == 2


def test_seed_changes_the_run_and_workers_do_not(tiny, tmp_path):
    train(_cfg(tiny["kws"], tmp_path / "w0", epochs=1, augment="none"))
    train(_cfg(tiny["kws"], tmp_path / "w2", epochs=1, augment="none", num_workers=2, preload=False))
    train(_cfg(tiny["kws"], tmp_path / "s1", epochs=1, augment="none", seed=1))
    a, b, c = (_weights(tmp_path / n)["model"] for n in ("w0", "w2", "s1"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["net.prologue.0.weight"], c["net.prologue.0.weight"])


def test_augmented_batches_do_not_depend_on_workers(tiny, tmp_path, capsys):
    # batches are augmented in DataLoader workers, each seeded by (seed, epoch, batch index): 0 and 2 workers
    # give bit-identical first-epoch weights with the default augmentation (noise, shifts, warps, masks)
    train(_cfg(tiny["kws"], tmp_path / "a0", epochs=1, augment="default", threads=1))
    # one epoch under the auto curriculum is all clean warm-up: said on stderr, in train.log and in run.json
    warning = "no waveform augmentation will be applied: all 1 epoch(s) fall in the clean warm-up of 0.25 epoch(s)"
    assert warning in capsys.readouterr().err and warning in (tmp_path / "a0" / "train.log").read_text()
    assert json.loads((tmp_path / "a0" / "run.json").read_text())["augmented_epochs"] == 0
    train(_cfg(tiny["kws"], tmp_path / "a2", epochs=1, augment="default", threads=1, num_workers=2, preload=False))
    train(_cfg(tiny["kws"], tmp_path / "n0", epochs=1, augment="none", threads=1))
    a, b, c = (_weights(tmp_path / n)["train_model"] for n in ("a0", "a2", "n0"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["net.prologue.0.weight"], c["net.prologue.0.weight"])  # augmentation did happen


def test_existing_run_needs_resume_and_resume_checks_settings(tiny, tmp_path):
    train(_cfg(tiny["kws"], tmp_path / "r", epochs=1, augment="none", stop_after=1))
    with pytest.raises(ValueError, match="--resume"):
        train(_cfg(tiny["kws"], tmp_path / "r", epochs=1, augment="none"))
    with pytest.raises(ValueError, match=r"width: 0.25 -> 0.5"):
        train(_cfg(tiny["kws"], tmp_path / "r", epochs=2, augment="none", width=0.5, resume=True))


def test_config_toml_then_overrides_and_errors(tmp_path):
    toml = tmp_path / "train.toml"
    toml.write_text('data = "d"\nout = "o"\nepochs = 7\nlr = 0.01\nlabels = ["yes", "no"]\n')
    cfg = load_train_config(toml, epochs=3, lr=None)
    assert (cfg.data, cfg.epochs, cfg.lr, cfg.labels) == ("d", 3, 0.01, ["yes", "no"])
    toml.write_text('data = "d"\nout = "o"\nepoch = 7\n')
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['epoch'\].*allowed fields"):
        load_train_config(toml)
    with pytest.raises(ValueError, match="does not exist"):
        load_train_config(tmp_path / "missing.toml")
    with pytest.raises(ValueError, match="epochs must be a positive number, got 0"):
        TrainConfig(data="d", out="o", epochs=0)
    with pytest.raises(ValueError, match="labels must be 'v2-12', 'all' or a list"):
        TrainConfig(data="d", out="o", labels="v3")
    with pytest.raises(ValueError, match="data is required"):
        TrainConfig(out="o")
    with pytest.raises(ValueError, match="device must be"):
        TrainConfig(data="d", out="o", device="tpu")


def test_cli_parses_into_the_config(tmp_path, capsys):
    toml = tmp_path / "train.toml"
    toml.write_text("epochs = 9\nwidth = 2.0\nbatch_size = 8\n")
    argv = ["train", "--data", "D", "--out", "O", "--config", str(toml), "--epochs", "4", "--labels", "yes,no",
            "up", "--augment", "none", "--seed", "5", "--resume", "--no-amp", "--print-config"]
    assert cli_main(argv) == 0
    import tomllib

    printed = tomllib.loads(capsys.readouterr().out)
    assert printed["epochs"] == 4 and printed["width"] == 2.0 and printed["batch_size"] == 8
    assert printed["labels"] == ["yes", "no", "up"] and printed["augment"] == "none"
    assert printed["seed"] == 5 and printed["resume"] is True and printed["amp"] is False
    assert cli_main(["train", "--data", "D", "--out", "O", "--labels", "all", "--print-config"]) == 0
    assert tomllib.loads(capsys.readouterr().out)["labels"] == "all"


def test_train_help_shows_the_resolved_curriculum_defaults(capsys):
    with pytest.raises(SystemExit):
        cli_main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: 0.25 x --epochs; 0 with --curriculum off" in text  # not "(default: 0.0)"
    assert "--clean-fraction CLEAN_FRACTION share of every batch kept clean after the curriculum (default: 0.25;" in text
    assert "curriculum (default: 0.0)" not in text


def test_default_augmentation_noise_folder_fallbacks(tiny, tmp_path):
    assert resolve_noise_dir(None, tiny["kws"]) == tiny["kws"] / "_background_noise_"
    assert resolve_noise_dir(tiny["noise_eval"], tiny["kws"]) == tiny["noise_eval"]
    with pytest.raises(ValueError, match="holds no audio"):
        resolve_noise_dir(tmp_path, None)
    aug = build_augmentation("default", data_root=tiny["kws"])
    assert [type(t).__name__ for t in aug.waveform.transforms] == ["TimeShift", "BackgroundNoise", "ShortNoises",
                                                                   "WhiteNoise"]
    background, events = aug.waveform.transforms[1], aug.waveform.transforms[2]
    assert events.bank.names == background.bank.names  # the foreground events come from the same folder
    assert [type(t).__name__ for t in aug.spectrogram.transforms] == ["SpecWarp", "SpecTimeMask", "SpecFreqMask"]
    assert default_pipeline_config("n")["transforms"][1]["min_snr_db"] == -5.0


def test_default_noise_without_background_folder_is_the_generated_bank(tmp_path, monkeypatch):
    from audionoise.kws import augment
    from audionoise.synth import noise_bank

    bank = tmp_path / "bank"
    bank.mkdir()
    io.save(bank / "music_00.wav", torch.randn(1, 800), 16000)
    monkeypatch.setattr(noise_bank, "ensure_training_noise", lambda: bank)
    assert resolve_noise_dir(None, tmp_path / "no_background") == bank
    assert resolve_noise_dir(None, None) == bank
    assert resolve_noise_dir(None, None, generate=False) == augment.BUNDLED_NOISE_DIR

    def missing():
        raise ImportError("no espeakng_loader")

    monkeypatch.setattr(noise_bank, "ensure_training_noise", missing)
    with pytest.warns(UserWarning, match="falls back to the 4 short noise clips"):
        assert resolve_noise_dir(None, None) == augment.BUNDLED_NOISE_DIR


def test_pipeline_toml_is_split_into_waveform_and_spectrogram_stages(tiny, tmp_path):
    toml = tmp_path / "pipe.toml"
    toml.write_text('sample_rate = 16000\n[[transforms]]\nname = "WhiteNoise"\nmin_snr_db = 10.0\n'
                    'max_snr_db = 10.0\n[[transforms]]\nname = "SpecFreqMask"\nmax_width = 3\n')
    aug = build_augmentation(toml)
    g = torch.Generator().manual_seed(0)
    x = torch.ones(2, 1, 8000)
    y, _ = aug.apply_waveform(x, None, g)
    noise_rms = (y - x).pow(2).mean(dim=(1, 2)).sqrt()
    torch.testing.assert_close(noise_rms, torch.full((2,), 10 ** (-10 / 20)), rtol=1e-4, atol=0)  # 10 dB exact
    spec = aug.apply_spectrogram(torch.ones(2, 40, 51), torch.tensor([51, 30]), g)
    assert spec.shape == (2, 40, 51)
    for b, n in enumerate((51, 30)):  # whole bins masked over the valid frames, padding untouched
        valid = spec[b, :, :n]
        assert ((valid == 0).all(dim=1) | (valid == 1).all(dim=1)).all()
        assert (spec[b, :, n:] == 1).all()
    with pytest.raises(ValueError, match="neither 'default', 'none' nor an existing pipeline"):
        build_augmentation(tmp_path / "missing.toml")
    toml.write_text('sample_rate = 8000\n[[transforms]]\nname = "TimeShift"\nmax_shift_s = 0.1\n')
    with pytest.raises(ValueError, match="sample_rate"):
        build_augmentation(toml, sample_rate=16000)


def test_augmented_training_learns_the_tiny_task(tmp_path):
    words = ["yes", "no", "up", "down"]
    data = make_tiny_speech_commands(tmp_path / "data", words=words, reps=4)  # 64 training clips
    summary = train(_cfg(data["kws"], tmp_path / "learn", epochs=15, labels=words, width=0.5, lr=5e-3))
    assert summary["best_val_acc"] >= 0.75  # 16 validation clips of 4 classes, chance 0.25


@pytest.mark.slow  # two torchrun processes: ~5 s
def test_ddp_under_torchrun_two_cpu_processes(tiny, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "audionoise", "train", "--data", str(tiny["kws"]), "--out", str(out), "--epochs", "1",
           "--width", "0.25", "--batch-size", "8", "--device", "cpu", "--workers", "0", "--no-progress"]
    toml = tmp_path / "ddp.toml"
    toml.write_text("clip_seconds = 0.5\n")
    cmd += ["--config", str(toml)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpt = torch.load(out / "last.pt", weights_only=True)
    assert ckpt["epoch"] == 1 and "per batch" in ckpt["augment_seeding"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs"][0]["val_n"] == 12  # validation sharded over 2 ranks, then summed
    assert "world 2" in (out / "train.log").read_text()


def test_spec_warp_closed_form_and_passthrough():
    from audionoise.functional import warp_spectrogram
    from audionoise.transforms.warp import SpecWarp, WarpParams

    spec = torch.zeros(2, 40, 20)
    spec[:, 20, :] = 1.0
    out = warp_spectrogram(spec, torch.tensor([1.1, 1.0]), torch.tensor([1.0, 1.0]))
    # output bin f reads input bin f / 1.1: the line at bin 20 moves to bin 22 exactly
    torch.testing.assert_close(out[0, 22], torch.ones(20), rtol=0, atol=1e-5)
    assert out[0, 20].abs().max() < 1e-5
    torch.testing.assert_close(out[1], spec[1], rtol=0, atol=1e-5)  # scale 1 is the identity (float rounding)
    ramp = torch.arange(10.0).expand(1, 3, 10)
    slow = warp_spectrogram(ramp, torch.tensor([1.0]), torch.tensor([2.0]))  # twice as slow: t -> t / 2
    torch.testing.assert_close(slow[0, 0], torch.arange(10.0) / 2, rtol=0, atol=1e-5)
    t = SpecWarp(0.1, 0.15)
    x = torch.randn(3, 40, 30, generator=torch.Generator().manual_seed(0))
    params = WarpParams(applied=torch.tensor([True, False, True]), freq_scale=torch.tensor([1.05, 1.1, 0.95]),
                        time_scale=torch.tensor([0.9, 1.1, 1.0]))
    y = t.apply_params(x, params)
    assert torch.equal(y[1], x[1]) and not torch.equal(y[0], x[0])
    with pytest.raises(ValueError, match="max_freq_warp"):
        SpecWarp(max_freq_warp=-0.1)



def test_weight_average_closed_form():
    from audionoise.kws.train import _weight_average

    model = torch.nn.Sequential(torch.nn.Linear(1, 1, bias=False), torch.nn.BatchNorm1d(1))
    torch.nn.init.zeros_(model[0].weight)
    avg = _weight_average(model, horizon_steps=10)  # decay 0.9
    means = []
    for w in (1.0, 2.0, 3.0):
        torch.nn.init.constant_(model[0].weight, w)
        model(torch.randn(4, 1, generator=torch.Generator().manual_seed(int(w))))  # moves the BatchNorm statistics
        means.append(model[1].running_mean.clone())
        avg.update_parameters(model)
    # update 1 copies the weights (the zero init never enters); update n+1 uses d = min(0.9, (1 + n) / (10 + n))
    d1, d2 = 2 / 11, 3 / 12
    expected = (1.0 * d1 + 2.0 * (1 - d1)) * d2 + 3.0 * (1 - d2)
    assert avg.module[0].weight.item() == pytest.approx(expected, rel=1e-6)
    expected_mean = (means[0] * d1 + means[1] * (1 - d1)) * d2 + means[2] * (1 - d2)  # use_buffers: BN stats too
    torch.testing.assert_close(avg.module[1].running_mean, expected_mean)
    assert avg.module[1].num_batches_tracked.item() == 3  # integer buffer: copied, not averaged
    assert not avg.module[0].weight.requires_grad
    restored = _weight_average(model, horizon_steps=10)
    restored.load_state_dict(avg.state_dict())
    assert restored.n_averaged.item() == 3 and torch.equal(restored.module[0].weight, avg.module[0].weight)
    assert _weight_average(model, horizon_steps=0) is None


def test_clean_share_of_a_batch_and_curriculum(tiny, tmp_path):
    from audionoise.kws.augment import clean_rows
    from audionoise.kws.config import clean_share

    aug = build_augmentation("default", data_root=tiny["kws"])
    x = 0.1 * torch.randn(10, 1, 8000, generator=torch.Generator().manual_seed(0))
    lengths = torch.full((10,), 8000)
    y, _ = aug.apply_waveform(x, lengths, torch.Generator().manual_seed(1), clean_share=0.3)
    same = [bool(torch.equal(y[b], x[b])) for b in range(10)]
    expect = clean_rows(10, 0.3, _after_pipeline(aug, x, lengths))
    assert sum(same) == 3 and same == expect.tolist()  # exactly round(0.3 * 10) rows untouched, as drawn
    assert torch.equal(aug.apply_waveform(x, lengths, torch.Generator(), clean_share=1.0)[0], x)
    cfg = _cfg(tiny["kws"], tmp_path / "c", epochs=4, clean_epochs=1, noise_ramp_epochs=2, clean_fraction=0.5)
    assert [clean_share(cfg, e) for e in range(4)] == [1.0, 0.875, 0.625, 0.5]
    with pytest.raises(ValueError, match="clean_fraction"):
        _cfg(tiny["kws"], tmp_path / "c", clean_fraction=1.5)


def test_auto_curriculum_is_in_quarters_of_the_run(tiny, tmp_path):
    from audionoise.kws.config import clean_share, curriculum_settings

    cfg = _cfg(tiny["kws"], tmp_path / "a", epochs=8)  # augment="default", curriculum="auto"
    assert cfg.curriculum == "auto" and curriculum_settings(cfg) == (2.0, 2.0, 0.25)
    # 2 clean epochs, a linear ramp over 2 (at mid-epoch: 1 - 0.75 * 0.25, 1 - 0.75 * 0.75), then 0.25
    assert [clean_share(cfg, e) for e in range(8)] == [1.0, 1.0, 0.8125, 0.4375] + [0.25] * 4
    off = _cfg(tiny["kws"], tmp_path / "a", epochs=8, curriculum="off")
    assert [clean_share(off, e) for e in range(8)] == [0.0] * 8
    given = _cfg(tiny["kws"], tmp_path / "a", epochs=8, clean_fraction=0.5)  # any explicit field: as given
    assert curriculum_settings(given) == (0.0, 0.0, 0.5)
    none = _cfg(tiny["kws"], tmp_path / "a", epochs=8, augment="none")
    assert curriculum_settings(none) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="curriculum must be one of"):
        _cfg(tiny["kws"], tmp_path / "a", curriculum="yes")


def _after_pipeline(aug, x, lengths):
    g = torch.Generator().manual_seed(1)
    aug.waveform(x, lengths=lengths, generator=g)
    return g


def test_curriculum_run_and_selection_on_clean_and_noisy(tiny, tmp_path):
    summary = train(_cfg(tiny["kws"], tmp_path / "cur", epochs=2, clean_epochs=1, clean_fraction=0.25,
                         select_on="clean+noisy", val_snr_db=0.0))
    hist = summary["history"]
    assert [h["clean_share"] for h in hist] == [1.0, 0.25]
    for h in hist:
        assert 0.0 <= h["val_noisy_acc"] <= 1.0 and h["val_score"] == (h["val_acc"] + h["val_noisy_acc"]) / 2
    assert summary["best_val_acc"] == max(h["val_score"] for h in hist)


def _speed_toml(tmp_path, noise_dir):
    toml = tmp_path / "speed.toml"
    toml.write_text('sample_rate = 16000\n[[transforms]]\nname = "SpeedPerturb"\nfactors = [0.9, 1.1]\n'
                    f'[[transforms]]\nname = "BackgroundNoise"\nnoise = "{noise_dir}"\nmin_snr_db = 0.0\n'
                    'max_snr_db = 10.0\n[[transforms]]\nname = "SpecTimeMask"\nmax_width = 5\n')
    return toml


def test_speed_perturb_waveform_stage_threads_new_lengths(tiny, tmp_path):
    aug = build_augmentation(_speed_toml(tmp_path, resolve_noise_dir(None, tiny["kws"])))
    x = 0.1 * torch.randn(6, 1, 8000, generator=torch.Generator().manual_seed(0))
    lengths = torch.tensor([8000, 8000, 7000, 6000, 8000, 5000])
    x = x * (torch.arange(8000) < lengths[:, None])[:, None]  # zero padding, as pad_collate gives
    y, new = aug.apply_waveform(x, lengths, torch.Generator().manual_seed(3), clean_share=0.5)
    # speed 0.9 -> ceil(n * 16000 / 14400) = ceil(n / 0.9); 1.1 -> ceil(n / 1.1); kept rows keep their length
    allowed = [{n, -(-n * 10 // 9), -(-n * 10 // 11)} for n in lengths.tolist()]
    assert all(int(m) in ok for m, ok in zip(new, allowed))
    assert y.shape[-1] == int(new.max())
    same = [bool(torch.equal(y[b, :, :8000], x[b])) and int(new[b]) == int(lengths[b]) for b in range(6)]
    assert sum(same) == 3  # round(0.5 * 6) clean rows: untouched, old length
    for b in range(6):  # nothing written after each example's new length
        assert float(y[b, :, int(new[b]):].abs().sum()) == 0.0


@pytest.mark.parametrize("curriculum", [True, False])
def test_train_with_a_speed_perturb_pipeline(tiny, tmp_path, curriculum):
    kw = dict(clean_fraction=0.25) if curriculum else dict(curriculum="off")
    summary = train(_cfg(tiny["kws"], tmp_path / "sp", epochs=1,
                         augment=str(_speed_toml(tmp_path, resolve_noise_dir(None, tiny["kws"]))), **kw))
    assert len(summary["history"]) == 1 and summary["history"][0]["train_loss"] > 0
