"""Where shards run: in this process, in local worker processes, or on a Dask cluster.

Every executor runs the same pure shard jobs (a job carries its scenario, seed and replicate
range), so results do not depend on which executor or how many workers ran them. With Dask, the
workers write their shards straight into the staging directory: on a multi-machine cluster it
must be on a filesystem every worker can see.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from cohortsim.errors import UsageError

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor

Job = TypeVar("Job")
EXECUTORS = ("local", "dask")


def run_jobs(
    function: Callable[[Job], Any],
    jobs: Sequence[Job],
    workers: int = 1,
    executor: str = "local",
    scheduler: str | None = None,
) -> Generator[Any, None, None]:
    """Run ``function`` on every job; yield results as they complete (any order).

    Parameters
    ----------
    function : callable
        A module-level (picklable) function of one job.
    jobs : sequence
        Picklable job descriptions.
    workers : int
        Worker processes (local) or workers of the local Dask cluster.
    executor : {"local", "dask"}
        ``local``: this process alone (``workers == 1``), or this process and ``workers − 1``
        spawned worker processes. ``dask``: a ``dask.distributed`` cluster — the one at
        ``scheduler`` (e.g. ``tcp://host:8786``) or, without an address, a new
        ``LocalCluster`` listening on loopback only.
    """
    if executor == "local":
        yield from _run_local(function, jobs, workers)
    elif executor == "dask":
        yield from _run_dask(function, jobs, workers, scheduler)
    else:
        raise UsageError(f"--executor {executor!r}: expected one of {', '.join(EXECUTORS)}")


_prestarted: tuple[int, ProcessPoolExecutor] | None = None
"""Workers started ahead of the first jobs by :func:`prestart_local_workers`: (count, pool)."""


def prestart_local_workers(workers: int, modules: Sequence[str] = ()) -> None:
    """Start the ``workers − 1`` spawned workers of a coming local run now.

    A spawned worker spends about half a second importing NumPy, SciPy and cohortsim before it
    can take a job. Started when the command line has only parsed its options, the workers do
    that while this process imports the same modules and loads the scenario, instead of after.
    ``modules`` are imported by each worker as it starts. The next :func:`run_jobs` with the
    same number of local workers uses them; :func:`discard_prestarted_workers` stops them if
    none does. Results never depend on it.
    """
    global _prestarted
    if workers <= 1 or _prestarted is not None:
        return
    pool = _new_pool(workers - 1, tuple(modules))
    # The pool spawns a process per submitted job while it has fewer than max_workers: one
    # trivial job each starts them all now.
    for _ in range(workers - 1):
        pool.submit(_ready)
    _prestarted = (workers, pool)


def discard_prestarted_workers() -> None:
    """Stop workers started by :func:`prestart_local_workers` that no run has used."""
    global _prestarted
    if _prestarted is not None:
        _prestarted[1].shutdown(wait=False, cancel_futures=True)
        _prestarted = None


def _ready() -> None:
    """The job that makes the pool start a worker (its initializer does the work)."""


def _new_pool(processes: int, modules: tuple[str, ...] = ()) -> ProcessPoolExecutor:
    # Imported here: concurrent.futures and multiprocessing (≈ 10 ms with logging, pickle and
    # socket) are needed only when worker processes are started.
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    # spawn, not fork: the parent may hold threads (pyarrow, BLAS) that fork would copy mid-state.
    return ProcessPoolExecutor(
        max_workers=processes,
        mp_context=get_context("spawn"),
        initializer=_start_worker,
        initargs=(modules,),
    )


def _local_pool(workers: int, jobs: int) -> ProcessPoolExecutor:
    """The prestarted pool when it has the right size, else a new one."""
    global _prestarted
    if _prestarted is not None and _prestarted[0] == workers:
        pool = _prestarted[1]
        _prestarted = None
        return pool
    discard_prestarted_workers()
    return _new_pool(min(workers - 1, jobs - 1))


def _run_local(function: Callable[[Job], Any], jobs: Sequence[Job], workers: int) -> Iterator[Any]:
    if workers <= 1 or len(jobs) <= 1:
        discard_prestarted_workers()
        for job in jobs:
            yield function(job)
        return
    # This process is one of the workers: while the spawned ones start (each imports cohortsim
    # first, about a second) and whenever it is not collecting results, it runs the earliest job
    # no worker has taken yet (a queued future that can still be cancelled). ``workers``
    # processes compute in all, and the parent is never left idle.
    from concurrent.futures import FIRST_COMPLETED, wait

    pool = _local_pool(workers, len(jobs))
    try:
        futures = [pool.submit(function, job) for job in jobs]
        outstanding: set[Future[Any]] = set(futures)
        unclaimed = deque(range(len(jobs)))
        while outstanding:
            for future in [f for f in outstanding if f.done()]:
                outstanding.discard(future)
                yield future.result()
            mine = None
            while unclaimed and mine is None:
                index = unclaimed.popleft()
                if futures[index].cancel():  # no worker has it: run it here
                    mine = index
            if mine is not None:
                outstanding.discard(futures[mine])
                yield function(jobs[mine])
            elif outstanding:
                finished, _ = wait(outstanding, return_when=FIRST_COMPLETED)
                for future in finished:
                    outstanding.discard(future)
                    yield future.result()
    finally:
        # On an error, Ctrl-C or an abandoned iteration, queued jobs are dropped at once: only
        # the jobs already running finish (their shards are complete, so a rerun resumes after
        # them). Without cancel_futures the pool would compute every queued job before exiting.
        pool.shutdown(wait=True, cancel_futures=True)


def _start_worker(modules: tuple[str, ...] = ()) -> None:
    """Set up a spawned worker: it ignores Ctrl-C (the parent gets it, cancels the queued jobs
    and lets the running ones finish, instead of every worker dying mid-shard with its own
    traceback), reuses freed array memory as the command-line process does, and imports
    ``modules`` ahead of its first job."""
    import importlib
    import signal

    from cohortsim.allocator import keep_freed_memory

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    keep_freed_memory()
    for module in modules:
        importlib.import_module(module)


def _run_dask(
    function: Callable[[Job], Any], jobs: Sequence[Job], workers: int, scheduler: str | None
) -> Iterator[Any]:
    try:
        from dask.distributed import Client, LocalCluster
        from dask.distributed import as_completed as dask_completed
    except ImportError:
        raise UsageError(
            "--executor dask needs dask.distributed: pip install 'cohortsim[dask]'"
        ) from None
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(
            n_workers=max(workers, 1),
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        )
        client = Client(cluster)
    else:
        try:
            client = Client(scheduler, timeout="10s")
        except OSError as error:
            raise UsageError(f"--scheduler {scheduler}: cannot connect ({error})") from None
    try:
        futures = client.map(function, list(jobs), pure=False)
        for future in dask_completed(futures):
            yield future.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
