"""CPU thread settings that hold up on a shared machine.

Default: **one** intra-op thread per process. The networks here are small (hidden
layers of 64-512 units, batches of a few hundred), so a second thread buys little on a
quiet machine and costs a lot on a busy one: OpenMP threads spin at every barrier, and
when one core is taken by another process every barrier waits for a descheduled
thread (measured beside a busy process: docs/benchmarks.md, "Threads"). One thread per
fit degrades gracefully: it just shares its core.

``--threads N`` (or ``$ELPAGEN_THREADS``) asks for more, e.g. on a quiet workstation
with many cores. numpy's and scipy's OpenBLAS stay at one thread whatever N is: none
of our hot paths use them (all heavy linear algebra runs in torch), and a second
BLAS runtime with its own thread pool in the same process is a known crash trap
(OpenBLAS's threaded Cholesky segfaulted beside torch's OpenMP on an AMD EPYC).
"""

from __future__ import annotations

import os

from elpagen import allocator
from elpagen.errors import InputError

ENV_VAR = "ELPAGEN_THREADS"
DEFAULT_THREADS = 1

_blas_limiter = None  # keeps the threadpoolctl limit alive for the process


def available_cores() -> int:
    """Cores this process may run on (the affinity mask, e.g. a cluster job's share)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def resolve(n: int | str | None = None) -> int:
    """The thread count: ``n``, else ``$ELPAGEN_THREADS``, else 1; ``0`` means all cores."""
    source = "--threads"
    if n is None:
        n = os.environ.get(ENV_VAR)
        source = ENV_VAR
        if n is None or n == "":
            return DEFAULT_THREADS
    try:
        value = int(n)
    except (TypeError, ValueError):
        raise InputError(f"{source} must be a whole number of threads, got {n!r}") from None
    if value < 0:
        raise InputError(f"{source} must be 0 (all cores) or more, got {value}")
    return available_cores() if value == 0 else value


def configure(n: int | str | None = None) -> int:
    """Set torch's intra-op threads and pin OpenBLAS to one thread; returns the count.

    Every process that computes (the CLI, ``--jobs`` and Dask workers) starts here, so
    this also keeps freed tensor memory in the process (:mod:`elpagen.allocator`).
    """
    global _blas_limiter
    import torch
    from threadpoolctl import threadpool_limits

    allocator.keep_freed_memory()
    value = resolve(n)
    torch.set_num_threads(value)
    if _blas_limiter is None:
        _blas_limiter = threadpool_limits(limits=1, user_api="blas")
    return value
