"""The robustness report page (audionoise evaluate --html): its sections, its numbers, its listening clips (rebuilt
exactly as evaluated), and the page in a real headless Chromium."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("matplotlib")

from audionoise.cli import main as cli_main  # noqa: E402

from browser import SKIP  # noqa: E402


@pytest.fixture(scope="module")
def report(tmp_path_factory, tiny_kws_runs):
    root = tmp_path_factory.mktemp("report")
    paths, runs = tiny_kws_runs
    code = cli_main(["evaluate", *map(str, runs), "--data", str(paths["kws"]), "--noise", str(paths["noise_eval"]),
                     "--snr", "10", "0", "--html", str(root / "page"), "--json", str(root / "res.json"), "-q"])
    assert code == 0
    return root, paths, runs


def test_report_sections_and_numbers(report):
    root, _, _ = report
    html = (root / "page" / "index.html").read_text()
    for section in ("accuracy", "comparison", "confusion", "training"):
        assert f'id="{section}"' in html
    doc = json.loads((root / "page" / "report.json").read_text())
    res = json.loads((root / "res.json").read_text())
    assert doc["runs"]["clean"]["snr"] == res["runs"]["clean"]["snr"] and doc["paired"] == res["paired"]
    for name, r in res["runs"].items():  # the table shows each accuracy and its interval
        lo, hi = r["ci95"]["0"]
        assert f"{100 * r['snr']['0']:.1f} [{100 * lo:.1f}, {100 * hi:.1f}]" in html
    pair = next(iter(res["paired"]))
    assert pair in html and f"{res['paired'][pair]['0']['p']:.3g}" in html
    for src in re.findall(r'src="([^"]+)"', html):
        assert ":" not in src and (root / "page" / src).is_file()
    assert {"accuracy.png", "accuracy_by_noise.png", "training.png"} <= {p.name for p in (root / "page").iterdir()}
    assert len(list((root / "page").glob("confusion_*.png"))) == 4  # 2 runs x (clean, 0 dB)


def test_listening_clips_are_the_evaluated_mixtures(report):
    """Each clip is misclassified at 0 dB by the last run, and its noisy version is the clean one plus noise at
    exactly 0 dB."""
    root, _, _ = report
    doc = json.loads((root / "page" / "report.json").read_text())
    listening = doc["listening"]
    assert 0 < len(listening) <= 4
    for i, clip in enumerate(listening):
        assert clip["predictions"]["augmented"] != clip["label"]
        clean = sf.read(root / "page" / f"listen_{i:02d}_clean.wav", dtype="float64")[0]
        noisy = sf.read(root / "page" / f"listen_{i:02d}_noisy.wav", dtype="float64")[0]
        snr = 10 * np.log10(np.sum(clean ** 2) / np.sum((noisy - clean) ** 2))
        assert abs(snr) < 0.05  # 0 dB up to 16-bit rounding of both files
        assert clip["key"] in (root / "page" / "index.html").read_text()


def test_report_without_noise_has_no_listening_section(report, tmp_path):
    root, paths, runs = report
    assert cli_main(["evaluate", str(runs[0]), "--data", str(paths["kws"]), "--html", str(tmp_path / "p"),
                     "-q"]) == 0
    html = (tmp_path / "p" / "index.html").read_text()
    assert 'id="listen"' not in html and 'id="comparison"' not in html and 'id="training"' in html


@pytest.mark.skipif(SKIP is not None, reason=SKIP or "")
def test_report_page_in_chromium(report):
    from test_pages_browser import _assert_page_ok

    root, _, _ = report
    durations = {p.name: sf.info(p).frames / sf.info(p).samplerate for p in (root / "page").glob("*.wav")}
    _assert_page_ok(root / "page" / "index.html", durations)
