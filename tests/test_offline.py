"""Tests for audionoise.offline and `audionoise augment`: safety, determinism, resume, sharding, messy input."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from torch import nn

import audionoise
from audionoise import io
from audionoise.cli import main as cli_main
from audionoise.offline import (OfflineUsageError, augment_folder, output_name, output_seed, output_subtype,
                                shard_of)

from audionoise.io import _ffmpeg
from messy_audio import BAD, CONTAINERS, GOOD, NOT_AUDIO, build_messy_folder
from offline_helpers import content, jsonl, make_setup, tone_files, tree

REPO = Path(__file__).resolve().parents[1]

@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A pipeline config with its noise folder (16 kHz WAV + 44.1 kHz FLAC clip)."""
    return make_setup(tmp_path_factory.mktemp("offline"))


@pytest.fixture(scope="module")
def messy_run(setup, tmp_path_factory):
    """The messy folder augmented once (2 copies, 1 worker); shared by several tests."""
    root = tmp_path_factory.mktemp("messy_run")
    build_messy_folder(root / "in")
    before = tree(root / "in")
    summary = augment_folder(root / "in", root / "out", setup, copies=2, progress=False)
    return root, summary, before


# ---------------------------------------------------------------------------------------------- pure helpers
def test_output_seed_depends_only_on_seed_path_and_copy():
    s = output_seed(0, "a/b.wav", 0)
    assert s == output_seed(0, "a/b.wav", 0) and 0 <= s < 2**63
    others = {output_seed(1, "a/b.wav", 0), output_seed(0, "a/c.wav", 0), output_seed(0, "a/b.wav", 1)}
    assert s not in others and len(others) == 3
    # closed form: first 8 bytes of BLAKE2b-64, little endian, shifted right by one bit
    digest = hashlib.blake2b(b"7\0x.wav\x002", digest_size=8).digest()
    assert output_seed(7, "x.wav", 2) == int.from_bytes(digest, "little") >> 1


def test_output_names():
    assert output_name("a.wav", 0) == "a_aug0.wav"
    assert output_name("d/e/f.g.FLAC", 12) == "d/e/f.g_aug12.FLAC"
    assert output_name("x.ogg", 1, "wav") == "x_aug1.wav"
    assert output_name("名前 x/y z.mp3", 0, "flac") == "名前 x/y z_aug0.flac"


@pytest.mark.parametrize("container, sub, expected", [
    ("WAV", "PCM_24", "PCM_24"), ("FLAC", "PCM_24", "PCM_24"), ("WAV", "DOUBLE", "DOUBLE"),
    ("FLAC", "FLOAT", "PCM_24"), ("FLAC", "PCM_32", "PCM_24"), ("WAV", "IMA_ADPCM", "PCM_16"),
    ("WAV", "MS_ADPCM", "PCM_16"), ("WAV", "VORBIS", "PCM_16"), ("OGG", "VORBIS", "VORBIS"),
    ("MP3", "MPEG_LAYER_III", "MPEG_LAYER_III"), ("WAV", "PCM_U8", "PCM_U8"), ("FLAC", "PCM_U8", "PCM_16"),
])
def test_output_subtype(container, sub, expected):
    assert output_subtype(container, sub) == expected


@pytest.mark.parametrize("n", [1, 2, 3, 7])
def test_shards_cover_every_index_exactly_once(n):
    for index in range(50):
        assert sum(shard_of(index, (i, n)) for i in range(n)) == 1


# ---------------------------------------------------------------------------------------------- messy folder
def test_messy_summary_and_exit_status(messy_run):
    _, s, _ = messy_run
    assert (s.inputs, s.written, s.resumed, s.failed, s.skipped) == (
        len(GOOD) + len(BAD) + len(CONTAINERS), 2 * len(GOOD), 0, len(BAD) + len(CONTAINERS), len(NOT_AUDIO))
    assert s.unsupported == (0 if _ffmpeg.available() else len(CONTAINERS))
    assert s.exit_status == 1
    assert "inputs failed" in str(s) and "files/s" in str(s)
    assert ("unsupported audio: install audionoise[ffmpeg]" in str(s)) == (s.unsupported > 0)


