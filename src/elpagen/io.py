"""Reading and writing sample files (CSV whose header is the space's site names) safely."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import re
import sys
import tempfile
from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import numpy as np

from elpagen.errors import InputError
from elpagen.space import CompositionSpace

#: Energy classes: ten equal-width bins (docs/method.md section 3). Defined on this floor so
#: a samples file's ``target_class`` cell is checked here; :data:`elpagen.data.N_CLASSES`.
N_CLASSES = 10


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


def write_samples(path: str | os.PathLike, codes: np.ndarray, overwrite: bool = False, *,
                  space: CompositionSpace) -> Path:
    """Write compositions of ``space`` as CSV rows of element symbols, one column per site
    (header: the site names), in the order given."""
    p = check_output(path, overwrite)
    sym = space.indices_to_symbols(space.decode(codes))
    buf = io.StringIO()
    buf.write(",".join(space.site_names) + "\n")
    # One join per row is fine up to millions of rows; this is I/O, not a hot path.
    buf.write("\n".join(",".join(r) for r in sym))
    if len(sym):
        buf.write("\n")
    atomic_write_text(p, buf.getvalue())
    return p


def write_samples_to(stream: TextIO, codes: np.ndarray, chunk: int = 65_536, *,
                     space: CompositionSpace) -> int:
    """Write compositions of ``space`` as CSV text (header: the site names) to an open text
    stream, such as standard output, ``chunk`` rows at a time (memory flat in the number
    of rows). Returns the number of rows written."""
    codes = np.asarray(codes)
    stream.write(",".join(space.site_names) + "\n")
    for i in range(0, len(codes), chunk):
        sym = space.indices_to_symbols(space.decode(codes[i:i + chunk]))
        stream.write("".join(",".join(r) + "\n" for r in sym))
    stream.flush()
    return len(codes)


def binary_stdout() -> BinaryIO:
    """Standard output as a binary stream (text written to ``sys.stdout`` before is
    flushed first, so the two keep their order)."""
    sys.stdout.flush()
    buf = getattr(sys.stdout, "buffer", None)
    return buf if buf is not None else _TextAsBinary(sys.stdout)


class _TextAsBinary:
    """A binary ``write`` onto a text stream without a ``buffer`` (e.g. a StringIO)."""

    def __init__(self, text: TextIO) -> None:
        self._text = text

    def write(self, b: bytes) -> int:
        self._text.write(b.decode("utf-8"))
        return len(b)

    def flush(self) -> None:
        self._text.flush()


def quiet_broken_pipe() -> None:
    """After a reader closed our standard output (``| head``): point stdout at
    /dev/null, so that the interpreter's final flush does not print an error."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # not a real file descriptor (tests)
        pass


class SamplesFileError(InputError):
    """An unreadable samples file."""


#: ``-o -``: standard output instead of a file.
STDOUT = "-"


def is_stdout(path: str | os.PathLike | None) -> bool:
    """True for ``-``, the usual name of standard output."""
    return path is not None and os.fspath(path) == STDOUT


@dataclass
class SampleScan:
    """A samples CSV read once: its valid rows, and what was skipped and where.

    ``codes``: the valid rows' composition codes, in file order; ``lines``: the line where
    each valid row starts (1 = the header; a quoted field may span several lines, blank
    lines count); ``extra``: the requested columns of the valid rows (stripped text, ""
    where missing); ``invalid``: skipped rows per reason; ``first_invalid_line``: where
    the first skipped row starts; ``examples``: the first :data:`N_EXAMPLES` skipped rows
    as (line, what is wrong: the unknown symbol and its site, the repeated element).
    """

    codes: np.ndarray
    n_rows: int
    lines: np.ndarray
    extra: dict[str, list[str]] = field(default_factory=dict)
    invalid: dict[str, int] = field(default_factory=dict)
    first_invalid_line: int | None = None
    examples: list[tuple[int, str]] = field(default_factory=list)

    @property
    def n_invalid(self) -> int:
        return sum(self.invalid.values())


def _builtin_header(cells: Sequence[str]) -> CompositionSpace | None:
    """The built-in space with the most sites whose site names begin ``cells`` (a samples
    file's stripped header: its own space, when it is a built-in one), or None."""
    from elpagen import spaces

    fits = [o for o in spaces.BUILTIN.values() if cells[:o.n_sites] == list(o.site_names)]
    return max(fits, key=lambda o: o.n_sites, default=None)


