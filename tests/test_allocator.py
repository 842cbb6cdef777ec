"""glibc malloc settings (elpagen.allocator): applied at run time, over Dask's environment."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from elpagen import allocator

GLIBC = sys.platform.startswith("linux") and os.confstr("CS_GNU_LIBC_VERSION") is not None

_PROBE = """
import ctypes, sys
from elpagen import allocator, threads
threads.configure(1)
print(allocator.keep_freed_memory())
# mallinfo2's hblks counts the blocks glibc serves by mmap: a 4 MiB block adds one
# unless the mmap threshold was raised above it.
class MI(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
                 "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MI
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
before = libc.mallinfo2().hblks
p = libc.malloc(4 << 20)
print(libc.mallinfo2().hblks - before)
libc.free(p)
"""


@pytest.mark.skipif(not GLIBC, reason="glibc only")
def test_thresholds_override_dasks_environment():
    # Dask's workers start with MALLOC_TRIM_THRESHOLD_=65536, which freezes the mmap
    # threshold at 128 KiB: a 4 MiB block is then mmapped (one more hblk). After
    # threads.configure (every computing process calls it) it comes from the heap.
    env = dict(os.environ, MALLOC_TRIM_THRESHOLD_="65536")
    base = subprocess.run([sys.executable, "-c", _PROBE.replace("threads.configure(1)", "")
                           .replace("print(allocator.keep_freed_memory())", "print(None)")],
                          env=env, capture_output=True, text=True, check=True)
    assert base.stdout.split() == ["None", "1"]
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True,
                         text=True, check=True)
    assert out.stdout.split() == ["True", "0"]


def test_keep_freed_memory_is_idempotent():
    first = allocator.keep_freed_memory()
    assert allocator.keep_freed_memory() is first
    assert first is GLIBC
