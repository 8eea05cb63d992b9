"""Preview pages (audionoise preview / audionoise.preview): equal to augment's outputs, exact SNRs, the summary's
distributions follow the config, bad input handled as augment does, pages self-contained."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("matplotlib")
from scipy import stats  # noqa: E402

from audionoise import assets  # noqa: E402
from audionoise.cli import main  # noqa: E402
from audionoise.offline import augment  # noqa: E402
from audionoise.pages import preview_files  # noqa: E402

NOISE = str(assets.noise_dir())


def _clips(folder: Path, n: int = 4, seconds: float = 0.5) -> Path:
    """Speech-like clips: a tone burst with silence around it, one per file, at different levels."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    t = np.arange(int(16000 * seconds)) / 16000
    for i in range(n):
        x = 0.02 * rng.standard_normal(t.size)
        x[t.size // 4: 3 * t.size // 4] += (0.2 + 0.1 * i) * np.sin(2 * np.pi * (200 + 50 * i) * t[: t.size // 2])
        sf.write(folder / f"c{i}.wav", x.astype(np.float32), 16000, subtype="PCM_16")
    return folder


QUICK = {"transforms": [{"name": "BackgroundNoise", "noise": NOISE, "min_snr_db": -5.0, "max_snr_db": 15.0,
                         "p": 0.7},
                        {"name": "WhiteNoise", "min_snr_db": 10.0, "max_snr_db": 30.0}]}
# not taken by the NumPy engine (ColoredNoise, TimeShift): torch
TORCH_ONLY = {"transforms": [{"name": "Gain", "min_db": -6.0, "max_db": 0.0},
                             {"name": "ColoredNoise", "min_snr_db": 0.0, "max_snr_db": 20.0, "min_exponent": 1.0,
                              "max_exponent": 2.0, "p": 0.7},
                             {"name": "TimeShift", "max_shift_s": 0.05, "sample_rate": 16000}]}


def _pcm(path: Path) -> np.ndarray:
    return sf.read(path, dtype="int16", always_2d=True)[0]


@pytest.mark.parametrize("config, engine, expect", [(QUICK, "auto", "numpy"), (QUICK, "torch", "torch"),
                                                    (TORCH_ONLY, "auto", "torch")])
def test_page_copies_equal_augment_outputs_for_the_seed(tmp_path, config, engine, expect):
    clips = _clips(tmp_path / "in")
    augment(clips, tmp_path / "aug", config, copies=2, seed=7, fmt="wav", progress=False, engine=engine)
    pv = preview_files(clips, config, n=4, copies=2, seed=7, engine=engine, dry_draws=20)
    pv.save(tmp_path / "page")
    data = json.loads((tmp_path / "page" / "preview.json").read_text())
    assert len(data["examples"]) == 4
    for ex in data["examples"]:
        stem = ex["input"][:-4]
        for c, name in zip(ex["copies"], ex["audio"]["copies"]):
            assert c["engine"] == expect
            page = _pcm(tmp_path / "page" / name)
            offline = _pcm(tmp_path / "aug" / f"{stem}_aug{c['copy']}.wav")
            assert np.array_equal(page, offline), (ex["input"], c["copy"])
        assert np.array_equal(_pcm(tmp_path / "page" / ex["audio"]["clean"]), _pcm(clips / ex["input"]))


@pytest.mark.parametrize("engine", ["auto", "torch"])
def test_measured_snr_equals_target(tmp_path, engine):
    config = {"transforms": [{"name": "Gain", "min_db": -12.0, "max_db": 6.0},
                             *QUICK["transforms"],
                             {"name": "TimeMask", "max_width_s": 0.05, "sample_rate": 16000}]}
    pv = preview_files(_clips(tmp_path / "in", n=6), config, n=6, copies=3, seed=1, engine=engine, dry_draws=0)
    measured = 0
    for ex in pv.examples:
        for c in ex.copies:
            for rec in c.records:
                if rec["transform"] in ("WhiteNoise", "BackgroundNoise") and rec["applied"]:
                    assert abs(rec["snr_db_measured"] - rec["snr_db"]) < 0.01, rec
                    measured += 1
                else:
                    assert "snr_db_measured" not in rec
    assert measured >= 20


@pytest.mark.parametrize("engine", ["auto", "torch"])
def test_summary_distribution_matches_the_config(tmp_path, engine):
    """The dry draw's SNRs are U(-5, 15) (Kolmogorov-Smirnov) and BackgroundNoise fires with p = 0.7."""
    pv = preview_files(_clips(tmp_path / "in", n=2), QUICK, n=2, copies=1, seed=0, engine=engine, dry_draws=1000)
    pv.save(tmp_path / "page")
    dry = json.loads((tmp_path / "page" / "preview.json").read_text())["summary"]["dry_draw"]
    assert dry["n"] == 1000 and dry["error"] is None
    snr = np.array(dry["values"]["BackgroundNoise.snr_db"])
    assert snr.size == dry["fired"]["BackgroundNoise"]
    assert stats.kstest(snr, "uniform", args=(-5.0, 20.0)).pvalue > 1e-3
    assert stats.binomtest(dry["fired"]["BackgroundNoise"], 1000, 0.7).pvalue > 1e-3
    white = np.array(dry["values"]["WhiteNoise.snr_db"])
    assert white.size == 1000 and stats.kstest(white, "uniform", args=(10.0, 20.0)).pvalue > 1e-3


def _srcs(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]*)"', html)


