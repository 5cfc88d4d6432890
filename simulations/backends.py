"""Where a campaign's or a sweep's runs execute: this machine's worker processes
(:class:`LocalPool`, ``--jobs N``) or the workers of a Dask cluster (:class:`DaskCluster`,
``--dask ADDRESS``, the optional ``pycorosync[dask]`` extra).

Both have the one method a campaign needs, :meth:`Backend.map`: a module-level
function over items that the caller draws lazily, a bounded window of items handed
out ahead of the results (so that a campaign of 100,000 schedules keeps a few dozen
in memory, not the list), results as they finish (``ordered=False``, a campaign's
rows) or in the items' order (a sweep's CSV). An item whose run fails goes to
``on_failure`` with its error (reported, the others go on) or, without it, raises.

A run is the same computation wherever it executes (each schedule runs alone in a
fresh simulation from its own seed), so a row does not depend on the backend,
provided the workers run the same code: :class:`DaskCluster` compares a digest of
the installed source of every worker with the parent's before it submits anything,
and every task checks it again on the worker that runs it (workers may join later).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import multiprocessing
import os
import queue
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from functools import cache
from multiprocessing.pool import AsyncResult
from pathlib import Path
from typing import Any, Protocol, TypeVar

__all__ = [
    "IN_FLIGHT_PER_WORKER",
    "PACKAGES",
    "TASKS_PER_WORKER",
    "Backend",
    "BackendError",
    "CodeMismatch",
    "DaskCluster",
    "LocalPool",
    "code_identity",
    "parallel_map",
    "rss_bytes",
]

TASKS_PER_WORKER = 200
"""Schedules a local worker process runs before it is replaced (whatever it accumulated
goes)."""
IN_FLIGHT_PER_WORKER = 4
"""Items handed out ahead of the results, per worker process or Dask worker thread: the
rest is not drawn yet."""
PACKAGES = ("totem", "votequorum", "qnetd", "simulations", "pvecluster")
"""The project's packages, whose source makes up :func:`code_identity`."""
DASK_EXTRA = "pip install 'pycorosync[dask]'"

_T = TypeVar("_T")
_R = TypeVar("_R")

Failure = Callable[[Any, Exception], None]


class BackendError(Exception):
    """A backend cannot run the campaign (no scheduler, no workers, another version)."""


class CodeMismatch(BackendError):
    """A worker runs other pycorosync code than the parent: its rows would not describe
    the parent's code."""


class Backend(Protocol):
    """What runs a campaign's schedules or a sweep's points."""

    def map(
        self,
        function: Callable[[_T], _R],
        items: Iterable[_T],
        *,
        ordered: bool = True,
        on_failure: Failure | None = None,
    ) -> Iterator[_R]:
        """``function`` (module level) over ``items`` (drawn lazily)."""
        ...

    def memory(self) -> str:
        """The workers' resident memory, for a progress line ("" when unknown)."""
        ...

    def close(self) -> None:
        """Cancel what is in flight and let the workers go."""
        ...


@cache
def code_identity() -> str:
    """``pycorosync VERSION, code DIGEST``: the installed version and a SHA-256 (first 16
    hex digits) over the path and bytes of every ``.py`` file of :data:`PACKAGES`, as this
    process would import them. Two processes with the same identity run the same
    simulation code (a version number alone does not say so for a clone)."""
    digest = hashlib.sha256()
    for package in PACKAGES:
        spec = importlib.util.find_spec(package)
        for location in sorted(spec.submodule_search_locations or []) if spec else []:
            root = Path(location)
            for path in sorted(root.rglob("*.py")):
                digest.update(f"{package}/{path.relative_to(root).as_posix()}\0".encode())
                digest.update(path.read_bytes())
                digest.update(b"\0")
    try:
        version = importlib.metadata.version("pycorosync")
    except importlib.metadata.PackageNotFoundError:
        version = "(not installed)"
    return f"pycorosync {version}, code {digest.hexdigest()[:16]}"


