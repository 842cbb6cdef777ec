"""Memory estimates: refuse up front a request that cannot fit, instead of failing hours later.

:func:`available_memory` is what the system can still give this process (Linux
``MemAvailable``, else the free physical pages, capped by a container's cgroup limit).
The estimates below are measured peaks, rounded up; they only need to be right within a
factor of about two, since they exist to catch requests that are off by orders of magnitude.
"""

from __future__ import annotations

import os
from pathlib import Path

from elpagen.errors import InputError, UserError

#: Bytes a sample holds while :meth:`elpagen.generator.Generator.sample` collects it: the
#: chunks of valid codes (int32 for a grid below 2**31 points) plus their concatenation.
SAMPLE_BYTES = 8
#: Working memory per proposal of one sampling round (the marginal sampler's (n, n_sites)
#: uniforms and indices dominate); a round asks for at most :data:`MAX_ROUND` proposals.
PROPOSAL_BYTES = 100
MAX_ROUND = 4_000_000
#: Peak bytes per row of :func:`elpagen.io.write_samples` (symbols, one string per row and
#: the joined text; measured at 110 to 125).
CSV_BYTES = 128

_UNLIMITED = 1 << 60  # cgroup v1 writes "no limit" as a huge number


class MemoryLimitError(InputError):
    """A request whose estimated memory exceeds what is available."""


class OutOfMemoryError(UserError, MemoryError):
    """The system ran out of memory during a run (still a ``MemoryError`` for callers)."""


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _sysconf_available() -> int | None:
    try:
        pages, size = os.sysconf("SC_AVPHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    return pages * size if pages > 0 and size > 0 else None


def _cgroup_available() -> int | None:
    """Limit minus usage of this container's memory cgroup (v2, then v1); None if unlimited."""
    root = Path("/sys/fs/cgroup")
    for limit_file, usage_file in (
        (root / "memory.max", root / "memory.current"),
        (root / "memory" / "memory.limit_in_bytes", root / "memory" / "memory.usage_in_bytes"),
    ):
        try:
            limit_text = limit_file.read_text().strip()
            if limit_text == "max":
                continue
            limit = int(limit_text)
            if limit >= _UNLIMITED:
                continue
            return max(limit - int(usage_file.read_text().strip()), 0)
        except (OSError, ValueError):
            continue
    return None


def available_memory() -> int | None:
    """Bytes of memory this process can still allocate, or None when it cannot be told."""
    found = [v for v in (_meminfo_available() or _sysconf_available(), _cgroup_available())
             if v is not None]
    return min(found) if found else None


def sampling_bytes(n: int) -> int:
    """Estimated peak bytes of drawing ``n`` valid samples with ``Generator.sample``."""
    return SAMPLE_BYTES * n + PROPOSAL_BYTES * min(max(n, 1024), MAX_ROUND)


def samples_file_bytes(n: int) -> int:
    """Estimated peak bytes of drawing ``n`` samples and writing them as a CSV file."""
    return sampling_bytes(n) + CSV_BYTES * n


def format_bytes(n: float) -> str:
    """Bytes in binary units: ``1.5 GiB``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def check_fits(needed: int, what: str, fix: str) -> None:
    """Raise :class:`MemoryLimitError` when ``needed`` bytes exceed the available memory.

    ``what`` names the request ("10,000 samples"), ``fix`` what to do instead. Nothing is
    refused when the available memory cannot be told.
    """
    avail = available_memory()
    if avail is not None and needed > avail:
        raise MemoryLimitError(
            f"{what} needs about {format_bytes(needed)} of memory, more than the "
            f"{format_bytes(avail)} available; {fix}"
        )