def test_messy_input_is_never_modified(messy_run):
    root, _, before = messy_run
    assert tree(root / "in") == before


def test_messy_errors_one_clear_line_per_bad_file(messy_run):
    root, _, _ = messy_run
    rows = jsonl(root / "out" / "errors.jsonl")
    assert [r["input"] for r in rows] == sorted(list(BAD) + list(CONTAINERS))
    for r in rows:
        if r["input"] in CONTAINERS:  # audio in a container PyAV reads: never "non-audio"
            assert r["reason"] in ("m4a/AAC needs audionoise[ffmpeg], or convert it to WAV/FLAC",) or \
                r["reason"].startswith("not a readable m4a/AAC file")
        else:
            assert BAD[r["input"]].reason in r["reason"]
    for name in BAD:
        assert not (root / "out" / output_name(name, 0)).exists()


@pytest.mark.parametrize("name", sorted(GOOD))
def test_messy_good_files_give_outputs_with_kept_properties(messy_run, name):
    root, _, _ = messy_run
    g = GOOD[name]
    x, _ = io.load(root / "in" / name)
    for k in range(2):
        out = root / "out" / output_name(name, k)
        info = io.info(out)
        assert (info.sample_rate, info.channels) == (g.sample_rate, g.channels)
        expected_subtype = "PCM_16" if "ADPCM" in g.subtype else g.subtype
        assert info.subtype == expected_subtype
        y, _ = io.load(out)
        assert torch.isfinite(y).all()
        if g.subtype.startswith(("PCM", "FLOAT", "DOUBLE")) or "ADPCM" in g.subtype:
            assert y.shape == x.shape  # lossless outputs keep every frame
    if name == "digital_silence.wav":  # nothing to measure an SNR against: no noise is added
        assert torch.equal(io.load(root / "out" / output_name(name, 0))[0], x)


def test_messy_manifest_lines(messy_run):
    root, _, _ = messy_run
    lines = (root / "out" / "manifest.jsonl").read_text(encoding="utf-8").splitlines()
    assert lines == sorted(lines)
    rows = [json.loads(line) for line in lines]
    assert sorted(r["output"] for r in rows) == sorted(output_name(n, k) for n in GOOD for k in range(2))
    for r in rows:
        assert r["seed"] == output_seed(0, r["input"], r["copy"])
        assert r["output"] == output_name(r["input"], r["copy"])
        info = io.info(root / "out" / r["output"])
        assert (r["sample_rate"], r["channels"], r["subtype"]) == (info.sample_rate, info.channels, info.subtype)
        assert [t["transform"] for t in r["transforms"]] == ["WhiteNoise", "BackgroundNoise"]
        assert all(isinstance(t["applied"], bool) for t in r["transforms"])
    silent = [r for r in rows if r["input"] == "digital_silence.wav"]
    assert all(t["noise_added"] is False for r in silent for t in r["transforms"])


def test_folder_manifest_is_a_nemo_manifest_that_audio_manifest_reads(messy_run):
    from audionoise.data import AudioManifest

    root, _, _ = messy_run
    rows = jsonl(root / "out" / "manifest.jsonl")
    for r in rows:
        assert r["audio_filepath"] == r["output"] and r["duration"] == round(r["frames"] / r["sample_rate"], 6)
    ds = AudioManifest(root / "out" / "manifest.jsonl")
    assert len(ds) == len(rows)
    for i in (0, len(ds) - 1):
        x, meta = ds[i]
        assert x.shape[-1] == rows[i]["frames"] and meta["copy"] == rows[i]["copy"]  # carried fields come along
        assert torch.equal(x, io.load(root / "out" / rows[i]["output"])[0])


