"""Dask distributed for sweeps of fresh processes: a LocalCluster or a scheduler's address.

Shared by the causal study (:mod:`nrm.study.sweep`) and ``nrm watch --arms``
(:mod:`nrm.watch.arms`): the checks of ``--workers`` and ``--scheduler`` (a malformed address,
nothing answering, or something that is not a Dask scheduler is one line before anything is
written), the client, submission in order (:func:`in_order`), the signals that stop a sweep,
a quiet close, and the child-process setting that lets a run die with its worker.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from nrm.exceptions import ParameterError, StudyError

#: Dask's schemes for a scheduler's address (``nrm study run --scheduler``).
SCHEDULER_SCHEMES = ("tcp", "tls")
#: Seconds to wait for a scheduler to answer before the sweep is refused.
CONNECT_TIMEOUT_S = 10


def check_scheduler_address(address: str) -> str:
    """``address`` if it has the form ``tcp://HOST:PORT`` (or ``tls://``), else a one-line
    :class:`ParameterError` saying what was expected."""
    m = re.fullmatch(r"([a-z]+)://(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):([0-9]{1,5})", address)
    if not m or m.group(1) not in SCHEDULER_SCHEMES or not 0 < int(m.group(3)) < 65536:
        raise ParameterError(
            f"--scheduler {address!r}: expected a Dask scheduler's address, "
            "tcp://HOST:PORT (e.g. tcp://127.0.0.1:8786, as `dask scheduler` "
            "prints it)"
        )
    return address


def _probe_scheduler(address: str, timeout_s: float) -> None:
    """Refuse ``address`` unless what listens there greets like Dask's comm: on a new
    connection a scheduler writes its handshake at once, a message whose first 8 bytes are a
    small little-endian frame count. An HTTP server says nothing; another service says
    something else (which Dask would read as a length of exabytes)."""
    host, port = address.split("://", 1)[1].rsplit(":", 1)
    deadline = time.monotonic() + timeout_s
    while True:  # a scheduler started a moment ago may not listen yet: retry a refusal
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
            break
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        except OSError:
            break
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s) as s:
            s.settimeout(timeout_s)
            head = b""
            while len(head) < 8:
                chunk = s.recv(8 - len(head))
                if not chunk:
                    break
                head += chunk
    except TimeoutError:
        raise StudyError(
            f"{address} accepted a connection but sent no Dask handshake within "
            f"{timeout_s:g} s: not a Dask scheduler"
        ) from None
    except OSError as exc:
        raise StudyError(
            f"no Dask scheduler answered at {address} within {timeout_s:g} s "
            f"({exc.strerror or type(exc).__name__}); start one with `dask "
            "scheduler` and `dask worker ADDRESS`, or leave out --scheduler"
        ) from None
    if len(head) < 8 or not 0 < int.from_bytes(head, "little") < 1024:
        raise StudyError(
            f"{address} answered, but not as a Dask scheduler (its first bytes: {head[:8]!r})"
        )


def connect_scheduler(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> Any:
    """A client of the scheduler at ``address``, or a one-line :class:`StudyError` naming what
    was tried (nothing answered within ``timeout_s``, or what answered is not a scheduler)."""
    from distributed import Client

    check_scheduler_address(address)
    if address.startswith("tcp://"):
        _probe_scheduler(address, timeout_s)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return Client(address, timeout=f"{timeout_s}s")
    except (OSError, TimeoutError) as exc:
        raise StudyError(
            f"no Dask scheduler answered at {address} within {timeout_s:g} s "
            f"({type(exc).__name__}); start one with `dask scheduler` and "
            "`dask worker ADDRESS`, or leave out --scheduler"
        ) from None
    except Exception as exc:  # something answered, but not the scheduler protocol
        raise StudyError(
            f"{address} answered, but not as a Dask scheduler "
            f"({type(exc).__name__}: {str(exc)[:80]})"
        ) from None


def open_client(workers: int, scheduler: str | None) -> tuple[Any, Any]:
    """A client of the scheduler at ``scheduler``, else of a new LocalCluster of ``workers``
    single-threaded worker processes on 127.0.0.1; and the cluster to close (or None)."""
    import logging

    import dask
    from distributed import Client, LocalCluster

    if scheduler is not None:
        return connect_scheduler(scheduler), None
    # no dashboard: the scheduler's HTTP server takes a free loopback port and serves no routes
    # (dashboard_address=None still binds :8787 and warns when that port is taken)
    with dask.config.set({"distributed.scheduler.http.routes": []}):
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
            scheduler_kwargs={"dashboard": False},
            silence_logs=logging.ERROR,
        )
    return Client(cluster), cluster


class SignalStop:
    signum: int | None = None


@contextlib.contextmanager
def signals_stop() -> Iterator[SignalStop]:
    """SIGINT and SIGTERM stop a sweep as Ctrl-C does (a KeyboardInterrupt in the main
    thread), noting which one came. SIGINT is handled even when this process inherited it
    ignored (a background job of a non-interactive shell), as ``nrm run`` does."""
    stop = SignalStop()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handle(signum: int, frame: Any) -> None:
        if stop.signum is None:
            stop.signum = signum
            raise KeyboardInterrupt

    old = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def close_quietly(client: Any, cluster: Any) -> None:
    """Close the Dask client (and the LocalCluster) without Dask's log lines about the tasks
    an interrupted sweep leaves behind."""
    import logging

    quiet = [logging.getLogger(n) for n in ("distributed", "tornado", "asyncio")]
    levels = [lg.level for lg in quiet]
    for lg in quiet:
        lg.setLevel(logging.CRITICAL)
    try:
        with contextlib.suppress(Exception):
            client.close()
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close()
    finally:
        for lg, lv in zip(quiet, levels, strict=True):
            lg.setLevel(lv)


#: Most local workers a sweep starts (each a process of its own).
MAX_WORKERS = 64


def check_workers(workers: object) -> int:
    """``workers`` if it is a sensible number of local workers, else a one-line
    :class:`ParameterError`."""
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ParameterError(f"workers must be a positive integer, got {workers!r}")
    if workers > MAX_WORKERS:
        raise ParameterError(
            f"workers {workers}: at most {MAX_WORKERS} local workers (this "
            f"machine has {os.cpu_count()} cores; more share them and fake "
            "contention); for a cluster use --scheduler"
        )
    return workers


def set_pdeathsig() -> None:  # pragma: no cover - runs in the child before exec
    """Let a run die with the worker that started it (Linux), so a killed worker leaves no
    orphan that would keep writing into a folder the retried task moves aside."""
    import ctypes

    with contextlib.suppress(Exception):
        ctypes.CDLL(None).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG


def worker_address() -> str | None:
    """The address of the Dask worker running this task (None outside a worker)."""
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except Exception:
        return None


#: One task of :func:`in_order`: its name, the function and its arguments.
Job = tuple[str, Callable[..., Any], tuple[Any, ...]]


def in_order(
    client: Any, jobs: Iterable[Job], *, key: str, retries: int = 2
) -> Iterator[tuple[str, Any, BaseException | None]]:
    """Submit ``jobs`` in their order, never more at once than the cluster has threads (Dask's
    scheduler does not keep submission order, and randomized blocks only spread drift evenly
    when they run in order); yield ``(name, result, None)`` as each ends, or ``(name, None,
    exception)`` for a task that failed (e.g. KilledWorker after repeated worker deaths). A
    task whose worker dies is retried elsewhere up to ``retries`` times. ``jobs`` is read
    lazily, one job per submission."""
    from distributed import as_completed

    todo = iter(jobs)
    stamp = f"{time.time():.0f}"
    ac = as_completed()
    in_flight = 0
    names: dict[Any, str] = {}

    def fill() -> None:
        nonlocal in_flight
        window = max(1, sum(client.nthreads().values()))
        while in_flight < window:
            job = next(todo, None)
            if job is None:
                return
            name, fn, args = job
            fut = client.submit(fn, *args, key=f"{key}-{name}-{stamp}", retries=retries, pure=False)
            names[fut.key] = name
            ac.add(fut)
            in_flight += 1

    fill()
    for fut in ac:
        in_flight -= 1
        name = names.get(fut.key, str(fut.key))
        try:
            result = fut.result()
        except Exception as exc:
            yield name, None, exc
        else:
            yield name, result, None
        fill()
