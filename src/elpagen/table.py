"""A space's data as a table: one row per composition, named columns (docs/spaces.md).

The perovskite table (Emery and Wolverton 2017) and the data of a space file are read
here: element symbols in one column per site, a formation energy, optionally an energy
above the convex hull, a marker for missing values. Every row is checked against the
space; a bad one is one line naming the file, the line and the fix (:class:`TableError`).
Rows with a missing value are kept out (they are no composition with a value).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from elpagen.data import sha256_of
from elpagen.errors import InputError
from elpagen.space import CompositionSpace, UnknownElementError

#: The largest data file read: a table of millions of rows is about 100 MB of text.
MAX_TABLE_BYTES = 2 << 30


class TableError(InputError):
    """A data table that does not fit its space; the message names the row and the fix."""


@dataclass(frozen=True)
class SpaceTable:
    """The rows of a table that have values: codes, formation energies and (where the
    table has them) energies above the hull, all in eV/atom."""

    space: CompositionSpace
    codes: np.ndarray  # (n,) composition codes, ascending
    energies: np.ndarray  # (n,) float64
    stability: np.ndarray | None  # (n,) float64, or None
    sha256: str
    path: str
    n_missing: int  # rows without a value, left out

    def __len__(self) -> int:
        return len(self.codes)


def file_sha256(path: Path) -> str:
    """The sha256 of a file (read in blocks)."""
    return sha256_of(path)


def read_table(path: str | os.PathLike, space: CompositionSpace, columns: Mapping[str, str],
               missing: str = "", outside: str = "error") -> SpaceTable:
    """Read a CSV of ``space`` with ``columns`` (site name -> column, ``energy``, optionally
    ``stability``); ``missing`` is the text of a missing value (such rows are left out);
    ``outside="skip"`` leaves out rows whose elements are not on their sites (else they
    are an error)."""
    p = Path(path).expanduser()
    if not p.exists():
        raise TableError(f"data file not found: {p}; pass --data PATH or fix [data] path")
    if not p.is_file():
        raise TableError(f"{p} is not a regular file; give the CSV data file")
    if p.stat().st_size > MAX_TABLE_BYTES:
        raise TableError(f"{p}: {p.stat().st_size:,} bytes, more than the {MAX_TABLE_BYTES:,} "
                         "a data table may have")
    wanted = [columns[s] for s in space.site_names] + [columns["energy"]]
    has_stability = "stability" in columns
    if has_stability:
        wanted.append(columns["stability"])
    symbols: list[list[str]] = []
    values: list[list[float]] = []
    lines: list[int] = []
    n_missing = 0
    try:
        with open(p, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = [h.strip() for h in next(reader, [])]
            absent = [c for c in wanted if c not in header]
            if absent:
                raise TableError(f"{p}: line 1: no column {absent[0]!r} (the header has "
                                 f"{', '.join(header[:12]) or 'nothing'}); fix the column "
                                 "names in the space's [data] columns")
            idx = [header.index(c) for c in wanted]
            n_sites = space.n_sites
            for line_no, row in enumerate(reader, start=2):
                if not row:
                    continue
                if len(row) < len(header):
                    raise TableError(f"{p}: line {line_no}: {len(row)} fields, the header "
                                     f"has {len(header)}")
                cells = [row[i].strip() for i in idx]
                if missing and missing in cells[n_sites:]:
                    n_missing += 1
                    continue
                try:
                    nums = [float(v) for v in cells[n_sites:]]
                except ValueError:
                    bad = next(v for v in cells[n_sites:] if not _is_float(v))
                    raise TableError(f"{p}: line {line_no}: {bad!r} is not a number"
                                     + (f" (missing values are written {missing!r})"
                                        if missing else "")) from None
                if not all(np.isfinite(nums)):
                    raise TableError(f"{p}: line {line_no}: a value is not finite")
                symbols.append(cells[:n_sites])
                values.append(nums)
                lines.append(line_no)
    except UnicodeDecodeError:
        raise TableError(f"{p}: not a UTF-8 text CSV file") from None
    if outside == "skip":
        luts = [set(site.elements) for site in space.sites]
        inside = [all(e in lut for e, lut in zip(row, luts, strict=True)) for row in symbols]
        symbols = [r for r, ok in zip(symbols, inside, strict=True) if ok]
        values = [v for v, ok in zip(values, inside, strict=True) if ok]
        lines = [n for n, ok in zip(lines, inside, strict=True) if ok]
    if not symbols:
        raise TableError(f"{p}: no data rows with values in the space {space.name}")
    try:
        el = space.symbols_to_indices(np.array(symbols, dtype=object))
    except UnknownElementError as e:
        # Name the row: find the first symbol outside its site.
        for row, line_no in zip(symbols, lines, strict=True):
            try:
                space.symbols_to_indices(np.array([row], dtype=object))
            except UnknownElementError:
                raise TableError(f"{p}: line {line_no}: {e}; the row is outside the space "
                                 f"{space.name}") from None
        raise
    ok = space.is_valid(el)
    if outside == "skip" and not ok.all():
        keep = np.flatnonzero(ok)
        el, ok = el[keep], ok[keep]
        values = [values[i] for i in keep]
        lines = [lines[i] for i in keep]
        symbols = [symbols[i] for i in keep]
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        raise TableError(f"{p}: line {lines[i]}: {'-'.join(symbols[i])} breaks the space's "
                         "rule (its sites must hold different elements); remove the row or "
                         "set distinct = false")
    codes = space.encode(el)
    order = np.argsort(codes, kind="stable")
    codes = codes[order]
    dup = np.flatnonzero(codes[1:] == codes[:-1])
    if dup.size:
        a, b = sorted((lines[order[dup[0]]], lines[order[dup[0] + 1]]))
        raise TableError(f"{p}: line {b} repeats the composition of line {a} "
                         f"({space.formula(codes[dup[0]:dup[0] + 1])[0]}); keep one row each")
    vals = np.array(values, dtype=np.float64)[order]
    return SpaceTable(space=space, codes=codes, energies=vals[:, 0],
                      stability=vals[:, 1] if has_stability else None, sha256=file_sha256(p),
                      path=str(p), n_missing=n_missing)


def _is_float(v: str) -> bool:
    try:
        float(v)
    except ValueError:
        return False
    return True