def test_cli_page_is_self_contained_and_complete(tmp_path, capsys):
    clips = _clips(tmp_path / "in", n=3)
    code = main(["preview", str(clips), str(tmp_path / "page"), "--noise", NOISE, "--snr", "0", "10", "-n", "8",
                 "--copies", "2", "--seed", "4"])
    assert code == 0
    out = capsys.readouterr()
    assert out.err == "" and "3 inputs x 2 copies" in out.out
    html = (tmp_path / "page" / "index.html").read_text()
    srcs = _srcs(html)
    assert len([s for s in srcs if s.endswith(".wav")]) == 9 and len([s for s in srcs if s.endswith(".png")]) == 4
    for s in srcs:
        assert "//" not in s and ":" not in s and (tmp_path / "page" / s).is_file(), s
    assert not re.search(r"https?://|<script|<link|@import|url\(", html)
    for wav in (tmp_path / "page").glob("*.wav"):
        assert sf.info(wav).samplerate == 16000 and sf.info(wav).subtype == "PCM_16"


def test_bad_inputs_one_line_each_exit_1_and_listed_on_the_page(tmp_path, capsys):
    clips = _clips(tmp_path / "in", n=3)
    (clips / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    (clips / "empty.flac").write_bytes(b"")
    code = main(["preview", str(clips), str(tmp_path / "page"), "--white-snr", "0", "10"])
    err = capsys.readouterr().err.splitlines()
    assert code == 1
    assert len(err) == 2 and all(line.startswith("audionoise preview: ") for line in err)
    assert any("broken.wav" in line for line in err) and any("empty.flac" in line for line in err)
    html = (tmp_path / "page" / "index.html").read_text()
    assert "2 input(s) failed" in html and "broken.wav" in html and "empty.flac" in html
    assert html.count('class="example"') == 3


@pytest.mark.parametrize("argv, text", [
    (["{t}/missing", "{t}/page", "--white-snr", "0", "10"], "missing"),
    (["{t}/in", "{t}/in/page", "--white-snr", "0", "10"], "inside the input folder"),
    (["{t}/in", "{t}/page"], "no pipeline"),
    (["{t}/in", "{t}/page", "--config", "{t}/nope.toml"], "nope.toml"),
    (["{t}/in", "{t}/page", "--white-snr", "0", "10", "-n", "0"], "-n"),
])
def test_usage_errors_one_line_exit_2(tmp_path, capsys, argv, text):
    _clips(tmp_path / "in", n=1)
    try:
        code = main(["preview", *(a.format(t=tmp_path) for a in argv)])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and text in err and "Traceback" not in err
    assert not (tmp_path / "in" / "page").exists()


def test_help_does_not_import_torch():
    code = ("import sys\nfrom audionoise.cli import main\ntry:\n    main(['preview', '--help'])\n"
            "except SystemExit:\n    pass\nprint('torch' in sys.modules, 'matplotlib' in sys.modules, file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "OUT_DIR" in out.stdout and out.stderr.strip() == "False False"


def test_python_preview_renders_inline_and_matches_the_files_page(tmp_path):
    import torch

    import audionoise as an

    clips = _clips(tmp_path / "in", n=1)
    x = torch.from_numpy(sf.read(clips / "c0.wav", dtype="float32")[0])
    pipe = an.Compose([an.WhiteNoise(0, 20), an.TimeMask(0.05, sample_rate=16000, p=0.5)])
    pv = an.preview(pipe, x, 16000, copies=2, seed=5, names=["c0.wav"], dry_draws=50)
    html = pv._repr_html_()
    assert html.count("data:audio/wav;base64,") == 3 and html.count("data:image/png;base64,") == 2
    assert "@@asset" not in html and "<html" not in html
    files = preview_files(clips, pipe, n=1, copies=2, seed=5, dry_draws=0)
    for a, b in zip(pv.examples[0].copies, files.examples[0].copies):
        assert a.seed == b.seed and np.array_equal(a.samples, b.samples) and a.records == b.records
    rec = pv.examples[0].copies[0].records[0]
    assert math.isclose(rec["snr_db_measured"], rec["snr_db"], abs_tol=0.01)
    page = pv.save(tmp_path / "nb")
    assert page.read_text().count(".wav\"") == 3


def test_python_preview_rejects_bad_clips():
    import audionoise as an

    with pytest.raises(ValueError, match="NaN"):
        an.preview(an.WhiteNoise(0, 1), np.array([0.0, np.nan]), 16000)
    with pytest.raises(ValueError, match="one name per clip"):
        an.preview(an.WhiteNoise(0, 1), [np.zeros(10), np.zeros(10)], 16000, names=["a"])


def test_quick_flags_are_augments(tmp_path):
    """The same options as augment: --noise repeatable (any source), --snr one value (fixed) or a range."""
    clips = _clips(tmp_path / "in", n=2)
    noise = sorted(str(p) for p in assets.noise_dir().glob("*.wav"))
    assert main(["preview", str(clips), str(tmp_path / "page"), "--noise", noise[0], "--noise", noise[1],
                 "--snr", "5", "--white-snr", "20", "30", "--dry-draws", "0", "-q"]) == 0
    data = json.loads((tmp_path / "page" / "preview.json").read_text())
    recs = [r for ex in data["examples"] for c in ex["copies"] for r in c["transforms"]]
    bg = [r for r in recs if r["transform"] == "BackgroundNoise"]
    assert len(bg) == 4 and all(r["snr_db"] == 5.0 and abs(r["snr_db_measured"] - 5.0) < 0.01 for r in bg)
    assert {r["clip_name"].rsplit("/", 1)[-1] for r in bg} <= {Path(noise[0]).name, Path(noise[1]).name}
    assert all(20 <= r["snr_db"] <= 30 for r in recs if r["transform"] == "WhiteNoise")


def test_manifest_segments_and_single_file_inputs_equal_augment(tmp_path):
    """IN as a JSONL manifest (segments of one file share a path: keys get .L<line>) and as one file."""
    clips = _clips(tmp_path / "in", n=2, seconds=1.0)
    lines = [{"audio_filepath": str(clips / "c0.wav"), "offset": 0.0, "duration": 0.4},
             {"audio_filepath": str(clips / "c0.wav"), "offset": 0.5, "duration": 0.3},
             {"audio_filepath": str(clips / "c1.wav")}]
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in lines))
    for src, n in ((manifest, 3), (clips / "c1.wav", 1)):
        out = tmp_path / f"aug_{src.suffix[1:]}"
        augment(src, out, QUICK, copies=1, seed=2, fmt="wav", progress=False)
        pv = preview_files(src, QUICK, n=8, copies=1, seed=2, dry_draws=0)
        assert len(pv.examples) == n and pv.errors == []
        for ex in pv.examples:
            stem = ex.key.rsplit(".", 1)[0]
            offline = sf.read(out / f"{stem}_aug0.wav", dtype="float32", always_2d=True)[0].T
            saved = np.frombuffer(_pcm_bytes(ex.copies[0].samples), "<i2")
            assert np.array_equal(saved, np.round(offline[0] * 32768).astype("<i2")), ex.key
    c0, c1 = ((clips / n).as_posix().lstrip("/") for n in ("c0.wav", "c1.wav"))
    keys = sorted(e.key for e in preview_files(manifest, QUICK, n=8, copies=1, dry_draws=0).examples)
    assert keys == [c0[:-4] + ".L1.wav", c0[:-4] + ".L2.wav", c1]


def _pcm_bytes(x: np.ndarray) -> bytes:
    from audionoise.io import _wav

    return _wav.encode_pcm16(np.ascontiguousarray(x.T))