def test_manifest_record_reproduces_the_output(messy_run, setup):
    """A manifest seed + the pipeline rebuild the output exactly (here a FLOAT file: no rounding)."""
    root, _, _ = messy_run
    row = next(r for r in jsonl(root / "out" / "manifest.jsonl") if r["output"] == "float32_aug1.wav")
    x, sr = io.load(root / "in" / "float32.wav")
    pipe = audionoise.load_pipeline(setup)
    y = pipe(x[None], generator=torch.Generator().manual_seed(row["seed"]))[0]
    assert torch.equal(io.load(root / "out" / "float32_aug1.wav")[0], y)


def test_workers_and_shards_give_identical_bytes(messy_run, setup, tmp_path):
    root, _, _ = messy_run
    reference = content(root / "out")
    s = augment_folder(root / "in", tmp_path / "w3", setup, copies=2, workers=3, progress=False)
    assert s.written == 2 * len(GOOD) and s.failed == len(BAD) + len(CONTAINERS)
    assert content(tmp_path / "w3") == reference
    for i in range(3):
        augment_folder(root / "in", tmp_path / "sh", setup, copies=2, shard=(i, 3), progress=False)
    sharded = content(tmp_path / "sh")
    for kind in ("manifest", "errors"):
        merged = sorted(line for i in range(3) for line in
                        (tmp_path / "sh" / f"{kind}.shard-{i}-of-3.jsonl").read_text("utf-8").splitlines(True))
        assert "".join(merged) == (root / "out" / f"{kind}.jsonl").read_text("utf-8")
    audio = {k: v for k, v in reference.items() if not k.endswith(".jsonl")}
    assert {k: v for k, v in sharded.items() if not k.endswith(".jsonl")} == audio


def test_other_seed_changes_outputs(messy_run, setup, tmp_path):
    root, _, _ = messy_run
    augment_folder(root / "in", tmp_path / "o", setup, seed=1, progress=False, extensions=["flac"])
    assert (tmp_path / "o" / "stereo_44k_aug0.flac").read_bytes() != \
        (root / "out" / "stereo_44k_aug0.flac").read_bytes()


# ---------------------------------------------------------------------------------------------- resume
def test_resume_redoes_exactly_the_missing_outputs(setup, tmp_path):
    tone_files(tmp_path / "in", 12)
    augment_folder(tmp_path / "in", tmp_path / "ref", setup, copies=2, progress=False)
    reference = content(tmp_path / "ref")
    augment_folder(tmp_path / "in", tmp_path / "out", setup, copies=2, progress=False)
    out = tmp_path / "out"
    # Simulate a kill: two outputs missing, one output written but its manifest line lost,
    # the last manifest line cut in half, a temporary file left behind.
    lines = (out / "manifest.jsonl").read_text("utf-8").splitlines(True)
    gone = [json.loads(line)["output"] for line in lines[:2]]
    for o in gone:
        (out / o).unlink()
    (out / "manifest.jsonl").write_text("".join(lines[2:10]) + lines[11] + lines[12][:30], encoding="utf-8")
    (out / "spk0" / ".utt 0000_aug0.wav.0123456789ab.tmp").write_bytes(b"RIFF partial")
    (out / ".manifest.jsonl.00000000beef.tmp").write_text('{"output": "x"}\n')
    s = augment_folder(tmp_path / "in", out, setup, copies=2, resume=True, progress=False)
    assert s.resumed == 9 and s.written == 24 - 9
    assert content(out) == reference


def test_existing_manifest_without_resume_is_a_usage_error(setup, tmp_path, capsys):
    tone_files(tmp_path / "in", 2)
    augment_folder(tmp_path / "in", tmp_path / "out", setup, progress=False)
    before = content(tmp_path / "out")
    with pytest.raises(OfflineUsageError, match=r"earlier run; pass resume=True to finish it") as err:
        augment_folder(tmp_path / "in", tmp_path / "out", setup, progress=False)
    assert "--resume" not in str(err.value)  # Python words from Python, command-line words from the CLI:
    assert cli_main(["augment", str(tmp_path / "in"), str(tmp_path / "out"), "--config", str(setup), "-q"]) == 2
    message = capsys.readouterr().err
    assert "earlier run; pass --resume to finish it" in message and "resume=True" not in message
    assert content(tmp_path / "out") == before


