"""Progress on stderr, one wrapper for every long command (sampling, training, the
reference build, the study, the campaign).

On a terminal a tqdm bar, as before; when stderr is not a terminal (a log file, a pipe,
CI) plain lines instead, never a carriage return: one when a counter has run for
:data:`LINE_INTERVAL` seconds and every interval after that, and one when it ends if any
was printed. :func:`configure` turns all of it off for ``-q`` and ``--json``.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

#: Seconds between two plain progress lines of one counter.
LINE_INTERVAL = 10.0

_enabled = True


def configure(enabled: bool) -> None:
    """Turn every progress display of this process on or off (``-q``/``--json``: off)."""
    global _enabled
    _enabled = enabled


def enabled() -> bool:
    """Whether progress is shown at all (see :func:`configure`)."""
    return _enabled


def terminal() -> bool:
    """Whether stderr is a terminal wide enough for bars (a pseudo-terminal of zero columns,
    as some CI runners give, gets lines)."""
    try:
        return sys.stderr.isatty() and os.get_terminal_size(sys.stderr.fileno()).columns >= 40
    except (OSError, ValueError, AttributeError):
        return False


def format_duration(seconds: float) -> str:
    """A rounded duration for a progress line: 40 s, 3.5 min, 1.2 h."""
    if seconds < 90:
        return f"{max(seconds, 1):.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def line(msg: str) -> None:
    """One plain status line on stderr (nothing when progress is off)."""
    if _enabled:
        print(msg, file=sys.stderr, flush=True)


class Bar:
    """A counter towards ``total``: a tqdm bar on a terminal, else plain lines (see the
    module). ``each_status``: a line at every change of :meth:`status` too (named stages)."""

    def __init__(self, total: int | None, desc: str, unit: str = "it", *,
                 leave: bool = False, interval: float | None = None, each_status: bool = False,
                 sink: Callable[[str], None] | None = None, tty: bool | None = None,
                 **tqdm_kw: Any) -> None:
        self.total, self.desc, self.unit = total, desc, unit
        self.interval = LINE_INTERVAL if interval is None else interval
        self.each_status = each_status
        self.n = 0
        self.text = ""
        self.sink = sink or line
        self.t0 = self.t_line = time.monotonic()
        self.printed = False
        self.tqdm = None
        if tty if tty is not None else terminal():
            from tqdm.auto import tqdm

            self.tqdm = tqdm(total=total, desc=desc, unit=unit, leave=leave, **tqdm_kw)

    def __enter__(self) -> Bar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.tqdm is not None:
            self.tqdm.update(n)
        else:
            self._maybe_line()

    def status(self, text: str) -> None:
        """What the counter is doing now (a stage, a parameter): the bar's postfix."""
        changed = text != self.text
        self.text = text
        if self.tqdm is not None:
            self.tqdm.set_postfix_str(text)
        elif changed and self.each_status:
            self._line()
        else:
            self._maybe_line()

    def close(self) -> None:
        if self.tqdm is not None:
            self.tqdm.close()
            self.tqdm = None
        elif self.printed and self.text != "done":  # a last line, once
            self.text = "done"
            self._line()

    def _maybe_line(self) -> None:
        now = time.monotonic()
        if now - self.t_line >= self.interval:
            self._line()

    def _line(self) -> None:
        self.t_line = now = time.monotonic()
        self.printed = True
        unit = self.unit if self.unit.endswith("s") else self.unit + "s"  # tqdm's "step"
        count = f"{self.n:,}" + (f"/{self.total:,}" if self.total else "") + f" {unit}"
        if self.total:
            count += f" ({100 * self.n / self.total:.0f}%)"
        spent = now - self.t0
        text = f"{self.desc}: {count}, {format_duration(spent)} so far"
        if self.total and 0 < self.n < self.total and self.text != "done":
            text += f", about {format_duration(spent * (self.total - self.n) / self.n)} left"
        if self.text:
            text += f" [{self.text}]"
        self.sink(text)


class Silent(Bar):
    """A :class:`Bar` that shows nothing (progress off)."""

    def __init__(self) -> None:  # no tqdm, no clock
        self.n = 0

    def update(self, n: int = 1) -> None:
        self.n += n

    def status(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


def bar(total: int | None, desc: str, unit: str = "it", enabled: bool = True,
        **kw: Any) -> Bar:
    """A :class:`Bar`, or a :class:`Silent` one when ``enabled`` is false or progress is
    off (:func:`configure`)."""
    return Bar(total, desc, unit, **kw) if enabled and _enabled else Silent()


def steps(items: Iterable[T], total: int | None, desc: str, unit: str = "it",
          enabled: bool = True, **kw: Any) -> Iterator[T]:
    """``items``, counted by a :func:`bar` (just ``items`` when progress is off)."""
    if not (enabled and _enabled):
        return iter(items)
    return _counted(items, Bar(total, desc, unit, **kw))


def _counted(items: Iterable[T], b: Bar) -> Iterator[T]:
    with b:
        for item in items:
            yield item
            b.update(1)
