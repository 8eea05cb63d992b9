"""The offline job on executors and clusters: any concurrent.futures executor, real Ray and Dask local clusters,
the Ray Data block; byte-identical to one local process, retries after a worker dies, resume after the driver dies."""

from __future__ import annotations

import concurrent.futures as cf
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile as sf
import torch

from audionoise.io.files import temp_name
from audionoise.cli import main as cli_main
from audionoise.offline import augment
from audionoise.offline import tasks as tasks_module
from audionoise.offline.backends import executor
from audionoise.offline.jsonl import read_manifest
from audionoise.offline.naming import output_name

from offline_helpers import content, jsonl, make_setup, tone_files

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("cluster")
    config = make_setup(root)
    tone_files(root / "in", 60, frames=600)
    augment(root / "in", root / "ref", config, copies=2, progress=False)
    return root, config


def _no_temporaries(out: Path) -> None:
    names = [p.name for p in out.rglob("*")]
    assert not any(n.endswith(".tmp") for n in names), names
    assert not (out / tasks_module.PARTS).exists()


def test_a_process_pool_executor_gives_the_bytes_of_one_process(setup, tmp_path):
    root, config = setup
    with cf.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as ex:
        s = augment(root / "in", tmp_path / "out", config, copies=2, progress=False, executor=ex)
    assert (s.written, s.failed) == (120, 0)
    assert content(tmp_path / "out") == content(root / "ref")
    _no_temporaries(tmp_path / "out")


def test_bad_inputs_on_an_executor_are_error_lines_as_in_a_local_job(setup, tmp_path):
    root, config = setup
    tone_files(tmp_path / "in", 10, frames=400)
    (tmp_path / "in" / "spk1" / "broken.wav").write_bytes(b"RIFF\x00\x00not a wave file")
    (tmp_path / "in" / "spk2" / "empty.flac").write_bytes(b"")
    local = augment(tmp_path / "in", tmp_path / "ref", config, progress=False)
    with cf.ThreadPoolExecutor(2) as ex:
        s = augment(tmp_path / "in", tmp_path / "out", config, progress=False, executor=ex)
    assert (s.failed, s.written, s.exit_status) == (local.failed, local.written, 1) == (2, 10, 1)
    assert content(tmp_path / "out") == content(tmp_path / "ref")  # errors.jsonl included


class _PolledJobs:
    """An executor like submitit's: ``submit`` gives job objects with ``done()`` and ``result()`` (no cf.Future)."""

    class Job:
        def __init__(self, fut):
            self._fut = fut

        def done(self):
            return self._fut.done()

        def result(self):
            return self._fut.result()

    def __init__(self):
        self._pool = cf.ThreadPoolExecutor(max_workers=1)

    def submit(self, fn, *args):
        return self.Job(self._pool.submit(fn, *args))


def test_an_executor_of_polled_jobs_like_submitit_works_and_a_non_executor_is_refused(setup, tmp_path):
    root, config = setup
    ex = _PolledJobs()
    s = augment(root / "in", tmp_path / "out", config, copies=2, progress=False, executor=ex)
    ex._pool.shutdown()
    assert (s.written, s.failed) == (120, 0)
    assert content(tmp_path / "out") == content(root / "ref")
    with pytest.raises(ValueError, match="executor must be a concurrent.futures.Executor .* got int"):
        augment(root / "in", tmp_path / "out2", config, progress=False, executor=3)


class _DiesMidTask(cf.ThreadPoolExecutor):
    """An executor whose first task's worker 'dies' mid-task: the task runs on the first half of its inputs only,
    leaves the temporary file of a half-written output behind, and its future raises as for a dead process."""

    def __init__(self):
        super().__init__(max_workers=1)
        self.dead_part = None
        self.kept: list[int] = []  # lines the retry of the dead task found in its part
        self.finished = 0  # inputs the dead attempt finished

    def submit(self, fn, /, *args, **kwargs):
        job, part, chunk = args
        if self.dead_part is None:
            self.dead_part = part
            assert len(chunk) >= 2
            self.finished = len(chunk) // 2
            fn(job, part, chunk[:self.finished])
            half = job.out_dir / output_name(chunk[-1][0].key, 0, job.fmt)
            half.parent.mkdir(parents=True, exist_ok=True)
            half.with_name(temp_name(half.name)).write_bytes(b"RIFF")
            fut: cf.Future = cf.Future()
            fut.set_exception(cf.process.BrokenProcessPool("a worker process died"))
            return fut
        if part == self.dead_part:
            self.kept.append(len(read_manifest(Path(part))))
        return super().submit(fn, *args, **kwargs)