def test_resume_with_other_settings_is_refused(setup, tmp_path):
    tone_files(tmp_path / "in", 2)
    augment_folder(tmp_path / "in", tmp_path / "out", setup, seed=3, progress=False)
    before = content(tmp_path / "out")
    assert json.loads((tmp_path / "out" / "run.json").read_text())["seed"] == 3
    with pytest.raises(OfflineUsageError, match=r"cannot resume: .*\(seed differ"):
        augment_folder(tmp_path / "in", tmp_path / "out", setup, seed=4, resume=True, progress=False)
    with pytest.raises(OfflineUsageError, match=r"\(format, pipeline differ"):
        augment_folder(tmp_path / "in", tmp_path / "out", {"transforms": []}, seed=3, fmt="flac", resume=True,
                       progress=False)
    assert content(tmp_path / "out") == before
    s = augment_folder(tmp_path / "in", tmp_path / "out", setup, seed=3, copies=2, resume=True, progress=False)
    assert (s.resumed, s.written) == (2, 2)  # more copies: only the new ones are written


@pytest.mark.slow  # two processes killed mid-run and resumed: ~3.5 s each
@pytest.mark.parametrize("workers", [1, 2])
def test_kill_9_then_resume_equals_uninterrupted_run(setup, tmp_path, workers):
    tone_files(tmp_path / "in", 300, frames=400)
    augment_folder(tmp_path / "in", tmp_path / "ref", setup, progress=False)
    cmd = [sys.executable, "-m", "audionoise", "augment", str(tmp_path / "in"), str(tmp_path / "out"),
           "--config", str(setup), "--workers", str(workers), "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    manifest = tmp_path / "out" / "manifest.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if manifest.exists() and manifest.read_bytes().count(b"\n") >= 20:
            break
        time.sleep(0.005)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)  # the whole job, workers included, as a scheduler would
    proc.wait()
    done = manifest.read_bytes().count(b"\n")
    assert 20 <= done < 300
    resumed = subprocess.run(cmd + ["--resume"], env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert content(tmp_path / "out") == content(tmp_path / "ref")


# ---------------------------------------------------------------------------------------------- safety
def test_refuses_out_equal_inside_or_containing_in(setup, tmp_path):
    tone_files(tmp_path / "data" / "in", 2)
    before = tree(tmp_path)
    for out, words in [(tmp_path / "data" / "in", "is the input folder"),
                       (tmp_path / "data" / "in" / "spk0" / "out", "inside the input folder"),
                       (tmp_path / "data", "contains the input folder")]:
        with pytest.raises(OfflineUsageError, match=words):
            augment_folder(tmp_path / "data" / "in", out, setup, progress=False)
    (tmp_path / "alias").symlink_to(tmp_path / "data" / "in")
    with pytest.raises(OfflineUsageError, match="is the input folder"):
        augment_folder(tmp_path / "data" / "in", tmp_path / "alias", setup, progress=False)
    assert {k: v for k, v in tree(tmp_path).items() if k != "alias"} == before


@pytest.mark.parametrize("kwargs, words", [
    ({"copies": 0}, "copies"), ({"workers": 0}, "workers"), ({"shard": (2, 2)}, "shard"),
    ({"fmt": "mp3"}, "fmt"), ({"sample_rate": -1}, "sample_rate"), ({"extensions": ["xyz"]}, "xyz"),
])
def test_bad_options_are_usage_errors(setup, tmp_path, kwargs, words):
    tone_files(tmp_path / "in", 1)
    with pytest.raises(OfflineUsageError, match=words):
        augment_folder(tmp_path / "in", tmp_path / "out", setup, progress=False, **kwargs)
    assert not (tmp_path / "out").exists()


def test_cli_usage_errors_exit_2_and_create_nothing(setup, tmp_path, capsys):
    tone_files(tmp_path / "in", 1)
    bad = tmp_path / "bad.toml"
    bad.write_text('[[transforms]]\nname = "WhiteNoize"\n')
    cases = [
        [str(tmp_path / "missing"), str(tmp_path / "out"), "--config", str(setup)],
        [str(tmp_path / "in"), str(tmp_path / "in" / "out"), "--config", str(setup)],
        [str(tmp_path / "in"), str(tmp_path / "out"), "--config", str(bad)],
        [str(tmp_path / "in"), str(tmp_path / "out"), "--config", str(tmp_path / "nope.toml")],
    ]
    for args in cases:
        assert cli_main(["augment", *args, "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert "audionoise augment: error:" in err
    assert "WhiteNoize" in err or "nope.toml" in err
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["augment", str(tmp_path / "in"), str(tmp_path / "out"), "--config", str(setup),
                  "--shard", "4/4"])
    assert exit_info.value.code == 2
    assert not (tmp_path / "out").exists() and not (tmp_path / "in" / "out").exists()


def test_cli_exit_status_and_summary(setup, tmp_path, capsys):
    tone_files(tmp_path / "in", 3)
    (tmp_path / "in" / "notes.txt").write_text("hi")
    assert cli_main(["augment", str(tmp_path / "in"), str(tmp_path / "ok"), "--config", str(setup),
                     "--copies", "2", "--format", "flac", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "6 outputs written" in out and "0 inputs failed" in out and "1 non-audio" in out
    assert io.info(tmp_path / "ok" / "spk0" / "utt 0000_aug1.flac").format == "FLAC"
    (tmp_path / "in" / "broken.wav").write_bytes(b"junk")
    assert cli_main(["augment", str(tmp_path / "in"), str(tmp_path / "ko"), "--config", str(setup),
                     "--no-progress"]) == 1
    assert "1 input(s) failed" in capsys.readouterr().err


def test_hidden_entries_are_skipped(setup, tmp_path):
    tone_files(tmp_path / "in", 2)
    (tmp_path / "in" / ".git").mkdir()
    sf.write(tmp_path / "in" / ".git" / "x.wav", np.zeros(10, np.float32), 16000)
    (tmp_path / "in" / "._utt.wav").write_bytes(b"\0\5\26\7 macOS metadata")
    s = augment_folder(tmp_path / "in", tmp_path / "out", setup, progress=False)
    assert (s.written, s.failed, s.skipped) == (2, 0, 2)


def test_symlinks(setup, tmp_path):
    (tmp_path / "outside").mkdir()
    sf.write(tmp_path / "outside" / "secret.wav", np.zeros(100, np.float32), 16000)
    tone_files(tmp_path / "in", 2)
    inn = tmp_path / "in"
    (inn / "link_inside.wav").symlink_to(inn / "spk0" / "utt 0000.wav")
    (inn / "link_outside.wav").symlink_to(tmp_path / "outside" / "secret.wav")
    (inn / "dir_outside").symlink_to(tmp_path / "outside")
    (inn / "dir_inside").symlink_to(inn / "spk1")
    (inn / "broken.wav").symlink_to(inn / "missing.wav")
    before_outside = tree(tmp_path / "outside")
    s = augment_folder(inn, tmp_path / "out", setup, progress=False)
    errors = {r["input"]: r["reason"] for r in jsonl(tmp_path / "out" / "errors.jsonl")}
    assert set(errors) == {"link_outside.wav", "dir_outside", "broken.wav"}
    assert "outside the input folder" in errors["link_outside.wav"]
    assert "outside the input folder" in errors["dir_outside"]
    assert "broken symlink" in errors["broken.wav"]
    outputs = sorted(r["output"] for r in jsonl(tmp_path / "out" / "manifest.jsonl"))
    assert outputs == ["link_inside_aug0.wav", "spk0/utt 0000_aug0.wav", "spk1/utt 0001_aug0.wav"]
    assert (s.written, s.failed, s.skipped) == (3, 3, 1)  # dir_inside: skipped, files done via spk1/
    assert tree(tmp_path / "outside") == before_outside


def test_never_writes_through_a_symlink_in_out(setup, tmp_path):
    tone_files(tmp_path / "in", 1)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "spk0").symlink_to(tmp_path / "elsewhere")
    s = augment_folder(tmp_path / "in", tmp_path / "out", setup, progress=False)
    assert s.failed == 1 and list((tmp_path / "elsewhere").iterdir()) == []
    assert "resolves outside the output folder" in jsonl(tmp_path / "out" / "errors.jsonl")[0]["reason"]


def test_output_name_collisions_are_errors_not_overwrites(setup, tmp_path):
    (tmp_path / "in").mkdir()
    for name in ("a.wav", "a.flac", "b.wav"):
        sf.write(tmp_path / "in" / name, np.full(100, 0.1, np.float32), 16000)
    s = augment_folder(tmp_path / "in", tmp_path / "out", setup, fmt="wav", progress=False)
    errors = jsonl(tmp_path / "out" / "errors.jsonl")
    assert [e["input"] for e in errors] == ["a.flac", "a.wav"] and "shared by" in errors[0]["reason"]
    assert (s.written, s.failed) == (1, 2) and not (tmp_path / "out" / "a_aug0.wav").exists()


def test_sample_rate_and_extension_options(setup, tmp_path):
    (tmp_path / "in").mkdir()
    sf.write(tmp_path / "in" / "a.wav", np.zeros((4800, 2), np.float32) + 0.1, 48000, subtype="PCM_24")
    sf.write(tmp_path / "in" / "b.flac", np.zeros(1600, np.float32) + 0.1, 16000)
    s = augment_folder(tmp_path / "in", tmp_path / "out", setup, sample_rate=8000, extensions=["WAV"],
                       progress=False)
    assert (s.written, s.skipped) == (1, 1)
    assert io.info(tmp_path / "out" / "a_aug0.wav") == io.AudioInfo(8000, 800, 2, "WAV", "PCM_24")


def test_module_pipeline_of_another_rate_is_a_per_file_error(setup, tmp_path):
    (tmp_path / "in").mkdir()
    sf.write(tmp_path / "in" / "a.wav", np.full(1600, 0.1, np.float32), 16000)
    sf.write(tmp_path / "in" / "b.wav", np.full(4800, 0.1, np.float32), 48000)
    pipe = audionoise.load_pipeline(setup)
    s = augment_folder(tmp_path / "in", tmp_path / "out", pipe, progress=False)
    assert (s.written, s.failed) == (1, 1)
    assert "48000 Hz differs from the pipeline's 16000 Hz" in jsonl(tmp_path / "out" / "errors.jsonl")[0]["reason"]


class _CrashOn(nn.Module):
    """A stand-in pipeline that kills its worker process on one input (like a crashing decoder would)."""

    def forward(self, x, lengths=None, generator=None, return_params=False):
        if float(x.abs().max()) > 0.9:
            os._exit(3)
        return x, [[{"transform": "Identity", "applied": True}] for _ in range(x.shape[0])]


def test_a_crashing_worker_does_not_stop_the_job(tmp_path):
    (tmp_path / "in").mkdir()
    for i in range(12):
        sf.write(tmp_path / "in" / f"f{i:02d}.wav", np.full(160, 0.95 if i == 5 else 0.1, np.float32), 16000)
    s = augment_folder(tmp_path / "in", tmp_path / "out", _CrashOn(), workers=2, progress=False)
    errors = jsonl(tmp_path / "out" / "errors.jsonl")
    assert "f05.wav" in [e["input"] for e in errors]
    assert all("worker process died" in e["reason"] for e in errors)
    assert s.written + s.failed == 12 and s.written >= 12 - 4  # only the chunks in flight are lost
    # --resume retries the failed inputs
    s2 = augment_folder(tmp_path / "in", tmp_path / "out", _CrashOn(), workers=2, resume=True, progress=False)
    assert s2.resumed == s.written and s2.failed >= 1
