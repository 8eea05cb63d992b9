"""One row of the "faults and limits" tables of docs/offline.md and docs/noise.md per test (the rows on locks, config
bounds and the noise-bank cache are in test_offline_lock.py, test_limits.py and test_bank_cache_faults.py): each
fault is one line (an error line in errors.jsonl, or one line on stderr) with the documented exit status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from audionoise import io as aio
from audionoise.offline import augment
from audionoise.offline import inputs as inputs_module
from offline_helpers import jsonl

ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
WHITE = {"sample_rate": 16000, "transforms": [{"name": "WhiteNoise", "min_snr_db": 10.0, "max_snr_db": 20.0}]}
ROOT = os.geteuid() == 0 if hasattr(os, "geteuid") else False


def _noise_config(tmp_path: Path) -> dict:
    (tmp_path / "noise").mkdir(exist_ok=True)
    sf.write(tmp_path / "noise" / "n.wav", 0.1 * np.random.default_rng(1).standard_normal(8000).astype("float32"),
             16000)
    return {"sample_rate": 16000, "transforms": [{"name": "BackgroundNoise", "noise": str(tmp_path / "noise"),
                                                   "min_snr_db": 5.0, "max_snr_db": 10.0, "cache_dir": False}]}


def _wav(path: Path, x: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, x.astype("float32"), 16000, subtype="PCM_16")


def _tone(n: int = 1600) -> np.ndarray:
    return 0.1 * np.sin(np.arange(n) / 5.0)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "audionoise", *args], capture_output=True, text=True, env=ENV,
                          timeout=120)


# ---------------------------------------------------------------------------------------------- inputs
def test_symlink_loop_in_in_is_an_error_line(tmp_path):
    _wav(tmp_path / "in" / "ok.wav", _tone())
    os.symlink("b.wav", tmp_path / "in" / "a.wav")
    os.symlink("a.wav", tmp_path / "in" / "b.wav")
    os.symlink("loopdir", tmp_path / "in" / "loopdir")  # a folder link to itself
    summary = augment(tmp_path / "in", tmp_path / "out", WHITE, progress=False)
    assert (summary.written, summary.failed, summary.exit_status) == (1, 2, 1)
    rows = jsonl(tmp_path / "out" / "errors.jsonl")
    assert [r["input"] for r in rows] == ["a.wav", "b.wav"] and all("symlink loop" in r["reason"] for r in rows)


def test_symlink_loop_and_too_deep_line_in_a_manifest_are_error_lines(tmp_path):
    _wav(tmp_path / "ok.wav", _tone())
    os.symlink("y.wav", tmp_path / "x.wav")
    os.symlink("x.wav", tmp_path / "y.wav")
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"audio_filepath": "ok.wav"}) + "\n" + json.dumps({"audio_filepath": "x.wav"})
                        + "\n" + '{"audio_filepath": "ok.wav", "x": ' + "[" * 5000 + "]" * 5000 + "}\n"
                        + '{"audio_filepath": "ok.wav", "y": ' + "[" * 100 + "]" * 100 + "}\n")
    done = _cli("augment", str(manifest), str(tmp_path / "out"), "--white-snr", "10", "20", "-q")
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    rows = {r["line"]: r["reason"] for r in jsonl(tmp_path / "out" / "errors.jsonl")}
    assert set(rows) == {2, 3, 4}
    assert "symlink loop" in rows[2] and "nested too deep" in rows[3] and "nested too deep" in rows[4]


@pytest.mark.skipif(ROOT, reason="root reads any file: permissions cannot be denied (the message is tested below)")
def test_permission_denied_says_so(tmp_path):
    _wav(tmp_path / "in" / "locked.wav", _tone())
    os.chmod(tmp_path / "in" / "locked.wav", 0)
    try:
        summary = augment(tmp_path / "in", tmp_path / "out", WHITE, progress=False)
    finally:
        os.chmod(tmp_path / "in" / "locked.wav", 0o644)
    assert summary.failed == 1
    assert "permission denied" in jsonl(tmp_path / "out" / "errors.jsonl")[0]["reason"]


def test_permission_denied_message(tmp_path, monkeypatch):
    _wav(tmp_path / "a.wav", _tone())

    def refuse(*args, **kwargs):  # what libsndfile reports for a file this user cannot open
        raise RuntimeError(f"Error opening {str(tmp_path / 'a.wav')!r}: System error : Permission denied.")

    from audionoise.io import read

    monkeypatch.setattr(read.sf, "SoundFile", refuse)
    with pytest.raises(aio.AudioFileError, match="permission denied: this user cannot read the file") as err:
        read._open(tmp_path / "a.wav")
    assert "re-export" not in str(err.value)


@pytest.mark.parametrize("engine", ["auto", "torch"])
def test_silent_input_records_no_snr_as_documented(tmp_path, engine):
    _wav(tmp_path / "in" / "silent.wav", np.zeros(1600))
    summary = augment(tmp_path / "in", tmp_path / "out", _noise_config(tmp_path), progress=False, engine=engine)
    assert summary.exit_status == 0
    record = jsonl(tmp_path / "out" / "manifest.jsonl")[0]["transforms"][0]
    assert record["snr_db_actual"] is None and record["noise_added"] is False, record  # null, never "nan"


@pytest.mark.parametrize("engine", ["auto", "torch"])
def test_long_file_path_warns_nothing_on_silence(tmp_path, monkeypatch, engine):
    monkeypatch.setattr(inputs_module, "LONG_SAMPLES", 4000)  # 16,000 samples count as a long file
    _wav(tmp_path / "in" / "silent.wav", np.zeros(16000))
    _wav(tmp_path / "in" / "tone.wav", _tone(16000))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a NumPy RuntimeWarning (0/0) would fail the input
        summary = augment(tmp_path / "in", tmp_path / "out", _noise_config(tmp_path), progress=False, engine=engine)
    assert summary.exit_status == 0, jsonl(tmp_path / "out" / "errors.jsonl")
    rows = {r["input"]: r["transforms"][0] for r in jsonl(tmp_path / "out" / "manifest.jsonl")}
    assert rows["silent.wav"]["snr_db_actual"] is None and 5.0 <= rows["tone.wav"]["snr_db_actual"] <= 10.0


# ---------------------------------------------------------------------------------------------- DataLoader workers
class _Broken(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 1

    def __getitem__(self, i: int):
        raise aio.AudioFileError("/data/a.wav", "not a readable audio file; re-export it")


def test_audio_file_error_keeps_its_type_through_dataloader_workers():
    loader = torch.utils.data.DataLoader(_Broken(), num_workers=1)
    with pytest.raises(aio.AudioFileError, match="/data/a.wav: not a readable audio file") as err:
        next(iter(loader))
    assert isinstance(err.value, ValueError)
    assert str(aio.AudioFileError("x.wav", "why")) == "x.wav: why"  # the two-argument form is unchanged


# ---------------------------------------------------------------------------------------------- checkpoints
class _Evil:
    def __reduce__(self):
        return (os.system, ("echo should-never-run",))


def _checkpoints(tmp_path: Path) -> dict[str, Path]:
    good = tmp_path / "good.pt"
    torch.save({"model_config": {}, "model": {"w": torch.ones(4000)}}, good)
    files = {"truncated": tmp_path / "trunc.pt", "not a checkpoint": tmp_path / "text.pt",
             "unsafe pickle": tmp_path / "evil.pt", "empty": tmp_path / "empty.pt"}
    files["truncated"].write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    files["not a checkpoint"].write_text("hello, I am not a checkpoint")
    torch.save({"model_config": _Evil(), "model": {}}, files["unsafe pickle"])
    files["empty"].write_bytes(b"")
    return files


def test_bad_checkpoints_are_one_line_naming_the_file(tmp_path):
    from audionoise.kws.checkpoint import load_checkpoint

    expected = {"truncated": "truncated or damaged", "not a checkpoint": "not a PyTorch checkpoint",
                "unsafe pickle": "could run code when loaded; it was refused", "empty": "not a PyTorch checkpoint"}
    for kind, path in _checkpoints(tmp_path).items():
        with pytest.raises(ValueError) as err:
            load_checkpoint(path)
        msg = str(err.value)
        assert str(path) in msg and expected[kind] in msg and "\n" not in msg, (kind, msg)
        assert "weights_only" not in msg


def test_evaluate_on_bad_checkpoints_exits_2_with_one_line(tmp_path):
    (tmp_path / "data").mkdir()
    for kind, path in _checkpoints(tmp_path).items():
        done = _cli("evaluate", str(path), "--data", str(tmp_path / "data"))
        assert done.returncode == 2, (kind, done.stderr)
        assert done.stderr.count("\n") == 1 and str(path) in done.stderr, (kind, done.stderr)
        assert "weights_only" not in done.stderr and "Traceback" not in done.stderr
        assert "should-never-run" not in done.stdout


# ---------------------------------------------------------------------------------------------- the tables
#: first words of each row of the "faults and limits" tables -> the tests of that row (file::name)
ROWS = {
    "docs/offline.md": {
        "another live job holds OUT": ["test_offline_lock.py::test_cli_refusal_is_one_line_exit_2_and_wait_waits",
                                       "test_offline_lock.py::test_two_jobs_started_together_on_one_out_never_both_succeed"],
        "config file over 1 MiB": ["test_limits.py::test_a_config_file_over_1_mib_is_refused_unread",
                                   "test_limits.py::test_too_deep_config_files_are_one_line",
                                   "test_limits.py::test_oneof_nested_1000_deep_is_one_line",
                                   "test_limits.py::test_yaml_alias_bomb_is_refused_before_anything_expands_it",
                                   "test_limits.py::test_yaml_alias_count_and_recursive_alias",
                                   "test_limits.py::test_aliased_long_strings_count_by_length"],
        "`copies` over 10,000": ["test_limits.py::test_copies_and_workers_are_bounded",
                                 "test_limits.py::test_dry_run_counts_without_listing_outputs"],
        "`num_masks` over 1000": ["test_limits.py::test_counts_that_allocate_have_upper_bounds"],
        "a noise glob": ["test_limits.py::test_globs_never_enter_symlinked_folders",
                         "test_limits.py::test_a_glob_stops_at_its_bound"],
        "SIGINT/SIGTERM while preparing": ["test_limits.py::test_sigterm_during_preparation_stops_at_once"],
        "a symlink loop in IN": ["test_faults.py::test_symlink_loop_in_in_is_an_error_line",
                                 "test_faults.py::test_symlink_loop_and_too_deep_line_in_a_manifest_are_error_lines"],
        "a manifest line nested too deep": [
            "test_faults.py::test_symlink_loop_and_too_deep_line_in_a_manifest_are_error_lines"],
        "an input this user may not read": ["test_faults.py::test_permission_denied_says_so",
                                            "test_faults.py::test_permission_denied_message"],
        "a silent input with background noise": ["test_faults.py::test_silent_input_records_no_snr_as_documented",
                                                 "test_faults.py::test_long_file_path_warns_nothing_on_silence"],
        "`evaluate` on a truncated file": ["test_faults.py::test_bad_checkpoints_are_one_line_naming_the_file",
                                           "test_faults.py::test_evaluate_on_bad_checkpoints_exits_2_with_one_line"],
        "an unreadable audio file read in a PyTorch DataLoader worker": [
            "test_faults.py::test_audio_file_error_keeps_its_type_through_dataloader_workers"],
    },
    "docs/noise.md": {
        "unreadable `.json`": ["test_noisebank.py::test_corrupt_cache_is_rebuilt"],
        "edited clip lengths": ["test_bank_cache_faults.py::test_edited_metadata_is_refused"],
        "another bank's `.npy`": ["test_bank_cache_faults.py::test_another_banks_npy_behind_a_symlink_is_refused_at_open"],
        "truncated or extended `.npy`": ["test_bank_cache_faults.py::test_truncated_npy_is_refused_at_open"],
        "flipped bytes, NaN or Inf": ["test_bank_cache_faults.py::test_flipped_bytes_are_found_at_first_read_and_rebuilt",
                                      "test_bank_cache_faults.py::test_nan_fill_never_reaches_the_output",
                                      "test_bank_cache_faults.py::test_nan_fill_through_background_noise",
                                      "test_bank_cache_faults.py::test_moving_a_bank_checks_every_clip_first",
                                      "test_bank_cache_faults.py::test_a_pickled_bank_rechecks_in_its_new_process"],
        "edited block digests": ["test_bank_cache_faults.py::test_edited_metadata_is_refused"],
        "temporary files of a killed build": [
            "test_bank_cache_faults.py::test_killed_builds_temporary_files_are_removed_by_the_next_build",
            "test_bank_cache_faults.py::test_prune_leaves_the_temporary_files_of_a_build_in_progress"],
        "two processes building one bank": [
            "test_bank_cache_faults.py::test_one_builder_at_a_time_the_other_waits_then_maps_its_file"],
        "damage found in a bank whose sources changed": [],  # the error path of NoiseBank._rebuild (read, not tested)
        "a glob source": ["test_limits.py::test_globs_never_enter_symlinked_folders"],
        "a glob with more than 100,000 matches": ["test_limits.py::test_a_glob_stops_at_its_bound"],
        "`num_sources` over 64": ["test_limits.py::test_counts_that_allocate_have_upper_bounds"],
        "silent speech": ["test_faults.py::test_silent_input_records_no_snr_as_documented"],
    },
}


@pytest.mark.parametrize("doc", sorted(ROWS))
def test_every_row_of_the_faults_tables_has_its_tests(doc):
    root = Path(__file__).resolve().parents[1]
    text = (root / doc).read_text(encoding="utf-8")
    table = text[text.index("aults and limits"):].split("\n\n", 3)[2]  # heading, paragraph, table
    firsts = [row.split("|")[1].strip() for row in table.splitlines()[2:]]  # below the header and |---| rows
    assert len(firsts) == len(ROWS[doc]), firsts
    for first in firsts:
        match = [k for k in ROWS[doc] if first.startswith(k)]
        assert len(match) == 1, first
        for test in ROWS[doc][match[0]]:
            file, name = test.split("::")
            assert f"def {name}(" in (root / "tests" / file).read_text(encoding="utf-8"), test
