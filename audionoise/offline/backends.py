"""Executors of an offline job on a cluster: Ray and Dask (``audionoise augment --backend ray|dask``).

:func:`executor` opens one as a context manager: without an address it starts a local cluster of ``workers``
single-threaded worker processes on this machine (and stops it at the end); with one it joins the running cluster
(Ray: ``ray://HOST:10001`` or the head's ``HOST:6379``; Dask: the scheduler's ``tcp://HOST:8786``) and leaves it
running. The job then runs as tasks on it (:mod:`audionoise.offline.tasks`). A missing extra or a cluster that
cannot be reached is an :class:`~audionoise.offline.pipelines.OfflineUsageError` (one line; the CLI exits 2).

Example:
    >>> with executor("dask", workers=2) as ex:  # doctest: +SKIP
    ...     augment("clean/", "noisy/", "pipeline.toml", executor=ex)
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import os
import socket
import sys
from typing import Any, Callable, Iterator

from audionoise.runtime.extras import MissingExtraError, require
from audionoise.offline.pipelines import OfflineUsageError

__all__ = ["BACKENDS", "RayExecutor", "executor"]

BACKENDS = ("local", "ray", "dask")
#: seconds to wait for a cluster to answer
CONNECT_TIMEOUT_S = 10


def _require(module: str, backend: str) -> Any:
    try:
        return require(module, extra=backend, purpose=f"--backend {backend}")
    except MissingExtraError as exc:
        raise OfflineUsageError(str(exc)) from None


def _call(fn: Callable, args: tuple) -> Any:
    return fn(*args)


class RayExecutor(cf.Executor):
    """A ``concurrent.futures.Executor`` over Ray tasks (one CPU each; a task whose worker dies raises, and
    :mod:`audionoise.offline.tasks` submits it again)."""

    def __init__(self) -> None:
        ray = _require("ray", "ray")
        self._remote = ray.remote(num_cpus=1, max_retries=0)(_call)
        self._max_workers = int(ray.cluster_resources().get("CPU", 1))  # tasks the cluster runs at once

    def submit(self, fn: Callable, /, *args: Any, **kwargs: Any) -> cf.Future:
        if kwargs:
            raise TypeError("RayExecutor.submit takes positional arguments only")
        return self._remote.remote(fn, args).future()


def _worker_env() -> dict[str, str]:
    """Environment for local workers: this process's import path (so they import the same audionoise)."""
    path = os.pathsep.join(p for p in sys.path if p)
    return {"PYTHONPATH": path, "OMP_NUM_THREADS": "1"}


def _probe(address: str, what: str, hint: str) -> None:
    """Fail fast, in one line, when nothing listens at ``address`` (``[scheme://]HOST:PORT``): the engines' own
    clients retry for minutes."""
    rest = address.split("://", 1)[-1]
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit():
        raise OfflineUsageError(f"--address {address!r} is not HOST:PORT; {hint}")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise OfflineUsageError(f"cannot reach the {what} at {address!r} ({exc.strerror or exc}); {hint}") from None


RAY_HINT = "check --address (ray://HOST:10001, or the head's HOST:6379) and that the cluster is up"
DASK_HINT = "check --address (the scheduler's tcp://HOST:8786) and that the scheduler is up"


@contextlib.contextmanager
def _ray(workers: int, address: str | None) -> Iterator[cf.Executor]:
    ray = _require("ray", "ray")
    if address is not None and address != "auto":
        _probe(address, "Ray cluster", RAY_HINT)
    started = not ray.is_initialized()
    try:
        if address is None:
            # address="local": always a new single-node cluster, never one that RAY_ADDRESS or a (possibly stale)
            # /tmp/ray/ray_current_cluster file points at (ray.init() alone would try to join it)
            ray.init(address="local", num_cpus=workers, include_dashboard=False, log_to_driver=False,
                     logging_level="ERROR", runtime_env={"env_vars": _worker_env()})
        else:
            ray.init(address=address, log_to_driver=False, logging_level="ERROR")
    except Exception as exc:  # ConnectionError, TimeoutError, ValueError (bad address), ...
        raise OfflineUsageError(f"cannot reach the Ray cluster at {address!r}: {type(exc).__name__}: "
                                f"{str(exc).splitlines()[0] if str(exc) else ''}; {RAY_HINT}") from None
    try:
        yield RayExecutor()
    finally:
        if started:
            ray.shutdown()


@contextlib.contextmanager
def _dask(workers: int, address: str | None) -> Iterator[cf.Executor]:
    distributed = _require("distributed", "dask")
    if address is not None:
        _probe(address, "Dask scheduler", DASK_HINT)
    cluster = None
    try:
        if address is None:
            os.environ.setdefault("OMP_NUM_THREADS", "1")
            cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                               dashboard_address=None, silence_logs=50)
            client = distributed.Client(cluster)
        else:
            client = distributed.Client(address, timeout=CONNECT_TIMEOUT_S)
    except Exception as exc:  # OSError, TimeoutError, ValueError (bad address), ...
        if cluster is not None:
            cluster.close()
        raise OfflineUsageError(f"cannot reach the Dask scheduler at {address!r}: {type(exc).__name__}: "
                                f"{str(exc).splitlines()[0] if str(exc) else ''}; {DASK_HINT}") from None
    try:
        ex = client.get_executor(pure=False)
        workers_info = client.scheduler_info().get("workers", {})
        ex._max_workers = sum(int(w.get("nthreads", 1)) for w in workers_info.values()) or workers
        yield ex
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


@contextlib.contextmanager
def executor(backend: str, workers: int = 1, address: str | None = None) -> Iterator[cf.Executor | None]:
    """The executor of ``backend`` (``None`` for ``"local"``: the job's own process pool), open for the block."""
    if backend not in BACKENDS:
        raise OfflineUsageError(f"backend ({backend!r}) must be one of {', '.join(BACKENDS)}")
    if not isinstance(workers, int) or workers < 1:
        raise OfflineUsageError(f"workers ({workers!r}) must be an integer >= 1")
    if backend == "local":
        if address is not None:
            raise OfflineUsageError("--address needs --backend ray or dask (the local backend has no cluster)")
        yield None
        return
    with (_ray if backend == "ray" else _dask)(workers, address) as ex:
        yield ex