def test_a_worker_dying_mid_task_loses_nothing_and_the_task_is_retried(setup, tmp_path):
    root, config = setup
    with _DiesMidTask() as ex:
        s = augment(root / "in", tmp_path / "out", config, copies=2, progress=False, executor=ex)
    assert ex.kept == [2 * ex.finished]  # the retry found the dead attempt's finished outputs
    assert (s.written, s.failed) == (120, 0)
    assert content(tmp_path / "out") == content(root / "ref")
    _no_temporaries(tmp_path / "out")


@pytest.mark.slow
def test_resume_takes_the_parts_of_a_dead_driver(setup, tmp_path):
    """A killed driver leaves a partial manifest and task parts; --resume merges them and finishes identically."""
    root, config = setup
    tone_files(tmp_path / "in", 400, frames=400)
    augment(tmp_path / "in", tmp_path / "ref", config, progress=False)
    code = ("import sys, concurrent.futures as cf, multiprocessing as mp\n"
            "from audionoise.offline import augment\n"
            "if __name__ == '__main__':\n"
            "    with cf.ProcessPoolExecutor(1, mp_context=mp.get_context('spawn')) as ex:\n"
            f"        augment({str(tmp_path / 'in')!r}, {str(tmp_path / 'out')!r}, {str(config)!r}, "
            "progress=False, executor=ex)\n")
    script = tmp_path / "driver.py"
    script.write_text(code)
    proc = subprocess.Popen([sys.executable, str(script)], env={**os.environ, "PYTHONPATH": str(REPO)},
                            start_new_session=True)
    parts = tmp_path / "out" / tasks_module.PARTS
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        lines = sum(p.read_bytes().count(b"\n") for p in parts.rglob("task-*.jsonl")) if parts.exists() else 0
        if lines >= 30:
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the job finished before it was killed"
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and its worker
    proc.wait()
    assert parts.exists()
    s = augment(tmp_path / "in", tmp_path / "out", config, resume=True, progress=False, wait=True)
    assert s.resumed >= 30 and s.resumed + s.written == 400 and s.failed == 0
    assert content(tmp_path / "out") == content(tmp_path / "ref")
    _no_temporaries(tmp_path / "out")


# ---------------------------------------------------------------------------------------------- real engines
def _has(module: str) -> bool:
    try:
        __import__(module)
        return True
    except ImportError:
        return False


class _DieOnce(torch.nn.Module):
    """A pipeline whose worker process exits (as if killed) the first time it meets a clip of ``victim`` samples."""

    def __init__(self, marker: str, victim: int) -> None:
        super().__init__()
        self.marker, self.victim = marker, victim

    def forward(self, x, lengths=None, generator=None, return_params=False):
        if x.shape[-1] == self.victim and not os.path.exists(self.marker):
            Path(self.marker).touch()
            os._exit(1)
        y = 0.5 * x
        return (y, [[{"transform": "Half"}] for _ in range(x.shape[0])]) if return_params else y


@pytest.mark.slow
@pytest.mark.parametrize("backend", [
    pytest.param("ray", marks=pytest.mark.skipif(not _has("ray"), reason="the audionoise[ray] extra is not installed")),
    pytest.param("dask", marks=pytest.mark.skipif(not _has("distributed"),
                                                  reason="the audionoise[dask] extra is not installed")),
])
def test_real_cluster_gives_the_bytes_of_one_process_and_survives_a_worker_death(setup, tmp_path, backend, capsys):
    root, config = setup
    # the CLI on a local cluster of 2 workers: outputs, manifest and run.json equal the local single-process run
    status = cli_main(["augment", str(root / "in"), str(tmp_path / "out"), "--config", str(config), "--copies", "2",
                       "--backend", backend, "--workers", "2", "-q"])
    assert status == 0, capsys.readouterr().err
    assert content(tmp_path / "out") == content(root / "ref")
    _no_temporaries(tmp_path / "out")
    # a worker process dies mid-task (after finishing other inputs): the task is retried, nothing is lost
    tone_files(tmp_path / "in2", 30, frames=500)
    data, rate = sf.read(tmp_path / "in2" / "spk0" / "utt 0000.wav")
    sf.write(tmp_path / "in2" / "spk3" / "victim.wav", data[:321], rate, subtype="PCM_16")
    marker = tmp_path / "died"
    marker.touch()
    augment(tmp_path / "in2", tmp_path / "ref2", _DieOnce(str(marker), 321), progress=False)
    marker.unlink()
    with executor(backend, workers=2) as ex:
        s = augment(tmp_path / "in2", tmp_path / "out2", _DieOnce(str(marker), 321), progress=False, executor=ex)
    assert marker.exists(), "no worker died"
    assert (s.written, s.failed) == (31, 0)
    assert content(tmp_path / "out2") == content(tmp_path / "ref2")
    _no_temporaries(tmp_path / "out2")


