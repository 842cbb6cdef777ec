"""Reading and writing sample files (CSV with header A,B,C,D) safely."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from elpagen import space
from elpagen.errors import InputError


class OutputError(InputError):
    """An output path that cannot or must not be written."""


def to_jsonable(obj: Any) -> Any:
    """A JSON-ready copy: numpy scalars and arrays to Python, paths to text, tuples to
    lists, mapping keys to text, and NaN or infinity to None (strict JSON has neither)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in (sorted(obj) if isinstance(obj, (set, frozenset))
                                         else obj)]
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):  # numpy array/scalar
        return to_jsonable(obj.tolist())
    return obj


def dumps(obj: Any, indent: int | None = 2, **kw: Any) -> str:
    """Strict JSON text of nested numpy/Python data: the one JSON writer of elpagen."""
    return json.dumps(to_jsonable(obj), indent=indent, allow_nan=False, **kw)


def check_output(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Validate an output file path before any work is done."""
    p = Path(path)
    if p.exists() and p.is_dir():
        raise OutputError(f"{p} is a directory; give a file name for -o")
    if p.exists() and not p.is_file():
        # A device or FIFO (e.g. /dev/null) would be replaced by the atomic rename.
        raise OutputError(f"{p} is not a regular file; give a file name for -o")
    if p.exists() and not overwrite:
        raise OutputError(f"{p} already exists; choose another -o or pass --overwrite")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"cannot write {p}: directory {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"cannot write {p}: directory {parent} is not writable")
    return p


def check_output_dir(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Validate an output directory before any work (training must not be lost at the end).

    It may exist (empty, or anything with ``overwrite``) or not yet; then the nearest
    existing parent must be a writable directory, where it will be created.
    """
    p = Path(path)
    if p.exists():
        if not p.is_dir():
            raise OutputError(f"{p} exists and is not a directory; choose another -o")
        if any(p.iterdir()) and not overwrite:
            raise OutputError(f"{p} exists and is not empty; choose another -o or pass --overwrite")
        if not os.access(p, os.W_OK | os.X_OK):
            raise OutputError(f"cannot write into {p}: permission denied; choose another -o")
        return p
    parent = p.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(f"cannot create {p}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot create {p}: directory {parent} is not writable")
    return p


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object] | bytes) -> None:
    """Write ``path`` through a temp file in the same directory and an atomic rename.

    ``write`` is the bytes to write or a function that writes to the open binary file.
    A crash or Ctrl-C leaves the old file (if any) untouched and no temp file behind.
    The file gets the usual permissions (0666 minus the umask; mkstemp would give 0600).
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            if isinstance(write, bytes):
                f.write(write)
            else:
                write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """:func:`atomic_write` of UTF-8 text."""
    atomic_write(path, text.encode("utf-8"))


def write_samples(path: str | os.PathLike, codes: np.ndarray, overwrite: bool = False) -> Path:
    """Write compositions as CSV rows A,B,C,D (element symbols), in the order given."""
    p = check_output(path, overwrite)
    sym = space.indices_to_symbols(space.decode(codes))
    buf = io.StringIO()
    buf.write("A,B,C,D\n")
    # One join per row is fine up to millions of rows; this is I/O, not a hot path.
    buf.write("\n".join(",".join(r) for r in sym))
    if len(sym):
        buf.write("\n")
    atomic_write_text(p, buf.getvalue())
    return p


class SamplesFileError(InputError):
    """An unreadable samples file."""


def read_samples(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Read a samples CSV (header A,B,C,D). Returns (valid codes in order, number of rows).

    Rows with unknown symbols, a wrong field count or repeated elements are invalid:
    counted, not fatal.
    """
    p = Path(path)
    if not p.is_file():
        raise SamplesFileError(f"samples file not found: {p}")
    try:
        # utf-8-sig: accept the byte-order mark a spreadsheet writes.
        with open(p, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                raise SamplesFileError(f"{p} is empty; expected a header line A,B,C,D")
            if [h.strip() for h in header[:4]] != list(space.SITES):
                raise SamplesFileError(
                    f"{p}: line 1 must be the header A,B,C,D (got {','.join(header)[:60]!r})"
                )
            rows = [r for r in reader if r and any(x.strip() for x in r)]
    except UnicodeDecodeError:
        raise SamplesFileError(f"{p} is not a UTF-8 text CSV file") from None
    lut = space.SYMBOL_TO_INDEX
    el = np.array(
        [[lut.get(x.strip(), -1) for x in r[:4]] if len(r) >= 4 else [-1] * 4 for r in rows],
        dtype=np.int64,
    ).reshape(-1, 4)
    valid = (el >= 0).all(axis=1) & space.is_distinct(el)
    return space.encode(el[valid]), len(rows)