def scan_samples(path: str | os.PathLike, columns: Sequence[str] = (), *,
                 space: CompositionSpace) -> SampleScan:
    """Read a samples CSV of ``space`` (header: its site names) in one pass; see
    :class:`SampleScan`.

    Rows with an unknown symbol (for its site), a repeated element (in a space whose
    elements must be distinct) or fewer fields than sites are invalid: counted with their
    reason, not fatal. ``columns`` (matched case-insensitively against
    the header) are kept for the valid rows. Memory: two int64 per valid row, plus one
    reference per row and column (equal texts are shared).
    """
    p = Path(path)
    if not p.is_file():
        raise SamplesFileError(f"samples file not found: {p}")
    luts = [{e: i for i, e in enumerate(site.elements)} for site in space.sites]
    n_sites = space.n_sites
    powers = [int(x) for x in space.radix_powers]
    sites = ",".join(space.site_names)
    codes, lines = array("q"), array("q")
    invalid: dict[str, int] = {}
    examples: list[tuple[int, str]] = []
    first_invalid = None
    n_rows = 0
    try:
        # utf-8-sig: accept the byte-order mark a spreadsheet writes.
        with open(p, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                raise SamplesFileError(f"{p} is empty; expected a header line {sites}")
            cells = [h.strip() for h in header]
            own = _builtin_header(cells)
            if cells[:n_sites] != list(space.site_names):
                hint = (f": the {own.name} space's header; pass --space {own.name}"
                        if own is not None and len(header) == own.n_sites else "")
                raise SamplesFileError(
                    f"{p}: line 1 must be the header {sites} of the {space.name} space "
                    f"(got {','.join(header)[:60]!r}{hint})"
                )
            if own is not None and own.n_sites > n_sites:  # A,B,C,D read as A,B
                raise SamplesFileError(
                    f"{p}: the header {','.join(own.site_names)} names the sites of the "
                    f"{own.name} space, not the {space.name} space's ({sites}); pass "
                    f"--space {own.name}, or write a file of the {space.name} space")
            names = [c.lower() for c in cells]
            wanted = {c: names.index(c.lower()) for c in columns if c.lower() in names}
            extra: dict[str, list[str]] = {c: [] for c in wanted}
            shared: dict[str, str] = {}
            end = reader.line_num  # the last line read so far
            for r in reader:
                start, end = end + 1, reader.line_num
                if not r or not any(x.strip() for x in r):
                    continue
                n_rows += 1
                reason = None
                if len(r) < n_sites:
                    reason = f"fewer than {n_sites} fields"
                else:
                    sym = [x.strip() for x in r[:n_sites]]
                    el = [lut.get(x, -1) for lut, x in zip(luts, sym, strict=True)]
                    if min(el) < 0:
                        reason = "unknown element"
                    elif space.distinct and len(set(sym)) < n_sites:
                        reason = "repeated element"
                if reason is not None:
                    invalid[reason] = invalid.get(reason, 0) + 1
                    if first_invalid is None:
                        first_invalid = start
                    if len(examples) < N_EXAMPLES:
                        examples.append((start, _what_is_wrong(reason, r, space)))
                    continue
                codes.append(sum(e * w for e, w in zip(el, powers, strict=True)))
                lines.append(start)
                for c, j in wanted.items():
                    v = r[j].strip() if j < len(r) else ""
                    extra[c].append(shared.setdefault(v, v))
    except UnicodeDecodeError:
        raise SamplesFileError(f"{p} is not a UTF-8 text CSV file") from None
    except csv.Error as e:
        raise SamplesFileError(f"{p}: not a readable CSV file ({e})") from None
    return SampleScan(np.frombuffer(codes, dtype=np.int64).copy(), n_rows,
                      np.frombuffer(lines, dtype=np.int64).copy(), extra, invalid,
                      first_invalid, examples)


#: How many skipped rows of a samples CSV a warning names.
N_EXAMPLES = 3


def _what_is_wrong(reason: str, row: Sequence[str], space: CompositionSpace) -> str:
    """A skipped row's fault in a few words: which symbol is unknown at which site (as
    the file has it, control characters and all made safe by ``repr``), which element
    repeats, how many fields it has."""
    if reason == "unknown element":
        bad = [(name, x.strip()) for name, site, x in zip(space.site_names, space.sites, row,
                                                           strict=False)
               if x.strip() not in site.elements]
        return "; ".join(f"unknown symbol {x[:20]!r} at site {name}" for name, x in bad[:2])
    if reason == "repeated element":
        sym = [x.strip() for x in row[:space.n_sites]]
        return f"{next(x for x in sym if sym.count(x) > 1)} repeated"
    return f"{len(row)} field{'s' if len(row) != 1 else ''}, {space.n_sites} needed"


def read_samples(path: str | os.PathLike, *, space: CompositionSpace) -> tuple[np.ndarray, int]:
    """Read a samples CSV of ``space`` (header: its site names). Returns (valid codes in
    order, as ``space.code_dtype``; number of rows).

    Rows with unknown symbols, a wrong field count or repeated elements are invalid:
    counted, not fatal (:func:`scan_samples` says which and where).
    """
    scan = scan_samples(path, space=space)
    return scan.codes.astype(space.code_dtype), scan.n_rows


def invalid_rows_warning(scan: SampleScan) -> str | None:
    """One line naming the rows a samples CSV had that are not compositions, or None."""
    if not scan.n_invalid:
        return None
    why = ", ".join(f"{n:,} {k}" for k, n in sorted(scan.invalid.items(), key=lambda kv: -kv[1]))
    n = scan.n_invalid
    rows = "; ".join(f"line {line}: {what}" for line, what in scan.examples)
    more = f"; and {n - len(scan.examples):,} more" if n > len(scan.examples) else ""
    return (f"skipped {n:,} of {scan.n_rows:,} rows that are not compositions of the space "
            f"({why}; first at line {scan.first_invalid_line}): {rows}{more}")


# --------------------------------------------------------------------------- metadata

#: Columns (and arguments) that must hold integers.
INT_COLUMNS = ("seed", "target_class")
#: The longest text a samples CSV gives an export (longer ones are cut).
MAX_TEXT = 100
#: What a text may hold in an export; each run of anything else becomes one "_".
SAFE_CHARS = "ASCII letters, digits and ._+-/:@"
_UNSAFE = re.compile(r"[^A-Za-z0-9._+\-/:@]+")
_INT = re.compile(r"[+-]?[0-9]{1,19}")


class MetadataError(InputError):
    """A samples CSV metadata cell that cannot be written (a seed that is no integer...)."""


def clean_text(value: object) -> str:
    """The form in which a user's text is written to every export format.

    Leading and trailing spaces are dropped; each run of characters other than ASCII
    letters, digits and ``._+-/:@`` (spaces, quotes, ``=``, ``#``, newlines, control
    and non-ASCII characters) becomes one ``_``; the result is cut at :data:`MAX_TEXT`
    characters. ``"x\\n_cell_length_a 99.0"`` becomes ``"x__cell_length_a_99.0"``.
    """
    return _UNSAFE.sub("_", str(value).strip())[:MAX_TEXT]


def _int_cell(column: str, v: str, where: str = "") -> int:
    """An integer metadata cell (``seed``, ``target_class``), or :class:`MetadataError`."""
    ok = _INT.fullmatch(v) is not None and abs(int(v)) < 2**63
    if ok and column == "target_class":
        ok = 1 <= int(v) <= N_CLASSES
    if not ok:
        want = f"an integer from 1 to {N_CLASSES}" if column == "target_class" else \
            "an integer (below 2**63 in size)"
        raise MetadataError(f"{where}{column} must be {want}, got {v[:40]!r}; fix the cell "
                            f"or leave it empty")
    return int(v)


def metadata_value(column: str, v: str, where: str = "") -> Any:
    """A samples CSV metadata cell as an export writes it: None (empty), an int (seed,
    target_class; :class:`MetadataError` if it is none) or :func:`clean_text`."""
    v = v.strip()
    if v == "":
        return None
    if column in INT_COLUMNS:
        return _int_cell(column, v, where)
    return clean_text(v)


def sample_warnings(scan: SampleScan, path: str | os.PathLike = "") -> list[str]:
    """Check the metadata columns of a scanned samples CSV; return one-line warnings.

    Raises :class:`MetadataError` (naming the line) for a ``seed`` or ``target_class``
    cell that is not an integer (a class: 1 to 10). Warns about rows that are not
    compositions (count, reasons, first line), about repeats of a composition whose
    metadata differ from its first row (those values are not written: the first row's
    are), and about texts written sanitised (:func:`clean_text`).
    """
    notes: list[str] = []
    skipped = invalid_rows_warning(scan)
    if skipped:
        notes.append(skipped)
    prefix = f"{path}: " if str(path) else ""
    values: dict[str, list[Any]] = {}
    for k, col in scan.extra.items():
        memo: dict[str, Any] = {}
        out = []
        for i, v in enumerate(col):
            if v not in memo:
                memo[v] = metadata_value(k, v, f"{prefix}line {scan.lines[i]}: ")
            out.append(memo[v])
        values[k] = out
        bad = {v for v in memo if v and clean_text(v) != v}
        changed = [i for i, v in enumerate(col) if v in bad] if bad else []
        if changed:
            n = len(changed)
            notes.append(
                f"{n:,} {k} value{'s' if n > 1 else ''} held characters other than "
                f"{SAFE_CHARS} or more than {MAX_TEXT} characters (first at line "
                f"{scan.lines[changed[0]]}); written sanitised: each run of other "
                f"characters as one _, cut at {MAX_TEXT}")
    if values and len(scan.codes):
        _, first, inverse = np.unique(scan.codes, return_index=True, return_inverse=True)
        firsts = first[inverse.ravel()].tolist()
        n, i = 0, -1
        for r in np.flatnonzero(np.asarray(firsts) != np.arange(len(firsts))).tolist():
            if any(col[r] != col[firsts[r]] for col in values.values()):
                n, i = n + 1, (i if n else r)
        if n:
            notes.append(
                f"{n:,} row{'s' if n > 1 else ''} repeat{'' if n > 1 else 's'} an earlier "
                f"composition with other {'/'.join(values)} values (first: line "
                f"{scan.lines[i]} repeats line {scan.lines[firsts[i]]}); each composition "
                "is written once, with its first row's values")
    return notes