def rss_bytes(pid: int | None = None) -> int | None:
    """The resident set size of process ``pid`` (this one by default), None where
    ``/proc`` cannot tell."""
    try:
        with open(f"/proc/{pid or 'self'}/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _mib_range(sizes: list[int]) -> str:
    mib = 1 << 20
    return f"{min(sizes) / mib:.0f}-{max(sizes) / mib:.0f} MiB"


def parallel_map(
    function: Callable[[_T], _R],
    items: Iterable[_T],
    jobs: int,
    *,
    ordered: bool = True,
    on_failure: Failure | None = None,
) -> Iterator[_R]:
    """``map`` over ``jobs`` worker processes (in this process when ``jobs`` is 1).

    ``function`` must be a module-level function. With ``ordered=False`` results come as
    they finish. ``items`` is consumed lazily: at most :data:`IN_FLIGHT_PER_WORKER` items
    per worker are handed out ahead of the results (``Pool.imap`` would draw all of them
    at once: a campaign's whole list of schedules). An item whose ``function`` raises goes
    to ``on_failure`` with the error; without it, the error is raised here.
    """
    if jobs <= 1:
        for item in items:
            try:
                result = function(item)
            except Exception as error:
                if on_failure is None:
                    raise
                on_failure(item, error)
                continue
            yield result
        return
    context = multiprocessing.get_context("fork")
    window = jobs * IN_FLIGHT_PER_WORKER
    source = iter(items)
    with context.Pool(jobs, maxtasksperchild=TASKS_PER_WORKER) as pool:
        if ordered:
            queued: deque[tuple[_T, AsyncResult[_R]]] = deque()
            for item in source:
                queued.append((item, pool.apply_async(function, (item,))))
                if len(queued) >= window:
                    yield from _settled(*queued.popleft(), on_failure)
            while queued:
                yield from _settled(*queued.popleft(), on_failure)
            return
        finished: queue.SimpleQueue[tuple[bool, Any, Any]] = queue.SimpleQueue()

        def submit(item: _T) -> None:
            pool.apply_async(
                function,
                (item,),
                callback=lambda value: finished.put((True, item, value)),
                error_callback=lambda error: finished.put((False, item, error)),
            )

        in_flight = 0
        for item in source:
            submit(item)
            in_flight += 1
            if in_flight >= window:
                yield from _outcome(finished.get(), on_failure)
                in_flight -= 1
        for _ in range(in_flight):
            yield from _outcome(finished.get(), on_failure)


def _settled(item: Any, result: AsyncResult[_R], on_failure: Failure | None) -> Iterator[_R]:
    try:
        value = result.get()
    except Exception as error:
        if on_failure is None:
            raise
        on_failure(item, error)
        return
    yield value


def _outcome(outcome: tuple[bool, Any, Any], on_failure: Failure | None) -> Iterator[Any]:
    good, item, value = outcome
    if good:
        yield value
    elif on_failure is None:
        raise value
    else:
        on_failure(item, value)


class LocalPool:
    """``jobs`` worker processes of this machine (:func:`parallel_map`)."""

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs

    def map(
        self,
        function: Callable[[_T], _R],
        items: Iterable[_T],
        *,
        ordered: bool = True,
        on_failure: Failure | None = None,
    ) -> Iterator[_R]:
        return parallel_map(function, items, self.jobs, ordered=ordered, on_failure=on_failure)

    def memory(self) -> str:
        workers = [
            rss for child in multiprocessing.active_children() if (rss := rss_bytes(child.pid))
        ]
        return f"workers {_mib_range(workers)}" if workers else ""

    def close(self) -> None:
        """Nothing outlives :meth:`map`'s pool."""


def _checked(identity: str, function: Callable[[_T], _R], item: _T) -> _R:
    """Run ``function(item)`` on a Dask worker whose code is ``identity`` (the parent's)."""
    mine = code_identity()
    if mine != identity:
        from distributed import get_worker

        raise CodeMismatch(f"worker {get_worker().address} runs {mine}, the campaign {identity}")
    return function(item)


class DaskCluster:
    """The workers of the Dask cluster whose scheduler is at ``address``
    (``tcp://HOST:8786``). Each item is one ``client.submit`` of the function the local
    pool runs; at most :data:`IN_FLIGHT_PER_WORKER` items per worker thread of the
    cluster (counted again every ``refresh_s``: workers may come and go) are in flight.

    A worker that dies takes its tasks with it and the scheduler gives them to another
    worker (a task that killed ``distributed.scheduler.allowed-failures`` workers fails
    with ``KilledWorker``); a task that fails goes to ``on_failure``. :meth:`close`
    cancels the tasks in flight (Ctrl-C)."""

    def __init__(
        self,
        address: str,
        *,
        connect_timeout_s: float = 30.0,
        workers_timeout_s: float = 120.0,
        refresh_s: float = 30.0,
        identity: str | None = None,
    ) -> None:
        try:
            import distributed
        except ImportError:
            raise BackendError(
                f"--dask needs the distributed package: {DASK_EXTRA} "
                "(from the clone: .venv/bin/pip install -e '.[dask]')"
            ) from None
        self.address = address
        self.identity = identity if identity is not None else code_identity()
        self.refresh_s = refresh_s
        self._distributed: Any = distributed  # not typed: every call goes through Any
        try:
            self.client: Any = self._distributed.Client(address, timeout=f"{connect_timeout_s}s")
        except (OSError, TimeoutError, ValueError) as error:
            raise BackendError(f"cannot reach the Dask scheduler at {address}: {error}") from None
        self._in_flight: dict[str, Any] = {}
        try:
            try:
                self.client.wait_for_workers(1, timeout=workers_timeout_s)
            except TimeoutError:
                raise BackendError(
                    f"no worker joined the Dask scheduler at {address} "
                    f"in {workers_timeout_s:g} s (start them: dask worker {address})"
                ) from None
            self._check_workers()
        except BaseException:
            self.client.close()
            raise

    def _check_workers(self) -> None:
        """Every connected worker must run the parent's code (:func:`code_identity`)."""
        try:
            identities: dict[str, str] = self.client.run(code_identity)
        except Exception as error:
            raise CodeMismatch(
                f"the workers of {self.address} cannot run pycorosync's code check ({error}): "
                f"install {self.identity} on every worker"
            ) from None
        for worker, identity in sorted(identities.items()):
            if identity != self.identity:
                raise CodeMismatch(
                    f"worker {worker} runs {identity}, this process {self.identity}: "
                    "install the same pycorosync on every worker (and restart it)"
                )

    def _window(self) -> int:
        threads = sum(int(count) for count in self.client.nthreads().values())
        return max(1, threads) * IN_FLIGHT_PER_WORKER

    def _submit(self, function: Callable[[_T], _R], item: _T) -> Any:
        future = self.client.submit(_checked, self.identity, function, item, pure=False)
        self._in_flight[future.key] = future
        return future

    def _result(self, future: Any, item: Any, on_failure: Failure | None) -> Iterator[Any]:
        self._in_flight.pop(future.key, None)
        try:
            value = future.result()
        except CodeMismatch as error:
            raise CodeMismatch(
                f"{error}: install the same pycorosync on every worker of {self.address}"
            ) from None
        except Exception as error:
            if self.client.status != "running":
                raise BackendError(f"lost the Dask scheduler at {self.address}: {error}") from None
            if on_failure is None:
                raise
            on_failure(item, error)
            return
        finally:
            future.release()
        yield value

    def map(
        self,
        function: Callable[[_T], _R],
        items: Iterable[_T],
        *,
        ordered: bool = True,
        on_failure: Failure | None = None,
    ) -> Iterator[_R]:
        window = self._window()
        counted = time.monotonic()
        try:
            if ordered:
                queued: deque[tuple[Any, Any]] = deque()
                for item in items:
                    queued.append((self._submit(function, item), item))
                    if len(queued) >= window:
                        yield from self._result(*queued.popleft(), on_failure)
                while queued:
                    yield from self._result(*queued.popleft(), on_failure)
                return
            arrivals = self._distributed.as_completed()
            submitted: dict[str, Any] = {}
            for item in items:
                future = self._submit(function, item)
                submitted[future.key] = item
                arrivals.add(future)
                if time.monotonic() - counted >= self.refresh_s:
                    window, counted = self._window(), time.monotonic()
                while arrivals.count() >= window:
                    done = next(arrivals)
                    yield from self._result(done, submitted.pop(done.key), on_failure)
            for done in arrivals:
                yield from self._result(done, submitted.pop(done.key), on_failure)
        finally:
            self._cancel()

    def _cancel(self) -> None:
        if self._in_flight:
            futures = list(self._in_flight.values())
            self._in_flight.clear()
            self.client.cancel(futures)

    def memory(self) -> str:
        try:
            workers = self.client.scheduler_info()["workers"]
        except Exception:
            return ""
        sizes = [int(w.get("metrics", {}).get("memory", 0)) for w in workers.values()]
        return f"{len(sizes)} Dask workers {_mib_range(sizes)}" if sizes else ""

    def close(self) -> None:
        self._cancel()
        self.client.close()
