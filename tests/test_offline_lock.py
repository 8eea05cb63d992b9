"""The output-folder lock: one job per OUT (or per shard), refusal in one line, --wait, dead holders taken over,
and two jobs started together on one OUT never both succeed nor leave an inconsistent folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from audionoise.io import lock as _lock
from audionoise.offline import OutputBusy, augment, lock_output
from audionoise.offline.lock import lock_name
from offline_helpers import content, jsonl, tone_files

pytestmark = pytest.mark.skipif(_lock.fcntl is None, reason="fcntl (flock) is POSIX only")

ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
QUICK = {"sample_rate": 16000, "transforms": [{"name": "WhiteNoise", "min_snr_db": 10.0, "max_snr_db": 20.0}]}


def _cli(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "audionoise", "augment", *args, "--white-snr", "10", "20", "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, **kw)


def _hold_in_child(path: Path, then: str) -> subprocess.Popen:
    """A child process that takes the lock of ``path`` (an output folder), prints its job id, then runs ``then``."""
    code = (f"import os, signal, sys, time\nfrom audionoise.offline import lock_output\n"
            f"lock = lock_output({str(path)!r})\nprint(lock.job_id, flush=True)\n{then}\n")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=ENV)
    assert child.stdout.readline().strip()
    return child


# ---------------------------------------------------------------------------------------------- the lock itself
def test_lock_names_its_holder_refuses_a_second_and_removes_its_file(tmp_path):
    path = tmp_path / ".job.lock"
    with _lock.acquire(path, job_id="abc123") as lock:
        written = json.loads(path.read_text())
        assert written == {"job_id": "abc123", "pid": os.getpid(), "host": lock.holder.host,
                           "started": lock.holder.started}
        with pytest.raises(_lock.LockBusy) as busy:
            _lock.acquire(path)  # another open file description: refused even in the same process
        assert busy.value.holder == lock.holder
        assert _lock.probe(path) == lock.holder
    assert not path.exists() and not lock.held
    assert _lock.probe(path) is None
    lock.release()  # idempotent


def test_a_killed_holders_lock_is_taken_over(tmp_path):
    child = _hold_in_child(tmp_path, "os.kill(os.getpid(), signal.SIGKILL)")
    child.wait(30)
    stale = tmp_path / lock_name()
    assert stale.exists()  # kill -9 left the file, but the kernel released the flock
    with lock_output(tmp_path) as lock:
        assert json.loads(stale.read_text())["job_id"] == lock.job_id
    assert os.listdir(tmp_path) == []


def test_wait_ends_when_should_stop_says_so(tmp_path):
    with _lock.acquire(tmp_path / "x.lock"):
        calls = []
        with pytest.raises(_lock.LockBusy):
            _lock.acquire(tmp_path / "x.lock", wait=True, should_stop=lambda: calls.append(1) or len(calls) > 2)
        assert len(calls) == 3


# ---------------------------------------------------------------------------------------------- which jobs collide
@pytest.mark.parametrize("first,second,collide", [
    ((0, 1), (0, 1), True), ((0, 1), (1, 4), True), ((1, 4), (0, 1), True), ((1, 4), (1, 4), True),
    ((0, 2), (0, 4), True), ((0, 4), (1, 4), False), ((3, 4), (0, 4), False)])
def test_shards_of_one_split_run_side_by_side_anything_else_is_refused(tmp_path, first, second, collide):
    with lock_output(tmp_path, first) as held:
        if collide:
            with pytest.raises(OutputBusy) as busy:
                lock_output(tmp_path, second)
            msg = str(busy.value)
            assert "\n" not in msg and held.job_id in msg and f"pid {os.getpid()}" in msg and "--wait" in msg
            assert busy.value.holder == held.holder
        else:
            lock_output(tmp_path, second).release()
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------------------------- the job
def test_augment_is_refused_while_another_job_holds_out_and_writes_nothing(tmp_path):
    tone_files(tmp_path / "in", 3)
    out = tmp_path / "out"
    with lock_output(out) as held:
        with pytest.raises(OutputBusy, match=held.job_id):
            augment(tmp_path / "in", out, QUICK, progress=False)
        assert os.listdir(out) == [lock_name()]
    summary = augment(tmp_path / "in", out, QUICK, progress=False)
    assert summary.exit_status == 0 and summary.written == 3
    assert sorted(os.listdir(out)) == ["errors.jsonl", "manifest.jsonl", "run.json", "spk0", "spk1", "spk2"]


def test_augment_waits_with_wait_true(tmp_path):
    tone_files(tmp_path / "in", 2)
    out = tmp_path / "out"
    held = lock_output(out)
    timer = threading.Timer(0.5, held.release)
    timer.start()
    t0 = time.perf_counter()
    summary = augment(tmp_path / "in", out, QUICK, progress=False, wait=True)
    timer.join()
    assert summary.exit_status == 0 and summary.written == 2 and time.perf_counter() - t0 >= 0.5


def test_cli_refusal_is_one_line_exit_2_and_wait_waits(tmp_path):
    tone_files(tmp_path / "in", 2)
    out = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c",
                               "import sys\nfrom audionoise.offline import lock_output\n"
                               f"lock = lock_output({str(out)!r})\nprint(lock.job_id, flush=True)\n"
                               "sys.stdin.readline()\n"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=ENV)
    job_id = holder.stdout.readline().strip()
    refused = _cli(str(tmp_path / "in"), str(out))
    _, err = refused.communicate(timeout=60)
    assert refused.returncode == 2
    assert err.count("\n") == 1 and job_id in err and f"pid {holder.pid}" in err and "Traceback" not in err
    waiting = _cli(str(tmp_path / "in"), str(out), "--wait")
    time.sleep(1.0)
    assert waiting.poll() is None and not (out / "manifest.jsonl").exists()
    holder.stdin.write("\n")
    holder.stdin.flush()
    holder.wait(30)
    _, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, err
    assert len(jsonl(out / "manifest.jsonl")) == 2


def test_sigterm_while_waiting_stops_the_job_with_143(tmp_path):
    tone_files(tmp_path / "in", 1)
    out = tmp_path / "out"
    with lock_output(out):
        waiting = _cli(str(tmp_path / "in"), str(out), "--wait")
        time.sleep(1.5)  # past the start-up, into the wait
        waiting.send_signal(signal.SIGTERM)
        _, err = waiting.communicate(timeout=30)
    assert waiting.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err and not (out / "manifest.jsonl").exists()


# ---------------------------------------------------------------------------------------------- two jobs at once
def _reference(tmp_path: Path, seed: int) -> dict[str, str]:
    out = tmp_path / f"ref{seed}"
    job = _cli(str(tmp_path / "in"), str(out), "--copies", "4", "--seed", str(seed))
    assert job.communicate(timeout=120) and job.returncode == 0
    return content(out)


def _race(tmp_path: Path, trials: int) -> None:
    tone_files(tmp_path / "in", 40)
    refs = [_reference(tmp_path, 0), _reference(tmp_path, 1)]
    for trial in range(trials):
        out = tmp_path / f"out{trial}"
        jobs = [_cli(str(tmp_path / "in"), str(out), "--copies", "4", "--seed", str(seed)) for seed in (0, 1)]
        codes = [(job.wait(120), job.stderr.read()) for job in jobs]
        for job in jobs:
            job.stdout.close()
            job.stderr.close()
        ok = [seed for seed, (code, _) in enumerate(codes) if code == 0]
        assert len(ok) == 1, (trial, codes)
        loser_code, loser_err = codes[1 - ok[0]]
        assert loser_code == 2 and loser_err.count("\n") == 1, (trial, codes)
        assert "is in use by job" in loser_err or "holds an earlier run" in loser_err, loser_err
        # the surviving folder is exactly the winner's: every manifest line has its file, nothing else
        assert content(out) == refs[ok[0]], trial
        assert {r["output"] for r in jsonl(out / "manifest.jsonl")} == \
            {p for p in refs[ok[0]] if p.endswith(".wav")}


def test_two_jobs_started_together_on_one_out_never_both_succeed(tmp_path):
    _race(tmp_path, 3)


@pytest.mark.slow
def test_two_jobs_started_together_20_trials(tmp_path):
    _race(tmp_path, 20)
