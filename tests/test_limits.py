"""Hostile small inputs never exhaust the machine: configs are bounded before anything reads, copies or serialises
them, counts that allocate have documented upper bounds, a dry run counts instead of listing, globs never enter
symlinked folders and stop at a bound, and a signal ends the preparation at once."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import audionoise as an
from audionoise import config_files
from audionoise.io.globs import MAX_GLOB_MATCHES, bounded_glob
from audionoise.offline import OfflineUsageError, augment, dry_run
from audionoise.offline import job as job_module
from offline_helpers import tone_files

ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
WHITE = {"sample_rate": 16000, "transforms": [{"name": "WhiteNoise", "min_snr_db": 10.0, "max_snr_db": 20.0}]}
LIMIT_BYTES = 1 << 30  # the bound: under 1 GB of memory


def _cli(*args: str, timeout: float = 60, bound: bool = True) -> subprocess.CompletedProcess:
    """``audionoise ARGS`` in a child limited to 1 GiB of address space (``RLIMIT_AS``, which bounds memory from
    above): a hostile input that tried to allocate would fail with MemoryError (a traceback), not pass."""
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (LIMIT_BYTES, LIMIT_BYTES))
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "audionoise", *args], capture_output=True, text=True, env=ENV,
                          timeout=timeout, preexec_fn=limit if bound else None)
    done.seconds = time.perf_counter() - t0
    return done


def _one_line(done: subprocess.CompletedProcess, status: int, *words: str, max_s: float = 10.0) -> None:
    assert done.returncode == status, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    for w in words:
        assert w in done.stderr, done.stderr
    assert done.seconds < max_s


BOMB = ('a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
        + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(8))
        + "transforms: []\n")


# ---------------------------------------------------------------------------------------------- configs
def test_yaml_alias_bomb_is_refused_before_anything_expands_it(tmp_path):
    pytest.importorskip("yaml")
    (tmp_path / "bomb.yaml").write_text(BOMB)  # 9^9 "lol"s once expanded
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=r"more than 100000 values \(YAML aliases counted once per use\)"):
        config_files.read_config(tmp_path / "bomb.yaml")
    assert time.perf_counter() - t0 < 2
    tone_files(tmp_path / "in", 1)
    done = _cli("augment", str(tmp_path / "in"), str(tmp_path / "out"), "--config", str(tmp_path / "bomb.yaml"))
    _one_line(done, 2, "bomb.yaml", "YAML aliases")
    assert not (tmp_path / "out").exists()  # nothing serialised, nothing written


def test_yaml_alias_count_and_recursive_alias(tmp_path):
    pytest.importorskip("yaml")
    many = "x: &x 1\nl: [" + ", ".join(["*x"] * (config_files.MAX_YAML_ALIASES + 1)) + "]\ntransforms: []\n"
    (tmp_path / "many.yaml").write_text(many)
    with pytest.raises(ValueError, match=f"more than {config_files.MAX_YAML_ALIASES} YAML aliases"):
        config_files.read_config(tmp_path / "many.yaml")
    (tmp_path / "loop.yaml").write_text("transforms: &t [*t]\n")
    with pytest.raises(ValueError, match="contains itself"):
        config_files.read_config(tmp_path / "loop.yaml")


@pytest.mark.parametrize("suffix,text", [
    (".json", '{"transforms": ' + "[" * 100_000 + "]" * 100_000 + "}"),
    (".toml", "transforms = " + "[" * 5000 + "]" * 5000 + "\n"),
    (".yaml", "transforms: " + "[" * 5000 + "]" * 5000 + "\n")])
def test_too_deep_config_files_are_one_line(tmp_path, suffix, text):
    if suffix == ".yaml":
        pytest.importorskip("yaml")
    (tmp_path / f"deep{suffix}").write_text(text)
    with pytest.raises(ValueError, match=f"nests deeper than {config_files.MAX_CONFIG_DEPTH} levels"):
        config_files.read_config(tmp_path / f"deep{suffix}")


def test_oneof_nested_1000_deep_is_one_line(tmp_path):
    entry = {"name": "WhiteNoise", "min_snr_db": 1.0, "max_snr_db": 2.0}
    for _ in range(1000):
        entry = {"name": "OneOf", "transforms": [entry]}
    with pytest.raises(ValueError, match="nests deeper than"):
        an.load_pipeline({"sample_rate": 16000, "transforms": [entry]})
    tone_files(tmp_path / "in", 1)
    with pytest.raises(OfflineUsageError, match="nests deeper than"):
        dry_run(tmp_path / "in", tmp_path / "out", {"sample_rate": 16000, "transforms": [entry]})
    (tmp_path / "deep.json").write_text('{"transforms": [' + '{"name": "OneOf", "transforms": [' * 1000
                                        + '{"name": "WhiteNoise", "min_snr_db": 1, "max_snr_db": 2}' + "]}" * 1000
                                        + "]}")
    _one_line(_cli("augment", str(tmp_path / "in"), str(tmp_path / "out"), "--config", str(tmp_path / "deep.json")),
              2, "deep.json", "nests deeper than")


def test_a_config_file_over_1_mib_is_refused_unread(tmp_path):
    big = tmp_path / "big.json"
    big.write_text('{"transforms": [], "pad": "' + "x" * config_files.MAX_CONFIG_BYTES + '"}')
    with pytest.raises(ValueError, match="larger than 1 MiB"):
        config_files.read_config(big)


def test_config_shape_check_allows_real_configs():
    shared = {"name": "WhiteNoise", "min_snr_db": 1.0, "max_snr_db": 2.0}
    config_files.check_config_shape({"transforms": [{"name": "OneOf", "transforms": [shared, shared]}] * 50})


# ---------------------------------------------------------------------------------------------- counts
@pytest.mark.parametrize("build,match", [
    (lambda: an.TimeMask(0.1, num_masks=1_000_000_000, sample_rate=16000), r"num_masks \(1000000000\) must be <= 1000"),
    (lambda: an.SpecTimeMask(10, num_masks=1001), r"num_masks \(1001\) must be <= 1000"),
    (lambda: an.BackgroundNoise(an.NoiseBank.from_tensors([__import__("torch").ones(100)], 16000), 0.0, 10.0,
                                num_sources=[1, 10**9]), r"num_sources \(\[1, 1000000000\]\) must be <= 64"),
    (lambda: an.ShortNoises(an.NoiseBank.from_tensors([__import__("torch").ones(100)], 16000), 0.0, 10.0,
                            num_events=10**9, sample_rate=16000), r"num_events \(1000000000\) must be <= 256")])
def test_counts_that_allocate_have_upper_bounds(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_copies_and_workers_are_bounded(tmp_path):
    tone_files(tmp_path / "in", 1)
    with pytest.raises(OfflineUsageError, match=r"copies \(1000000000\) must be an integer from 1 to 10000"):
        augment(tmp_path / "in", tmp_path / "out", WHITE, copies=10**9, progress=False)
    with pytest.raises(OfflineUsageError, match=r"workers \(100000\) must be an integer from 1 to 1024"):
        augment(tmp_path / "in", tmp_path / "out", WHITE, workers=100_000, progress=False)
    done = _cli("augment", str(tmp_path / "in"), str(tmp_path / "out"), "--white-snr", "10", "20", "--copies",
                "1000000000", "--dry-run")
    _one_line(done, 2, "copies (1000000000) must be an integer from 1 to 10000")
    assert not (tmp_path / "out").exists()


def test_dry_run_counts_without_listing_outputs(tmp_path):
    tone_files(tmp_path / "in", 200, frames=160)
    t0 = time.perf_counter()
    report = dry_run(tmp_path / "in", tmp_path / "out", WHITE, copies=10_000)
    assert report.outputs == 2_000_000 and report.output_bytes == 2_000_000 * (160 * 2 + 44)
    assert time.perf_counter() - t0 < 10
    # with --resume, outputs already done are counted per input from the manifest, as before
    summary = augment(tmp_path / "in", tmp_path / "out", WHITE, copies=3, progress=False)
    assert summary.written == 600
    os.unlink(tmp_path / "out" / "spk0" / "utt 0000_aug1.wav")
    report = dry_run(tmp_path / "in", tmp_path / "out", WHITE, copies=3, resume=True)
    assert (report.outputs, report.resumed) == (1, 599)
    report = dry_run(tmp_path / "in", tmp_path / "out", WHITE, copies=2, resume=True)  # fewer copies: aug2 not kept
    assert (report.outputs, report.resumed) == (1, 399)


# ---------------------------------------------------------------------------------------------- globs
def test_globs_never_enter_symlinked_folders(tmp_path):
    noise = tmp_path / "noise"
    (noise / "sub").mkdir(parents=True)
    import numpy as np
    import soundfile as sf

    for name in ("a.wav", "sub/b.wav"):
        sf.write(noise / name, np.random.default_rng(0).standard_normal(1600).astype("float32") * 0.1, 16000)
    (noise / "sub" / "up1").symlink_to(noise)
    (noise / "sub" / "up2").symlink_to(noise)  # with glob.glob: an exponential scan
    t0 = time.perf_counter()
    bank = an.NoiseBank.from_source(str(noise / "**" / "*.wav"), 16000, cache_dir=False)
    assert sorted(os.path.relpath(n, noise) for n in bank.names) == ["a.wav", "sub/b.wav"]
    assert time.perf_counter() - t0 < 5


def test_a_glob_stops_at_its_bound(tmp_path):
    for i in range(5):
        (tmp_path / f"n{i}.wav").write_bytes(b"")
    assert len(bounded_glob(str(tmp_path / "*.wav"), limit=5)) == 5
    with pytest.raises(ValueError, match=r"matches more than 4 paths; narrow it"):
        bounded_glob(str(tmp_path / "*.wav"), limit=4)
    assert MAX_GLOB_MATCHES == 100_000  # the documented bound (docs/noise.md, faults and limits)


# ---------------------------------------------------------------------------------------------- signals
def test_sigterm_during_preparation_stops_at_once(tmp_path, monkeypatch):
    tone_files(tmp_path / "in", 2)

    def slow_scan(*args, **kwargs):  # a huge tree on a slow disk
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)
        raise AssertionError("the signal did not stop the preparation")

    monkeypatch.setattr(job_module, "collect", slow_scan)
    t0 = time.perf_counter()
    summary = augment(tmp_path / "in", tmp_path / "out", WHITE, progress=False)
    assert summary.signal == signal.SIGTERM and summary.exit_status == 143 and time.perf_counter() - t0 < 5
    assert not (tmp_path / "out").exists()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL or callable(signal.getsignal(signal.SIGTERM))


def test_too_deep_training_config_is_one_line(tmp_path):
    from audionoise.kws.config import load_train_config

    deep = tmp_path / "train.toml"
    deep.write_text("epochs = " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ValueError, match="nests deeper than 64 levels"):
        load_train_config(deep)
    # (train imports torch first, whose libraries alone map more than 1 GiB: no address-space bound here)
    _one_line(_cli("train", "--config", str(deep), "--data", str(tmp_path), "--out", str(tmp_path / "run"),
                   bound=False), 2, "train.toml", "nests deeper than", max_s=60)  # torch's import: slow when busy


def test_aliased_long_strings_count_by_length(tmp_path):
    pytest.importorskip("yaml")
    big = "x" * 200_000  # 200 kB once in the file, 200 MB once expanded 1000 times
    (tmp_path / "strings.yaml").write_text(f'a: &a "{big}"\nl: [' + ", ".join(["*a"] * 1000) + "]\ntransforms: []\n")
    with pytest.raises(ValueError, match="more than 100000 values"):
        config_files.read_config(tmp_path / "strings.yaml")
    config_files.check_config_shape({"transforms": [], "text": big})  # one long string is fine
