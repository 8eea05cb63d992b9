"""A real headless Chromium (Debian's ``chromium`` + ``chromium-driver``, through selenium) for the page tests.

:func:`check_page` opens a page from ``file://`` and returns what the tests assert on: console errors, every
network request, each ``<audio>`` element's duration once its metadata loaded, each image's natural size, and a
screenshot. :data:`SKIP` is the reason to skip where the browser, its driver or selenium is missing.
"""

from __future__ import annotations

import io
import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
try:
    import selenium  # noqa: F401
    _SELENIUM = True
except ImportError:  # pragma: no cover - the test extra installs it
    _SELENIUM = False

SKIP = ("chromium is not installed (Debian: apt-get install chromium)" if CHROMIUM is None else
        "chromedriver is not installed (Debian: apt-get install chromium-driver)" if DRIVER is None else
        "selenium is not installed (pip install 'audionoise[test]')" if not _SELENIUM else None)

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--mute-audio", "--window-size=1200,1600", "--allow-file-access-from-files"]

_MEDIA_JS = """
const done = arguments[arguments.length - 1];
const audios = Array.from(document.querySelectorAll('audio'));
const start = Date.now();
function poll() {
  const ready = audios.every(a => a.readyState >= 1 || a.error);
  if (ready || Date.now() - start > 20000) {
    done({audio: audios.map(a => ({src: a.currentSrc, duration: a.duration, ready: a.readyState,
                                   error: a.error ? a.error.code : null})),
          images: Array.from(document.images).map(i => ({src: i.currentSrc, complete: i.complete,
                                                         width: i.naturalWidth, height: i.naturalHeight}))});
  } else { setTimeout(poll, 50); }
}
audios.forEach(a => { a.preload = 'metadata'; a.load(); });
poll();
"""


@dataclass
class PageCheck:
    console_errors: list[str]
    requests: list[str]
    audio: list[dict]
    images: list[dict]
    screenshot: bytes
    title: str


def check_page(path: Path) -> PageCheck:
    """Open ``path`` in a fresh headless Chromium profile and collect what the page did."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="audionoise-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS + [f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        driver.set_script_timeout(40)
        driver.get(path.resolve().as_uri())
        media = driver.execute_async_script(_MEDIA_JS)
        time.sleep(0.2)
        shot = driver.get_screenshot_as_png()
        console = [e["message"] for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
        requests = []
        for entry in driver.get_log("performance"):
            msg = json.loads(entry["message"])["message"]
            if msg["method"] == "Network.requestWillBeSent":
                requests.append(msg["params"]["request"]["url"])
        return PageCheck(console, requests, media["audio"], media["images"], shot, driver.title)
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def distinct_colours(png: bytes) -> int:
    """How many colours a screenshot holds (a blank page has one or two)."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    return len(image.getcolors(maxcolors=1 << 20) or [])
