"""Messy data sets never kill a run: every header checked up front, all bad files listed, --skip-bad, mid-epoch."""

import json
import sys
from pathlib import Path

import pytest
import torch

from audionoise import io
from audionoise.cli import main as cli_main
from audionoise.kws.evaluate import evaluate_run
from audionoise.kws.train import TrainConfig, train
from audionoise.corpora.scan import BadFilesError, scan_headers

sys.path.insert(0, str(Path(__file__).parent))
from kws_tiny_data import make_tiny_speech_commands  # noqa: E402
from messy_audio import BAD, GOOD, build_messy_folder  # noqa: E402


def _messy_speech_commands(root: Path) -> dict:
    paths = make_tiny_speech_commands(root)
    kws = paths["kws"]
    wav = (kws / "yes" / "s0abc_nohash_0.wav").read_bytes()
    (kws / "yes" / "s1abc_nohash_9.wav").write_bytes(wav[: len(wav) // 2])  # interrupted copy
    (kws / "no" / "s2abc_nohash_9.wav").write_bytes(b"<html>404 not found</html>" * 20)  # not audio
    flac = root / "tone.flac"
    io.save(flac, 0.1 * torch.randn(1, 16000, generator=torch.Generator().manual_seed(0)), 16000)
    raw = flac.read_bytes()
    (kws / "up" / "s0abc_nohash_9.flac").write_bytes(raw[: len(raw) // 2])  # header fine, fails to decode
    return paths


@pytest.fixture(scope="module")
def messy(tmp_path_factory):
    return _messy_speech_commands(tmp_path_factory.mktemp("messy"))


def _cfg(data, out, **kw):
    return TrainConfig(data=str(data), out=str(out), epochs=1, batch_size=8, width=0.25, clip_seconds=0.5,
                       num_workers=0, progress=False, device="cpu", **kw)


def test_check_header_catches_what_the_header_shows(tmp_path):
    good, bad, _ = build_messy_folder(tmp_path)
    for rel in good:
        io.check_header(tmp_path / rel)
    for rel in ("empty.wav", "header_only.wav", "not_audio.wav", "mp4_bytes.wav", "truncated.wav"):
        with pytest.raises(io.AudioFileError, match=BAD[rel].reason):
            io.check_header(tmp_path / rel)
    found = {Path(b.path).name for b in scan_headers(tmp_path / rel for rel in [*good, *bad])}
    assert found >= {"empty.wav", "header_only.wav", "not_audio.wav", "truncated.wav"} and not found & set(GOOD)


def test_train_stops_before_training_listing_every_bad_file(messy, tmp_path, capsys):
    out = tmp_path / "run"
    with pytest.raises(BadFilesError) as err:
        train(_cfg(messy["kws"], out))
    names = sorted(Path(b.path).name for b in err.value.bad)
    assert names == ["s1abc_nohash_9.wav", "s2abc_nohash_9.wav"]  # both at once, the FLAC header is fine
    lines = sorted((out / "bad_files.txt").read_text().splitlines(), key=lambda ln: "nohash_9.wav: trunc" not in ln)
    assert len(lines) == 2 and "truncated" in lines[0] and "not a readable audio file" in lines[1]
    assert not (out / "last.pt").exists()  # nothing trained
    argv = ["train", "--data", str(messy["kws"]), "--out", str(tmp_path / "cli"), "--epochs", "1", "--width",
            "0.25", "--workers", "0", "--device", "cpu", "--no-progress"]
    assert cli_main(argv) == 2
    stderr = capsys.readouterr().err
    assert "2 unreadable audio file(s)" in stderr and "Traceback" not in stderr
    assert sum("nohash_9.wav: " in line for line in stderr.splitlines()) == 2  # one line each
    assert "--skip-bad" in stderr


def test_skip_bad_trains_without_them_and_skips_mid_epoch_failures(messy, tmp_path):
    out = tmp_path / "skip"
    summary = train(_cfg(messy["kws"], out, skip_bad=True))
    assert summary["epochs_done"] == 1
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["bad_files"]["skipped_at_start"] == 2
    assert metrics["bad_files"]["unreadable_total"] == 3  # + the FLAC that failed while decoding
    assert metrics["epochs"][0]["skipped_unreadable"] == 1
    listed = (out / "bad_files.txt").read_text().splitlines()
    assert len(listed) == 3 and any("s0abc_nohash_9.flac" in line for line in listed)
    assert "skipped unreadable file during epoch 1" in (out / "train.log").read_text()
    # the evaluator: same check on the test subset; a bad test file stops it unless skip_bad
    test_bad = messy["kws"] / "yes" / "s5abc_nohash_9.wav"
    test_bad.write_bytes(b"junk" * 100)
    (messy["kws"] / "testing_list.txt").write_text((messy["kws"] / "testing_list.txt").read_text()
                                                   + "yes/s5abc_nohash_9.wav\n")
    with pytest.raises(BadFilesError, match="s5abc_nohash_9.wav"):
        evaluate_run(out, messy["kws"])
    assert cli_main(["evaluate", str(out), "--data", str(messy["kws"]), "--device", "cpu"]) == 2
    assert cli_main(["evaluate", str(out), "--data", str(messy["kws"]), "--device", "cpu", "--skip-bad"]) == 0
    res = evaluate_run(out, messy["kws"], skip_bad=True)
    assert len(res["bad_files"]) == 1 and "yes/s5abc_nohash_9.wav" not in res["keys"]
    assert res["n"] == len(res["keys"]) > 10
