"""A full disk, a failing write or a signal stops an offline job cleanly; --resume then finishes it."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from audionoise import io
from audionoise.cli import main as cli_main
from audionoise.offline import EXIT_WRITE, augment
from audionoise.offline import job as job_module
from audionoise.offline import jsonl as jsonl_module

from offline_helpers import content, jsonl, make_setup, tone_files

REPO = Path(__file__).resolve().parents[1]
OWN = {"manifest.jsonl", "errors.jsonl", "run.json"}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    return make_setup(tmp_path_factory.mktemp("offline_faults"))


def assert_consistent(out: Path) -> None:
    """Every manifest line has its file, every file its line, no temporary file is left."""
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} - OWN
    lines = [r["output"] for r in jsonl(out / "manifest.jsonl")]
    assert len(lines) == len(set(lines))
    assert files == set(lines)


def _disk_full_after(monkeypatch, n: int) -> list[int]:
    """Audio writes succeed ``n`` times, then fail like a full disk."""
    real, calls = io.write.atomic_open, [0]

    @contextlib.contextmanager
    def fake(path, **kw):
        calls[0] += 1
        if calls[0] > n:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        with real(path, **kw) as fh:
            yield fh

    real_bytes = io.write.write_file_atomically  # short WAV PCM_16 outputs: one system write (no file object)

    def fake_bytes(path, data):
        calls[0] += 1
        if calls[0] > n:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real_bytes(path, data)

    monkeypatch.setattr(io.write, "atomic_open", fake)
    monkeypatch.setattr(io.write, "write_file_atomically", fake_bytes)
    return calls


def test_disk_full_stops_cleanly_then_resume_completes(setup, tmp_path, monkeypatch, capsys):
    tone_files(tmp_path / "in", 20)
    augment(tmp_path / "in", tmp_path / "ref", setup, copies=2, progress=False)
    _disk_full_after(monkeypatch, 13)
    args = ["augment", str(tmp_path / "in"), str(tmp_path / "out"), "--config", str(setup), "--copies", "2",
            "--no-progress"]
    assert cli_main(args) == EXIT_WRITE == 3
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1, err
    assert "No space left on device" in err[0] and "13 outputs written by this run, 13 of 40 done" in err[0]
    assert "--resume" in err[0] and "free some space" in err[0]
    assert_consistent(tmp_path / "out")
    assert len(jsonl(tmp_path / "out" / "manifest.jsonl")) == 13
    assert jsonl(tmp_path / "out" / "errors.jsonl") == []  # a full disk is not the inputs' fault
    monkeypatch.undo()  # space freed
    assert cli_main(args + ["--resume"]) == 0
    assert content(tmp_path / "out") == content(tmp_path / "ref")


def test_manifest_write_failure_drops_the_outputs_without_a_line(setup, tmp_path, monkeypatch):
    tone_files(tmp_path / "in", 12)
    augment(tmp_path / "in", tmp_path / "ref", setup, copies=2, progress=False)
    real, calls = jsonl_module.Appender.append, [0]

    def append(self, lines):
        lines = list(lines)
        if self.path.name == "manifest.jsonl":
            calls[0] += 1
            if calls[0] == 5:  # the 5th input's lines cannot be written (the rollback is tested below)
                raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, lines)

    monkeypatch.setattr(jsonl_module.Appender, "append", append)
    monkeypatch.setattr(job_module, "MANIFEST_GROUP", 2)  # one append per input (2 copies)
    s = augment(tmp_path / "in", tmp_path / "out", setup, copies=2, progress=False)
    # the outputs of the 5th input lost their lines: removed; results already made are still recorded
    assert s.exit_status == 3 and "manifest.jsonl" in s.stopped and s.written == 24 - 2
    assert_consistent(tmp_path / "out")
    monkeypatch.undo()
    s2 = augment(tmp_path / "in", tmp_path / "out", setup, copies=2, resume=True, progress=False)
    assert (s2.resumed, s2.written, s2.exit_status) == (22, 2, 0)
    assert content(tmp_path / "out") == content(tmp_path / "ref")


def test_a_failed_group_of_lines_drops_all_its_outputs(setup, tmp_path, monkeypatch):
    """Lines are appended MANIFEST_GROUP outputs at a time: a failed group removes every output of it."""
    tone_files(tmp_path / "in", 12)
    augment(tmp_path / "in", tmp_path / "ref", setup, copies=2, progress=False)
    real = jsonl_module.Appender.append
    sizes = []

    def append(self, lines):
        lines = list(lines)
        if self.path.name == "manifest.jsonl":
            sizes.append(len(lines))
            if len(sizes) == 2:
                raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, lines)

    monkeypatch.setattr(jsonl_module.Appender, "append", append)
    monkeypatch.setattr(job_module, "MANIFEST_GROUP", 10)
    s = augment(tmp_path / "in", tmp_path / "out", setup, copies=2, progress=False)
    # the second group's files are gone with their lines; the outputs already made after it are still recorded
    assert sizes[:2] == [10, 10] and s.exit_status == 3 and s.written == 24 - 10
    assert_consistent(tmp_path / "out")
    monkeypatch.undo()
    s2 = augment(tmp_path / "in", tmp_path / "out", setup, copies=2, resume=True, progress=False)
    assert (s2.resumed, s2.written, s2.exit_status) == (14, 10, 0)
    assert content(tmp_path / "out") == content(tmp_path / "ref")


def test_appender_rolls_back_a_failed_append(tmp_path, monkeypatch):
    path = tmp_path / "m.jsonl"
    with jsonl_module.Appender(path) as a:
        a.append(["one\n"])
        real_write, calls = os.write, [0]

        def short_then_full(fd, data):
            calls[0] += 1
            if calls[0] == 1:
                return real_write(fd, bytes(data[:3]))  # a short write ...
            raise OSError(errno.ENOSPC, "No space left on device")  # ... then no space

        monkeypatch.setattr(jsonl_module.os, "write", short_then_full)
        with pytest.raises(OSError):
            a.append(["two\n", "three\n"])
        monkeypatch.undo()
        a.append(["four\n"])
    assert path.read_text() == "one\nfour\n"


def _start(cmd, env):
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _wait_for_lines(proc, manifest: Path, n: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if manifest.exists() and manifest.read_bytes().count(b"\n") >= n:
            return
        time.sleep(0.005)
    assert proc.poll() is None, "the run finished before the signal"


@pytest.mark.parametrize("sig, workers, group", [
    (signal.SIGTERM, 1, False),
    pytest.param(signal.SIGINT, 1, False, marks=pytest.mark.slow),  # ~4 s each: run by .ci/run
    pytest.param(signal.SIGTERM, 2, True, marks=pytest.mark.slow),
])
def test_signal_stops_cleanly_then_resume_completes(setup, tmp_path, sig, workers, group):
    tone_files(tmp_path / "in", 300, frames=400)
    augment(tmp_path / "in", tmp_path / "ref", setup, progress=False)
    cmd = [sys.executable, "-m", "audionoise", "augment", str(tmp_path / "in"), str(tmp_path / "out"),
           "--config", str(setup), "--workers", str(workers), "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = _start(cmd, env)
    _wait_for_lines(proc, tmp_path / "out" / "manifest.jsonl", 20)
    if group:  # a scheduler signals the whole job, workers included
        os.killpg(proc.pid, sig)
    else:
        proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err
    assert f"stopped by signal {int(sig)}" in err and "--resume" in err and "Traceback" not in err
    assert_consistent(tmp_path / "out")
    done = len(jsonl(tmp_path / "out" / "manifest.jsonl"))
    assert 20 <= done < 300
    assert (tmp_path / "out" / "manifest.jsonl").read_text().splitlines() == \
        sorted((tmp_path / "out" / "manifest.jsonl").read_text().splitlines())  # flushed, sorted
    resumed = subprocess.run(cmd + ["--resume"], env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{done} already done" in resumed.stdout
    assert content(tmp_path / "out") == content(tmp_path / "ref")
