"""Time ``make-data --speech-commands`` on a synthetic tarball shaped like the real one, against ``tar -xzf``.

Usage::

    python bench/speech_commands_prepare.py                 # 20,000 clips of 1 s (~1/5 of the real set)
    python bench/speech_commands_prepare.py --clips 105829  # the real set's clip count (~3.4 GB on disk)

Builds, in a temporary folder, a ``speech_commands_v0.02``-shaped ``.tar.gz`` (35 word folders, 1-s 16-bit
16 kHz WAVs of quiet noise, the two list files, ``_background_noise_``), then times in the same run:
:func:`audionoise.corpora.speech_commands.sha256_file`, :func:`~audionoise.corpora.speech_commands.safe_extract` (member checks +
tarfile's ``"data"`` filter), :func:`~audionoise.corpora.speech_commands.check_layout`, and GNU ``tar -xzf`` on the same
archive (the lower bound of any extraction in one process). Repeats alternate the two extractions; minima shown.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audionoise.corpora.speech_commands import V2_WORDS, check_layout, safe_extract, sha256_file


def _build(folder: Path, clips: int) -> Path:
    src = folder / "src"
    rng = np.random.default_rng(0)
    val, test = [], []
    for i in range(clips):
        word = V2_WORDS[i % len(V2_WORDS)]
        (src / word).mkdir(parents=True, exist_ok=True)
        rel = f"{word}/{i:08x}_nohash_0.wav"
        with wave.open(str(src / rel), "wb") as w:
            w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
            w.writeframes((rng.standard_normal(16000) * 300).astype("<i2").tobytes())
        (val if i % 10 == 1 else test if i % 10 == 2 else []).append(rel)
    (src / "validation_list.txt").write_text("".join(r + "\n" for r in val))
    (src / "testing_list.txt").write_text("".join(r + "\n" for r in test))
    (src / "_background_noise_").mkdir()
    shutil.copy(src / val[0], src / "_background_noise_" / "noise.wav")
    tgz = folder / "speech_commands_v0.02.tar.gz"
    with tarfile.open(tgz, "w:gz", compresslevel=6) as tar:
        for p in sorted(src.rglob("*")):
            tar.add(p, arcname=f"./{p.relative_to(src).as_posix()}", recursive=False)
    shutil.rmtree(src)
    return tgz


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clips", type=int, default=20000)
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        tgz = _build(folder, args.clips)
        print(f"built {tgz.name}: {args.clips} clips, {tgz.stat().st_size / 1e6:.0f} MB in "
              f"{time.perf_counter() - t0:.0f} s")
        t0 = time.perf_counter()
        sha256_file(tgz, progress=False)
        print(f"sha256_file:  {time.perf_counter() - t0:.2f} s")
        ours, gnu, layout = [], [], []
        for _ in range(args.repeats):
            for kind in ("ours", "tar"):
                dest = folder / f"x_{kind}"
                dest.mkdir()
                t0 = time.perf_counter()
                if kind == "ours":
                    safe_extract(tgz, dest, progress=False)
                    ours.append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    check_layout(dest)
                    layout.append(time.perf_counter() - t0)
                else:
                    subprocess.run(["tar", "-xzf", str(tgz), "-C", str(dest)], check=True)
                    gnu.append(time.perf_counter() - t0)
                shutil.rmtree(dest)
        print(f"safe_extract: {min(ours):.2f} s (min of {len(ours)}; {args.clips / min(ours):.0f} clips/s)")
        print(f"tar -xzf:     {min(gnu):.2f} s (min of {len(gnu)}); ratio {min(ours) / min(gnu):.2f}")
        print(f"check_layout: {min(layout):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