@pytest.mark.slow
@pytest.mark.skipif(not _has("ray"), reason="the audionoise[ray] extra is not installed")
def test_local_ray_backend_starts_its_own_cluster_whatever_ray_address_says(setup, tmp_path, monkeypatch, capsys):
    """Without --address the job starts a local cluster even where RAY_ADDRESS (or a stale
    /tmp/ray/ray_current_cluster left by an earlier `ray start`) names a cluster that is gone: ray.init() alone
    would try to join it and fail."""
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:9")  # nothing listens there
    root, config = setup
    status = cli_main(["augment", str(root / "in"), str(tmp_path / "out"), "--config", str(config), "--copies", "2",
                       "--backend", "ray", "--workers", "2", "-q"])
    assert status == 0, capsys.readouterr().err
    assert content(tmp_path / "out") == content(root / "ref")


@pytest.mark.slow
@pytest.mark.skipif(not _has("ray"), reason="the audionoise[ray] extra is not installed")
def test_ray_data_block_writes_the_outputs_of_the_offline_job(setup, tmp_path):
    import ray
    import ray.data

    from audionoise.offline.ray_data import AugmentRows

    root, config = setup
    files = sorted((root / "in").rglob("*.wav"))[:12]
    manifest = tmp_path / "in.jsonl"
    manifest.write_text("".join(json.dumps({"audio_filepath": str(f), "text": f.stem}) + "\n" for f in files))
    augment(manifest, tmp_path / "ref", config, copies=2, progress=False)
    with executor("ray", workers=2):
        rows = [json.loads(line) for line in manifest.read_text().splitlines()]
        ds = ray.data.from_items(rows).map_batches(
            AugmentRows, fn_constructor_kwargs={"out_dir": str(tmp_path / "out"), "pipeline_or_config": str(config),
                                                "copies": 2}, concurrency=2, batch_size=4)
        out = ds.take_all()
    assert all(r["error"] is None for r in out) and len(out) == 24
    ref = {r["audio_filepath"]: r for r in jsonl(tmp_path / "ref" / "manifest.jsonl")}
    for r in out:
        row = json.loads(r["manifest_line"])
        want = dict(ref[r["output"]])
        for d in (row, want):  # the block has no manifest line numbers
            d["augmentation"].pop("line", None)
        assert row == want
        assert (tmp_path / "out" / r["output"]).read_bytes() == (tmp_path / "ref" / r["output"]).read_bytes()


# ---------------------------------------------------------------------------------------------- usage errors
def _cli(args, tmp_path, modules_off=()):
    code = ("import sys\n" + "".join(f"sys.modules[{m!r}] = None\n" for m in modules_off)
            + "from audionoise.cli import main\nsys.exit(main(sys.argv[1:]))\n")
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=tmp_path)


@pytest.mark.parametrize("backend, module, extra", [("ray", "ray", "ray"), ("dask", "distributed", "dask")])
def test_a_missing_extra_is_one_line_and_exit_2(setup, tmp_path, backend, module, extra):
    root, config = setup
    r = _cli(["augment", str(root / "in"), str(tmp_path / "out"), "--config", str(config), "--backend", backend],
             tmp_path, modules_off=(module,))
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and f"pip install 'audionoise[{extra}]'" in r.stderr, r.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("backend, address", [("ray", "127.0.0.1:9"), ("ray", "ray://127.0.0.1:9"),
                                              ("dask", "tcp://127.0.0.1:9")])
def test_an_unreachable_cluster_is_one_line_and_exit_2(setup, tmp_path, backend, address):
    root, config = setup
    r = _cli(["augment", str(root / "in"), str(tmp_path / "out"), "--config", str(config), "--backend", backend,
              "--address", address], tmp_path)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and "cannot reach the" in r.stderr and address in r.stderr, r.stderr
    r = _cli(["augment", str(root / "in"), str(tmp_path / "out"), "--config", str(config), "--address", address],
             tmp_path)
    assert r.returncode == 2 and "--address needs --backend ray or dask" in r.stderr, r.stderr


@pytest.mark.slow
@pytest.mark.skipif(not _has("distributed"), reason="the audionoise[dask] extra is not installed")
def test_joining_a_running_dask_scheduler_gives_the_same_bytes(setup, tmp_path):
    import socket

    root, config = setup
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *sys.path])}
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port",
                               str(port), "--no-dashboard"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)]
    try:
        address = f"tcp://127.0.0.1:{port}"
        procs.append(subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address, "--nworkers", "2",
                                       "--nthreads", "1", "--no-dashboard"], env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=60)
        r = _cli(["augment", str(root / "in"), str(tmp_path / "out"), "--config", str(config), "--copies", "2",
                  "--backend", "dask", "--address", address, "-q"], tmp_path)
        assert r.returncode == 0, r.stderr
        assert content(tmp_path / "out") == content(root / "ref")
        _no_temporaries(tmp_path / "out")
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
