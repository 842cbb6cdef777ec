"""Checks of ``elpagen study --workers N | --scheduler ADDRESS`` before anything starts.

Called by :func:`elpagen.study.distributed.executor`, so a refused option leaves no study
directory behind and a dead scheduler is found in a second, not after the reference
energies are built (docs/limits.md):

* ``--workers N`` is capped at what this machine can run: one single-threaded worker per
  core of the affinity mask and per :data:`WORKER_MEMORY` of available memory;
* ``--scheduler ADDRESS`` must be a Dask address; over TCP its host must resolve, its port
  take a connection (a closed port fails at once) and the server speak first, as Dask's
  do, within the connect timeout (Dask's own handshake has no timeout: a silent port
  would hang).
"""

from __future__ import annotations

import warnings

from elpagen.study.plan import StudyError

#: The most seconds ``--connect-timeout`` may ask for.
MAX_CONNECT_TIMEOUT = 3600
#: Memory one local worker process needs (torch, the training set, the reference energies,
#: a fit and its samples): ``--workers`` is capped at the cores and at memory / this.
WORKER_MEMORY = 1 << 30
#: Dask's transports; those over TCP are checked (host, port, a connection) at once.
TCP_SCHEMES = ("tcp", "tls", "ws", "wss")
SCHEMES = (*TCP_SCHEMES, "inproc", "ucx")


def check_timeout(timeout: float) -> float:
    """``--connect-timeout``: more than 0 and at most :data:`MAX_CONNECT_TIMEOUT` seconds."""
    t = float(timeout)
    if not 0 < t <= MAX_CONNECT_TIMEOUT:  # NaN too
        raise StudyError(f"--connect-timeout must be more than 0 and at most "
                         f"{MAX_CONNECT_TIMEOUT} seconds, got {t:g}")
    return t


def max_workers() -> tuple[int, str]:
    """The most local workers this machine can run, and what bounds it (for messages)."""
    from elpagen import memory, threads

    cores, mem = threads.available_cores(), memory.available_memory()
    most = max(1, min(cores, mem // WORKER_MEMORY if mem else cores))
    have = f"{cores} core(s)" + (f", {memory.format_bytes(mem)} of memory free" if mem else "")
    return most, (f"{have}; one core and {memory.format_bytes(WORKER_MEMORY)} per worker")


def cap_workers(workers: int) -> int:
    """``workers``, or the most this machine can run, with a one-line warning."""
    most, why = max_workers()
    if workers <= most:
        return workers
    warnings.warn(f"--workers {workers} is more than this machine can run ({why}): "
                  f"using {most}", stacklevel=3)
    return most


def check_scheduler(address: str, timeout: float) -> None:
    """A one-line :class:`StudyError` unless ``address`` answers as a Dask scheduler."""
    import socket

    from distributed.comm.addressing import parse_address, parse_host_port

    def bad(why: str) -> StudyError:
        return StudyError(f"--scheduler {address!r} {why}; give the address of a Dask "
                          "scheduler, e.g. tcp://HOST:8786")

    scheme, loc = parse_address(address)
    if scheme not in SCHEMES:
        raise bad(f"has an unknown protocol {scheme}:// (Dask knows {', '.join(SCHEMES)})")
    if scheme not in TCP_SCHEMES:
        return
    try:
        host, port = parse_host_port(loc)
    except ValueError:
        raise bad("is not PROTOCOL://HOST:PORT") from None
    if not host or any(c.isspace() for c in host):
        raise bad("has no valid host name")
    if not 0 < port < 65536:
        raise bad(f"has the port {port}, out of range (1-65535)")
    unreachable = f"cannot reach the Dask scheduler {address}"
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        why = getattr(e, "strerror", None) or type(e).__name__
        raise StudyError(f"{unreachable}: unknown host {host} ({why}); check the address") \
            from None
    try:
        # Over plain TCP a Dask server sends its handshake as soon as it accepts; Dask's
        # Client would wait for it for ever (no timeout there): a port that takes the
        # connection and says nothing (not a Dask scheduler, or a hung one) fails here.
        with socket.create_connection((host, port), timeout=timeout) as sock:
            answered = scheme != "tcp" or bool(sock.recv(1))
    except ConnectionRefusedError:
        raise StudyError(f"{unreachable}: nothing listens on port {port} of {host}; start one "
                         "with `dask scheduler` or check the address") from None
    except OSError as e:  # a timeout, no route to the host...
        why = "no answer" if isinstance(e, TimeoutError) else (e.strerror or str(e))
        raise StudyError(f"{unreachable} ({why} within {timeout:g} s; a slow cluster? see "
                         "--connect-timeout); check the address") from None
    if not answered:
        raise StudyError(f"{unreachable}: the server at port {port} closed the connection "
                         "without a word (not a Dask scheduler?); check the address")
