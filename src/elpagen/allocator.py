"""glibc ``malloc`` settings that keep freed tensor memory in the process.

A training step allocates and frees the same few-MiB activation and gradient tensors
thousands of times. glibc serves blocks above its *mmap threshold* with a fresh
``mmap`` and gives them back with ``munmap`` on free, so every step pays page faults
to touch new zeroed pages; a low *trim threshold* does the same to the top of the heap.
glibc's default adapts the mmap threshold upwards after the first frees, but any
``MALLOC_*_THRESHOLD_`` setting turns that adaptation off, and Dask sets
``MALLOC_TRIM_THRESHOLD_=65536`` in every worker it spawns (``distributed.nanny.
pre-spawn-environ``): there a GAN fit spent 40 % of its time in the kernel and ran
1.7x slower than in a plain process (docs/benchmarks.md, "malloc settings").

:func:`keep_freed_memory` sets both thresholds at run time (``mallopt``), which
overrides the environment. Blocks up to 32 MiB (glibc's largest allowed mmap
threshold) then come from the heap and are reused; at most 64 MiB of free heap top is
kept before it is returned. The arithmetic is untouched: a fit's weights are bitwise
the same with either setting. Not glibc (macOS, Windows, musl): nothing is done.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

#: mallopt parameter numbers (glibc ``malloc.h``).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: Largest allocation served from the heap: glibc's maximum mmap threshold on 64-bit.
MMAP_THRESHOLD = 32 * 1024 * 1024
#: Free memory at the top of the heap kept for reuse before it is trimmed.
TRIM_THRESHOLD = 64 * 1024 * 1024

_applied: bool | None = None


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds for this process (once); True if applied."""
    global _applied
    if _applied is None:
        _applied = _mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) and _mallopt(
            M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    return _applied


def _mallopt(param: int, value: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return mallopt(param, value) == 1
