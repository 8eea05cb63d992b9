"""The pages in a real headless Chromium, opened from file://: no console error, no network request, every
<audio> loads with the right duration, every image decodes, the screenshot is not blank."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
import soundfile as sf

from browser import SKIP, check_page, distinct_colours

pytest.importorskip("matplotlib")
pytestmark = pytest.mark.skipif(SKIP is not None, reason=SKIP or "")

#: what a page may load: itself, its files, data: URIs; chrome:// and devtools are the browser's own UI
LOCAL_SCHEMES = {"file", "data", "chrome", "chrome-extension", "devtools", "about", "blob"}


def _assert_page_ok(page: Path, durations: dict[str, float]) -> None:
    check = check_page(page)
    assert check.console_errors == []
    remote = [u for u in check.requests if urlparse(u).scheme not in LOCAL_SCHEMES]
    assert remote == [], remote
    assert any(u.startswith("file://") and u.endswith("index.html") for u in check.requests)
    assert len(check.audio) == len(durations) > 0
    for a in check.audio:
        name = a["src"].rsplit("/", 1)[-1]
        assert a["error"] is None and a["ready"] >= 1, a
        assert a["duration"] == pytest.approx(durations[name], abs=1e-3), a
    assert check.images and all(i["complete"] and i["width"] > 0 and i["height"] > 0 for i in check.images)
    assert distinct_colours(check.screenshot) > 50


def test_preview_page_in_chromium(tmp_path):
    from audionoise.cli import main

    clips = tmp_path / "in"
    clips.mkdir()
    rng = np.random.default_rng(0)
    for name, rate, seconds in (("a.wav", 16000, 1.0), ("b.flac", 8000, 0.75), ("c.wav", 22050, 0.5)):
        x = 0.1 * rng.standard_normal(int(rate * seconds))
        sf.write(clips / name, x.astype(np.float32), rate)
    (clips / "broken.wav").write_bytes(b"not audio")
    assert main(["preview", str(clips), str(tmp_path / "page"), "--white-snr", "0", "10", "--copies", "2"]) == 1
    data = json.loads((tmp_path / "page" / "preview.json").read_text())
    durations = {}
    for ex in data["examples"]:
        durations[ex["audio"]["clean"]] = ex["frames"] / ex["sample_rate"]
        for c, name in zip(ex["copies"], ex["audio"]["copies"]):
            durations[name] = c["frames"] / ex["sample_rate"]
    assert sorted(round(v, 3) for v in durations.values()) == [0.5, 0.5, 0.5, 0.75, 0.75, 0.75, 1.0, 1.0, 1.0]
    _assert_page_ok(tmp_path / "page" / "index.html", durations)
