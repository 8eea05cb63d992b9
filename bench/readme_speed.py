"""Print the README's "## Speed" section from the latest CPU run in docs/benchmarks.md (one source of truth).

    python bench/readme_speed.py            # print the section
    python bench/readme_speed.py --write    # replace it in README.md

``tests/test_readme.py`` checks that README.md holds exactly what this prints, so a benchmark re-run that
changes a number fails the tests until the README is regenerated.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: the rows the README shows, as named in docs/benchmarks.md
ROWS = ["white noise @ SNR 5-20 dB", "pink noise (1/f) @ SNR", "background @ SNR, folder of 16 kHz WAV",
        "background @ SNR, folder of 44.1 kHz Ogg", "waveform time mask (1 x <= 100 ms)",
        "default train pipeline, waveform stage: TimeShift, BackgroundNoise p=0.8, ShortNoises p=0.4, WhiteNoise p=0.3"]
#: the README's name for a row (shorter)
SHORT = {ROWS[5]: "default KWS training pipeline (waveform stage)"}
COLUMNS = ["operation", "audionoise", "lower bound", "audiomentations", "torch-audiomentations", "torchaudio",
           "an / lb", "am / an", "tam / an", "ta / an"]


def cpu_section(text: str) -> str:
    return text[text.index("<!-- bench:cpu:begin -->"):text.index("<!-- bench:cpu:end -->")]


def table(section: str, heading: str) -> dict[str, dict[str, str]]:
    """``{operation: {column: cell}}`` of the table under the ``### heading...`` line."""
    start = section.index(f"### {heading}")
    rows = {}
    for line in section[start:].splitlines()[1:]:
        if line.startswith("### "):
            break
        if not line.startswith("| ") or line.startswith("| operation") or line.startswith("|---"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        rows[cells[0]] = dict(zip(COLUMNS, cells))
    return rows


def median(cell: str) -> str:
    """``"7.28 (6.49-7.45) [14]"`` -> ``"7.28"``."""
    return cell.split()[0]


def facts(text: str) -> dict[str, object]:
    section = cpu_section(text)
    return {"date": re.search(r"\| date \| ([^|]+) \|", section).group(1).strip(),
            "batch": table(section, "Batch 64"), "one": table(section, "Batch 1 "),
            "share": re.search(r"\| [^|]+ \| [^|]+ \| ([\d.]+ %) \| ([\d.]+ %) \|", section.split(
                "### Share of a KWS training step")[1]).group(2)}


def section(text: str) -> str:
    f = facts(text)
    batch, one = f["batch"], f["one"]
    lines = ["## Speed", "",
             "From the latest `python bench/run.py` run, [docs/benchmarks.md](docs/benchmarks.md) (its CPU section, "
             f"{f['date']}, 2 torch threads on a shared machine: compare ratios, not times; `bench/readme_speed.py` "
             "writes this section from that file and the test suite checks it). Times are medians in ms per call "
             "of 1 s clips at 16 kHz; `am / an` is how many times slower audiomentations 0.43 is than audionoise "
             "(ratio of minima; below 1: audionoise is the slower one).", "",
             "| operation | batch 64: audionoise | audiomentations | am / an | batch 1: audionoise | audiomentations "
             "| am / an |",
             "|---|---|---|---|---|---|---|"]
    for op in ROWS:
        b, o = batch[op], one[op]
        lines.append(f"| {SHORT.get(op, op)} | {median(b['audionoise'])} | {median(b['audiomentations'])} | "
                     f"{b['am / an']} | {median(o['audionoise'])} | {median(o['audiomentations'])} | {o['am / an']} |")
    pipe, mask = ROWS[5], ROWS[4]
    wav, ogg, white = ROWS[2], ROWS[3], ROWS[0]
    lines += ["",
              "Where audionoise is slower: one example at a time, the waveform time mask and the default training "
              f"pipeline run at {one[mask]['am / an']} and {one[pipe]['am / an']} of audiomentations' speed (a "
              "fixed per-call cost of validation, parameter draws and records, which a batch shares: batched, the "
              f"same pipeline is {batch[pipe]['am / an']} faster). Per-item augmentation in DataLoader workers "
              "still pays when the CPU has cores to spare (it overlaps the training step); one batched call per "
              "step, on the GPU or the CPU, is the fast path. Against torchaudio, a bare `add_noise` on a preloaded "
              "bank (no SNR draw, no records, noise into the padding) takes "
              f"{batch[wav]['ta / an']} (16 kHz WAV) and {batch[ogg]['ta / an']} (44.1 kHz Ogg) of audionoise's "
              f"time, torch's own white noise {batch[white]['ta / an']}. Augmentation takes {f['share']} of a "
              "keyword-spotting training step (CPU, minima).", ""]
    return "\n".join(_wrap(line) for line in lines)


def _wrap(line: str, width: int = 115) -> str:
    if line.startswith("|") or len(line) <= width:
        return line
    out, current = [], ""
    for word in line.split(" "):
        if current and len(current) + 1 + len(word) > width:
            out.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    return "\n".join(out + [current])


def replace(readme: str, new: str) -> str:
    start = readme.index("## Speed\n")
    end = readme.index("\n## ", start + 1) + 1
    return readme[:start] + new + "\n" + readme[end:]


if __name__ == "__main__":
    text = section((ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8"))
    if "--write" in sys.argv[1:]:
        path = ROOT / "README.md"
        path.write_text(replace(path.read_text(encoding="utf-8"), text), encoding="utf-8")
    else:
        print(text, end="")
