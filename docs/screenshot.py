"""Make the README's screenshots of the pages (docs/preview_page.png, docs/report_page.png).

Takes a page (index.html) and writes the top of it, as headless Chromium renders it, as a small palette PNG.
Needs Debian's chromium + chromium-driver and selenium (the test extra), like the browser tests.

Usage (from the repository root):
    python -m audionoise preview audionoise/assets/examples /tmp/preview --noise data/noise --snr 0 10 --time-mask 0.05
    python docs/screenshot.py /tmp/preview/index.html docs/preview_page.png --height 1500
    python recipes/quickstart.py   # writes runs/quickstart/report/index.html
    python docs/screenshot.py runs/quickstart/report/index.html docs/report_page.png --height 1700
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from browser import CHROMIUM, DRIVER, FLAGS, SKIP  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("page", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--width", type=int, default=1150, help="browser window width (CSS pixels)")
    p.add_argument("--height", type=int, default=1500, help="height of the page top to keep")
    p.add_argument("--scale", type=float, default=0.6, help="the PNG's size relative to the window")
    args = p.parse_args()
    if SKIP:
        raise SystemExit(SKIP)
    from PIL import Image
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="audionoise-shot-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [f for f in FLAGS if not f.startswith("--window-size")] + [
            f"--window-size={args.width},{args.height}", f"--user-data-dir={profile}", "--hide-scrollbars"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        driver.get(args.page.resolve().as_uri())
        png = driver.get_screenshot_as_png()
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
    image = Image.open(io.BytesIO(png)).convert("RGB")
    size = (round(image.width * args.scale), round(image.height * args.scale))
    image = image.resize(size, Image.Resampling.LANCZOS).quantize(128, method=Image.Quantize.MEDIANCUT)
    image.save(args.out, optimize=True)
    print(f"wrote {args.out}: {size[0]}x{size[1]}, {args.out.stat().st_size / 1e3:.0f} kB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
