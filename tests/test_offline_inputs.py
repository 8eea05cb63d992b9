"""Offline inputs other than a folder (a file, a NeMo manifest), path safety, quick flags, dry runs, m4a."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import audionoise
from audionoise import io
from audionoise.io import _ffmpeg
from audionoise.cli import main as cli_main
from audionoise.offline import augment, dry_run, output_name, output_seed, safe_key

from offline_helpers import content, jsonl, make_setup, tone_files, tree


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    return make_setup(tmp_path_factory.mktemp("offline_inputs"))


def _wav(path: Path, frames: int = 16000, seed: int = 0, rate: int = 16000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    x = 0.2 * np.random.default_rng(seed).standard_normal(frames).astype(np.float32)
    sf.write(path, x, rate, subtype="FLOAT")
    return path


def _expected(setup, source: Path, key: str, copy: int, seed: int = 0, **segment) -> torch.Tensor:
    x, _ = io.load(source, **segment)
    pipe = audionoise.load_pipeline(setup)
    return pipe(x[None], generator=torch.Generator().manual_seed(output_seed(seed, key, copy)))[0]


def test_single_file_input(setup, tmp_path):
    src = _wav(tmp_path / "rec" / "take 1.wav")
    s = augment(src, tmp_path / "out", setup, copies=2, progress=False)
    assert (s.inputs, s.written, s.failed) == (1, 2, 0)
    rows = jsonl(tmp_path / "out" / "manifest.jsonl")
    assert [r["output"] for r in rows] == ["take 1_aug0.wav", "take 1_aug1.wav"]
    for r in rows:
        assert r["input"] == "take 1.wav" and r["seed"] == output_seed(0, "take 1.wav", r["copy"])
        y, _ = io.load(tmp_path / "out" / r["output"])
        assert torch.equal(y, _expected(setup, src, "take 1.wav", r["copy"]))


def _manifest(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_manifest_in_keeps_fields_and_gives_a_manifest_out(setup, tmp_path):
    a = _wav(tmp_path / "data" / "a.wav", 32000, seed=1)
    b = _wav(tmp_path / "data" / "sub" / "b.wav", 8000, seed=2)
    lines = [{"audio_filepath": "a.wav", "duration": 2.0, "text": "hello world", "speaker": 7},
             {"audio_filepath": str(b), "duration": 0.5, "text": "b", "lang": "en"},
             {"audio_filepath": "a.wav", "offset": 0.5, "duration": 0.25, "text": "segment"}]
    man = _manifest(tmp_path / "data" / "train.jsonl", lines)
    s = augment(man, tmp_path / "out", setup, copies=2, progress=False)
    assert (s.inputs, s.written, s.failed) == (3, 6, 0)
    rows = jsonl(tmp_path / "out" / "manifest.jsonl")
    assert len(rows) == 6
    by_line = {}
    for r in rows:
        aug = r["augmentation"]
        by_line.setdefault(aug["line"], []).append(r)
        src = lines[aug["line"] - 1]
        # every input field is kept; audio_filepath (relative to OUT) and duration describe the output
        assert {k: v for k, v in r.items() if k not in ("audio_filepath", "duration", "offset", "augmentation")} == \
            {k: v for k, v in src.items() if k not in ("audio_filepath", "duration", "offset")}
        out = tmp_path / "out" / r["audio_filepath"]
        assert out.is_file() and aug["output"] == r["audio_filepath"] and aug["input"] == src["audio_filepath"]
        assert r["duration"] == pytest.approx(io.info(out).duration)
        assert [t["transform"] for t in aug["transforms"]] == ["WhiteNoise", "BackgroundNoise"]
    # the whole-file lines keep their duration; the segment's output holds the segment only
    assert all(r["duration"] == 2.0 for r in by_line[1]) and all(r["duration"] == 0.5 for r in by_line[2])
    seg = by_line[3]
    assert all(r["offset"] == 0.0 and r["duration"] == 0.25 for r in seg)
    # a.wav appears on two lines: the line number tells their outputs (and seeds) apart
    assert sorted(r["audio_filepath"] for r in by_line[1]) == ["a.L1_aug0.wav", "a.L1_aug1.wav"]
    assert sorted(r["audio_filepath"] for r in seg) == ["a.L3_aug0.wav", "a.L3_aug1.wav"]
    for r in seg:
        y, _ = io.load(tmp_path / "out" / r["audio_filepath"])
        assert torch.equal(y, _expected(setup, a, "a.L3.wav", r["augmentation"]["copy"], offset=0.5,
                                        duration=0.25))
    # b's absolute path is named under OUT without its root
    assert sorted(r["audio_filepath"] for r in by_line[2]) == [output_name(safe_key(str(b)), k) for k in (0, 1)]


def test_manifest_paths_cannot_escape_out_or_collide(setup, tmp_path):
    x = _wav(tmp_path / "elsewhere" / "x.wav", 4000, seed=3)
    _wav(tmp_path / "data" / "x.wav", 4000, seed=4)
    lines = [{"audio_filepath": "../elsewhere/x.wav"}, {"audio_filepath": str(x)},
             {"audio_filepath": "x.wav"}, {"audio_filepath": "./x.wav"}, {"audio_filepath": "x.wav"},
             {"audio_filepath": "../../../../../../../../../tmp/../elsewhere/x.wav"}]
    man = _manifest(tmp_path / "data" / "m.jsonl", lines)
    before = tree(tmp_path)
    s = augment(man, tmp_path / "out", setup, copies=2, progress=False)
    assert s.written + 2 * s.failed == 12
    outs = [r["audio_filepath"] for r in jsonl(tmp_path / "out" / "manifest.jsonl")]
    assert len(outs) == len(set(outs)) == s.written
    for o in outs:
        assert (tmp_path / "out" / o).resolve().is_relative_to((tmp_path / "out").resolve())
        assert ".." not in Path(o).parts and not Path(o).is_absolute()
    after = tree(tmp_path)
    assert {k: v for k, v in after.items() if not k.startswith("out")} == before  # nothing else changed
    # the missing file (line 6 resolves to /tmp/../elsewhere) is one error line with its line number
    errors = jsonl(tmp_path / "out" / "errors.jsonl")
    assert [e["line"] for e in errors] == [6] and "no such file" in errors[0]["reason"]


def test_manifest_bad_lines_are_error_lines_and_resume_works(setup, tmp_path):
    _wav(tmp_path / "d" / "a.wav", 4000)
    _wav(tmp_path / "d" / "b.wav", 4000, seed=5)
    man = tmp_path / "d" / "m.jsonl"
    man.write_text('{"audio_filepath": "a.wav"}\nnot json\n{"text": "no path"}\n\n'
                   '{"audio_filepath": "b.wav", "offset": -1}\n{"audio_filepath": "b.wav", "duration": 0.1}\n')
    s = augment(man, tmp_path / "out", setup, progress=False)
    assert (s.written, s.failed) == (2, 3)
    errors = jsonl(tmp_path / "out" / "errors.jsonl")
    assert sorted(e["line"] for e in errors) == [2, 3, 5]
    assert any("not JSON" in e["reason"] for e in errors) and any("audio_filepath" in e["reason"] for e in errors)
    reference = content(tmp_path / "out")
    first = jsonl(tmp_path / "out" / "manifest.jsonl")[0]["audio_filepath"]
    (tmp_path / "out" / first).unlink()
    s2 = augment(man, tmp_path / "out", setup, resume=True, progress=False)
    assert (s2.resumed, s2.written) == (1, 1)
    assert content(tmp_path / "out") == reference


def test_quick_flags_equal_their_printed_config(tmp_path, capsys):
    tone_files(tmp_path / "in", 4)
    _wav(tmp_path / "noise" / "n.wav", 8000, seed=9)
    quick = ["--noise", str(tmp_path / "noise"), "--snr", "0", "20", "--white-snr", "20", "30", "--time-mask", "0.01"]
    assert cli_main(["augment", str(tmp_path / "in"), str(tmp_path / "q"), *quick, "--no-progress"]) == 0
    capsys.readouterr()
    assert cli_main(["augment", *quick, "--print-config"]) == 0
    toml = capsys.readouterr().out
    assert [line for line in toml.splitlines() if line.startswith("name")] == \
        ['name = "BackgroundNoise"', 'name = "WhiteNoise"', 'name = "TimeMask"']
    (tmp_path / "p.toml").write_text(toml)
    assert cli_main(["augment", str(tmp_path / "in"), str(tmp_path / "c"), "--config", str(tmp_path / "p.toml"),
                     "--no-progress"]) == 0
    q, c = content(tmp_path / "q"), content(tmp_path / "c")
    assert {k: v for k, v in q.items() if k != "run.json"} == {k: v for k, v in c.items() if k != "run.json"}
    rows = jsonl(tmp_path / "q" / "manifest.jsonl")
    assert [t["transform"] for t in rows[0]["transforms"]] == ["BackgroundNoise", "WhiteNoise", "TimeMask"]


def test_quick_noise_takes_any_background_noise_source_and_snr_one_value_is_fixed(tmp_path, capsys):
    tone_files(tmp_path / "in", 2)
    _wav(tmp_path / "noise" / "a.wav", 8000, seed=9)
    _wav(tmp_path / "noise" / "sub" / "b.wav", 8000, seed=10)
    (tmp_path / "list.txt").write_text("noise/a.wav\n")
    (tmp_path / "m.jsonl").write_text('{"audio_filepath": "noise/sub/b.wav", "duration": 0.5}\n')
    sources = {"folder": [str(tmp_path / "noise")], "file": [str(tmp_path / "noise" / "a.wav")],
               "glob": [str(tmp_path / "noise" / "**" / "*.wav")], "list": [str(tmp_path / "list.txt")],
               "several": [str(tmp_path / "list.txt"), str(tmp_path / "m.jsonl")]}
    for name, noise in sources.items():
        flags = [a for n in noise for a in ("--noise", n)]
        assert cli_main(["augment", str(tmp_path / "in"), str(tmp_path / name), *flags, "--snr", "7.5", "-q"]) == 0
        rows = jsonl(tmp_path / name / "manifest.jsonl")
        assert len(rows) == 2 and all(r["transforms"][0]["snr_db"] == pytest.approx(7.5) for r in rows), name
        assert {r["transforms"][0]["clip_name"] for r in rows} <= {"a.wav", "b.wav", "noise/a.wav", "noise/sub/b.wav",
                                                                   "sub/b.wav", str(tmp_path / "noise" / "a.wav"),
                                                                   str(tmp_path / "noise" / "sub" / "b.wav")}, name
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:  # argparse: `--snr 0 20 IN OUT` would read IN as an SNR
        cli_main(["augment", "--noise", str(tmp_path / "noise"), "--snr", "0", "20", "in", "out"])
    assert exit_.value.code == 2 and "'in' is not a number of dB" in capsys.readouterr().err
    assert cli_main(["augment", "--noise", str(tmp_path / "m.jsonl"), "--snr", "10", "--print-config"]) == 0
    toml = capsys.readouterr().out
    assert f'noise = "{tmp_path / "m.jsonl"}"' in toml and "min_snr_db = 10.0\nmax_snr_db = 10.0" in toml


@pytest.mark.parametrize("args, words", [
    (["--snr", "0", "20"], "--noise SOURCE and --snr go together"),
    (["--noise", "NOISE"], "--noise SOURCE and --snr go together"),
    (["--noise", "NOISE", "--snr", "0", "10", "20"], "--snr takes one value (a fixed SNR in dB) or two (LO HI), got 3"),
    (["--noise", "/no/such/*.wav", "--snr", "0", "1"], "matches no file"),
    ([], "no pipeline"),
    (["--config", "CONFIG", "--white-snr", "1", "2"], "exclude each other"),
    (["--noise", "/no/such/folder", "--snr", "0", "1"], "'/no/such/folder' does not exist"),
])
def test_quick_flag_errors_exit_2(setup, tmp_path, capsys, args, words):
    tone_files(tmp_path / "in", 1)
    args = [a.replace("NOISE", str(setup.parent / "noise")).replace("CONFIG", str(setup)) for a in args]
    assert cli_main(["augment", str(tmp_path / "in"), str(tmp_path / "out"), *args, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err
    assert not (tmp_path / "out").exists()


def test_dry_run_counts_and_writes_nothing(setup, tmp_path, capsys):
    tone_files(tmp_path / "in", 5, frames=1600)
    (tmp_path / "in" / "broken.wav").write_bytes(b"junk" * 10)
    (tmp_path / "in" / "notes.txt").write_text("hi")
    before = tree(tmp_path)
    r = dry_run(tmp_path / "in", tmp_path / "out", setup, copies=3)
    assert (r.inputs, r.outputs, r.resumed, r.skipped) == (6, 15, 0, 1)  # the broken file gives none
    assert [u[0] for u in r.unreadable] == ["broken.wav"] and "not a readable audio file" in r.unreadable[0][1]
    assert r.input_bytes == sum(p.stat().st_size for p in (tmp_path / "in").rglob("utt*.wav"))
    assert r.output_bytes == 3 * 5 * (1600 * 2 + 44)  # PCM_16 WAV: exact
    assert r.exit_status == 1
    assert cli_main(["augment", str(tmp_path / "in"), str(tmp_path / "out"), "--config", str(setup),
                     "--dry-run"]) == 1
    out = capsys.readouterr().out
    assert "broken.wav: not a readable audio file" in out and "nothing written" in out
    assert tree(tmp_path) == before and not (tmp_path / "out").exists()
    bad = tmp_path / "bad.toml"
    bad.write_text('[[transforms]]\nname = "WhiteNoize"\n')
    assert cli_main(["augment", str(tmp_path / "in"), str(tmp_path / "out"), "--config", str(bad),
                     "--dry-run"]) == 2
    # after a run, a dry run with --resume counts what is left
    augment(tmp_path / "in", tmp_path / "out", setup, copies=3, progress=False)
    (tmp_path / "out" / "spk0" / "utt 0000_aug2.wav").unlink()
    r = dry_run(tmp_path / "in", tmp_path / "out", setup, copies=3, resume=True)
    assert (r.outputs, r.resumed) == (1, 14)


def test_m4a_without_the_extra_is_unsupported_audio_not_non_audio(setup, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(_ffmpeg, "available", lambda: False)
    tone_files(tmp_path / "in", 2)
    (tmp_path / "in" / "memo.m4a").write_bytes(b"\0" * 64)
    (tmp_path / "in" / "song.WMA").write_bytes(b"\0" * 64)
    (tmp_path / "in" / "notes.txt").write_text("hi")
    assert cli_main(["augment", str(tmp_path / "in"), str(tmp_path / "out"), "--config", str(setup),
                     "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "2 inputs failed (2 unsupported audio: install audionoise[ffmpeg]), 1 non-audio entries skipped" in out
    errors = {e["input"]: e["reason"] for e in jsonl(tmp_path / "out" / "errors.jsonl")}
    assert errors == {"memo.m4a": "m4a/AAC needs audionoise[ffmpeg], or convert it to WAV/FLAC",
                      "song.WMA": "WMA needs audionoise[ffmpeg], or convert it to WAV/FLAC"}
    r = dry_run(tmp_path / "in", tmp_path / "out2", setup)
    assert r.unsupported == 2 and len(r.unreadable) == 2


def test_m4a_with_the_extra_is_written_as_flac(setup, tmp_path):
    pytest.importorskip("av", reason="PyAV (audionoise[ffmpeg]) not installed: add av to the [test] extra")
    from test_io_blocks import write_m4a

    (tmp_path / "in").mkdir()
    t = np.arange(16000) / 16000
    write_m4a(tmp_path / "in" / "memo.m4a", (0.3 * np.sin(2 * np.pi * 300 * t))[None], 16000)
    s = augment(tmp_path / "in", tmp_path / "out", setup, copies=1, progress=False)
    assert (s.written, s.failed, s.unsupported) == (1, 0, 0)
    row = jsonl(tmp_path / "out" / "manifest.jsonl")[0]
    assert row["output"] == "memo_aug0.flac" and row["converted_from"] == "m4a" and row["subtype"] == "PCM_16"
    info = io.info(tmp_path / "out" / "memo_aug0.flac")
    assert info.format == "FLAC" and info.frames == row["frames"] >= 16000
    y, _ = io.load(tmp_path / "out" / "memo_aug0.flac")
    expected = _expected(setup, tmp_path / "in" / "memo.m4a", "memo.m4a", 0)
    assert torch.allclose(y, expected.clamp(-1, 1), atol=1.5 / 32768)  # 16-bit rounding only
