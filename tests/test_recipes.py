"""Smoke tests of the recipes on tiny data: each runs end to end and writes what it promises."""

import importlib.util
import json
from pathlib import Path

import pytest

import audionoise as an
from kws_tiny_data import make_tiny_speech_commands

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def _recipe(name: str):
    spec = importlib.util.spec_from_file_location(f"recipe_{name}", RECIPES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_speech_commands(tmp_path_factory.mktemp("recipes"))


def test_quickstart(tiny, tmp_path, capfd):
    """Both models trained side by side in two processes (``--jobs 2``); their logs reach stderr."""
    out = tmp_path / "qs"
    argv = ["--data", str(tiny["kws"]), "--noise-eval", str(tiny["noise_eval"]), "--out", str(out), "--epochs", "1",
            "--batch-size", "16", "--width", "0.25", "--clip-seconds", "0.5", "--device", "cpu"]
    assert _recipe("quickstart").main(argv + ["--jobs", "2"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert set(results) == {"clean", "augmented"}
    assert list(results["augmented"]["snr"]) == ["20", "10", "5", "0", "-5"]
    assert (out / "accuracy_vs_snr.png").is_file() and (out / "confusion_augmented.png").is_file()
    html = (out / "report" / "index.html").read_text()
    assert 'id="comparison"' in html and "augmented vs clean" in html and 'id="training"' in html
    printed = capfd.readouterr()
    assert "at 0 dB: augmented" in printed.out and "-5 dB" in printed.out
    assert "[clean] epoch 1/1" in printed.err and "[augmented] epoch 1/1" in printed.err  # the training log lines
    # running it again, one run after the other, resumes the finished runs instead of training again
    assert _recipe("quickstart").main(argv + ["--jobs", "1"]) == 0
    again = capfd.readouterr()
    assert "epoch 1/1" not in again.err and "trained clean" in again.out


def test_speech_commands_v2_12(tiny, tmp_path, capsys):
    out = tmp_path / "sc"
    argv = ["--data", str(tiny["kws"]), "--out", str(out), "--epochs", "1", "--batch-size", "16", "--workers", "0",
            "--device", "cpu", "--noise-eval", str(tiny["noise_eval"])]
    assert _recipe("speech_commands_v2_12").main(argv) == 0
    assert (out / "best.pt").is_file() and (out / "accuracy_vs_snr.png").is_file()
    assert "best validation accuracy" in capsys.readouterr().out


def test_robustness_study(tiny, tmp_path, capsys):
    out = tmp_path / "rs"
    argv = ["--data", str(tiny["kws"]), "--noise-eval", str(tiny["noise_eval"]), "--out", str(out),
            "--min-snr", "0", "-10", "--max-snr", "20", "10", "--epochs", "1", "--batch-size", "16",
            "--clip-seconds", "0.5",
            "--device", "cpu"]
    assert _recipe("robustness_study").main(argv) == 0
    results = json.loads((out / "results.json").read_text())
    assert list(results) == ["clean", "snr_0_20", "snr_-10_10"]
    import tomllib

    cfg = tomllib.loads((out / "snr_-10_10.toml").read_text())
    bg = [t for t in cfg["transforms"] if t["name"] == "BackgroundNoise"][0]
    assert (bg["min_snr_db"], bg["max_snr_db"]) == (-10.0, 10.0)


def test_offline_then_train(tiny, tmp_path, capsys):
    out = tmp_path / "off"
    argv = ["--data", str(tiny["kws"]), "--noise-eval", str(tiny["noise_eval"]), "--out", str(out),
            "--copies", "2", "--workers", "1", "--epochs", "1", "--batch-size", "16", "--clip-seconds", "0.5",
            "--device", "cpu"]
    assert _recipe("offline_then_train").main(argv) == 0
    data = out / "data" / "kws"
    yes = sorted(p.name for p in (data / "yes").iterdir())
    # 4 training speakers: clean + 2 augmented copies each; validation and test clips only clean
    assert yes == sorted([f"s{s}abc_nohash_0{sfx}.wav" for s in range(4) for sfx in ("", "_aug0", "_aug1")]
                         + ["s4abc_nohash_0.wav", "s5abc_nohash_0.wav"])
    assert (data / "testing_list.txt").read_text() == (tiny["kws"] / "testing_list.txt").read_text()
    assert not (out / "data" / "staging").exists()
    manifest = [json.loads(line) for line in (data / "manifest.jsonl").read_text().splitlines()]
    assert len(manifest) == 2 * 4 * 12  # 12 word folders
    # waveforms are never warped or masked offline: every spectrogram transform went to the training stage
    offline = {r["transform"] for row in manifest for r in row["transforms"]}
    assert offline == {"TimeShift", "BackgroundNoise", "ShortNoises", "WhiteNoise"}
    stage = an.load_pipeline(out / "spec_masks.toml")
    assert [type(t).__name__ for t in stage.transforms] == ["SpecWarp", "SpecTimeMask", "SpecFreqMask"]
    assert (out / "run" / "best.pt").is_file()


def test_clean_cost_study(tiny, tmp_path, capsys):
    out = tmp_path / "cc"
    argv = ["--data", str(tiny["kws"]), "--noise-eval", str(tiny["noise_eval"]), "--shifted-data", str(tiny["kws"]),
            "--out", str(out), "--seeds", "0", "--epochs", "2", "--width", "0.25", "--clip-seconds", "0.5",
            "--batch-size", "16", "--workers", "0", "--device", "cpu"]
    assert _recipe("clean_cost_study").main(argv) == 0
    doc = json.loads((out / "study.json").read_text())
    assert set(doc["summary"]) == {"bundled", "shifted"}
    assert set(doc["summary"]["bundled"]) == {"none", "constant", "default"}
    assert doc["conditions"]["constant"]["curriculum"] == "off" and doc["conditions"]["default"] == {
        "augment": "default"}
    row = doc["summary"]["bundled"]["default"]["0"]
    assert row["min"] <= row["mean"] <= row["max"] and row["pooled_ci95"][0] <= row["mean"] <= row["pooled_ci95"][1]
    assert set(doc["paired"]["bundled"]["seed0"]) == {"constant vs none", "default vs none"}
    families = doc["families_0db"]["bundled"]["default"]
    assert set(families) == {p.stem for p in tiny["noise_eval"].iterdir()}
    assert sum(f["n"] for f in families.values()) == doc["per_seed"]["bundled"]["default"][0]["n"]
    printed = capsys.readouterr().out
    assert "| constant |" in printed and "by held-out noise family" in printed
    argv += ["--out", str(tmp_path / "two"), "--conditions", "none", "default", "--shifted-data", str(tiny["kws"])]
    assert _recipe("clean_cost_study").main(argv) == 0
    doc = json.loads((tmp_path / "two" / "study.json").read_text())
    assert set(doc["summary"]["bundled"]) == {"none", "default"}


def test_tune_noise(tiny, tmp_path, capsys):
    from audionoise.kws.tune import choose

    out = tmp_path / "tune"
    argv = ["--data", str(tiny["kws"]), "--tuning-noise", str(tiny["noise_eval"]), "--out", str(out),
            "--min-snr", "10", "-5", "--max-snr", "30", "20", "--epochs", "1", "--width", "0.25", "--clip-seconds", "0.5",
            "--batch-size", "16", "--workers", "0"]
    assert _recipe("tune_noise").main(argv) == 0
    doc = json.loads((out / "tune.json").read_text())
    assert set(doc["candidates"]) == {"snr_10_30", "snr_-5_20"}
    assert doc["chosen"] == choose(doc["candidates"], doc["reference"]["clean"])  # the stated criterion
    chosen = an.load_pipeline(out / "chosen.toml")
    bg = [m for m in chosen.modules() if type(m).__name__ == "BackgroundNoise"][0]
    low = {"snr_10_30": 10.0, "snr_-5_20": -5.0}[doc["chosen"]]
    assert float(bg.min_snr_db) == low
    assert (out / "frontier.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<- chosen" in capsys.readouterr().out


def test_choose_criterion():
    from audionoise.kws.tune import choose

    scores = {"a": {"clean": 0.965, "noisy": 0.70}, "b": {"clean": 0.972, "noisy": 0.60},
              "c": {"clean": 0.90, "noisy": 0.90}}
    assert choose(scores, reference_clean=0.97) == "a"  # c is best noisy but costs 7 points clean
    assert choose(scores, reference_clean=0.97, max_clean_cost=0.0) == "b"
    assert choose({"c": scores["c"]}, reference_clean=0.97) == "c"  # none qualifies: smallest clean cost
