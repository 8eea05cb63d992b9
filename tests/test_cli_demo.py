"""`python -m audionoise` and the demo subcommand."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_module_entry_point_lists_subcommands():
    out = subprocess.run([sys.executable, "-m", "audionoise", "--help"], capture_output=True, text=True, check=True)
    for name in ("augment", "train", "evaluate", "make-data", "demo"):
        assert name in out.stdout


def test_demo_prints_measured_snrs_equal_to_targets(tmp_path):
    out = subprocess.run([sys.executable, "-m", "audionoise", "demo", "--out", str(tmp_path), "--snr", "15", "-5"],
                         capture_output=True, text=True, check=True, cwd=tmp_path)
    rows = re.findall(r"^(white|pink|background)\s+(\S+)\s+(\S+)\s+(\S+)", out.stdout, flags=re.M)
    assert len(rows) == 6
    for _, target, measured, _ in rows:
        assert abs(float(measured) - float(target)) < 0.01
    assert len(list(tmp_path.glob("*.wav"))) == 6


def test_usage_error_exits_2():
    out = subprocess.run([sys.executable, "-m", "audionoise", "nosuchcommand"], capture_output=True, text=True)
    assert out.returncode == 2 and "invalid choice" in out.stderr
