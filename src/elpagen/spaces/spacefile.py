"""Your own composition space, defined in a TOML file (``--space FILE``; docs/spaces.md).

A space file names the sites with their element lists and multiplicities, the fixed part
of the formula, the validity rule, the data file and its columns, and how the reference
energies are made: ``table`` (the data cover the space: the values are the truth as they
are) or ``krr`` (the data are a sample: the kernel ridge reference is fitted on them, as for
the elpasolites)::

    [space]
    name = "halide-perovskite"
    fixed = "X3"           # optional
    distinct = true         # all sites hold different elements
    symmetries = []         # site permutations giving the same crystal, e.g. [[1, 0, 2]]
    numbering = "iupac"     # period and group numbering: main, iupac or long

    [[sites]]
    name = "A"
    elements = ["Cs", "Rb", "K"]
    multiplicity = 1

    [data]
    path = "my_table.csv"   # relative to the space file
    columns = { A = "A", B = "B", energy = "formation_energy" }
    missing = "-"           # how a missing value is written (such rows are left out)
    outside = "error"       # a row outside the space: error, or skip it

    [reference]
    kind = "table"          # or "krr"

Only the standard library (:mod:`tomllib`) reads it. Every mistake is one line naming the
file, the key and the fix (:class:`SpaceFileError`).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from elpagen.space import NUMBERINGS, CompositionSpace, Site, SpaceError, UnknownElementError

#: Reference kinds: the data as the truth, or a kernel ridge model fitted on them.
REFERENCE_KINDS = ("table", "krr")
#: The largest grid a space may have: a full-space table is one float32 and one int8 per
#: grid point, and the metrics' bincounts 8 bytes per point, so 50 M points are about
#: 650 MB; beyond that a laptop runs out of memory.
MAX_GRID = 50_000_000
#: The largest space file read (a definition, not data).
MAX_FILE_BYTES = 1 << 20


class SpaceFileError(SpaceError):
    """A space file that cannot be read as a composition space."""


@dataclass(frozen=True)
class SpaceData:
    """Where a space's data live and how they become its reference energies."""

    path: Path
    #: Site name -> column of the data file; ``energy`` -> the formation-energy column;
    #: optionally ``stability`` -> energy above the convex hull (eV/atom).
    columns: dict[str, str] = field(default_factory=dict)
    reference: str = "table"
    #: The text the data file writes for a missing value.
    missing: str = ""
    #: A data row outside the space: ``error`` (the default: a typo in an element list
    #: shows at once) or ``skip`` (a space over part of a larger table).
    outside: str = "error"


@dataclass(frozen=True)
class SpaceFile:
    """A space read from a file: the space value and its data."""

    space: CompositionSpace
    data: SpaceData
    source: Path


def _err(path: Path, msg: str) -> SpaceFileError:
    return SpaceFileError(f"{path}: {msg}")


def _table(d: dict, key: str, path: Path) -> dict:
    v = d.get(key)
    if not isinstance(v, dict):
        raise _err(path, f"missing [{key}] table; see docs/spaces.md for a complete example")
    return v


def load(path: str | os.PathLike) -> SpaceFile:
    """Read and check a space file; a :class:`SpaceFileError` names the problem and the fix."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise SpaceFileError(f"space file not found: {p}; give a TOML file (docs/spaces.md) "
                             "or a built-in space name")
    if p.stat().st_size > MAX_FILE_BYTES:
        raise _err(p, f"{p.stat().st_size:,} bytes; a space file is a short definition "
                      f"(at most {MAX_FILE_BYTES:,} bytes): put the data in [data] path")
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise _err(p, f"not a TOML file ({e})") from None
    head = _table(doc, "space", p)
    sites_doc = doc.get("sites")
    if not isinstance(sites_doc, list) or not sites_doc:
        raise _err(p, "no [[sites]]; name at least one site with its elements")
    sites = []
    for i, s in enumerate(sites_doc, start=1):
        if not isinstance(s, dict) or not isinstance(s.get("name"), str) or not s["name"]:
            raise _err(p, f"site {i} has no name; give each [[sites]] a name = \"...\"")
        els = s.get("elements")
        if not isinstance(els, list) or not all(isinstance(e, str) for e in els):
            raise _err(p, f"site {s['name']}: elements must be a list of element symbols")
        if not els:
            raise _err(p, f"site {s['name']} is empty; list at least one element")
        mult = s.get("multiplicity", 1)
        if type(mult) is not int or mult < 1:
            raise _err(p, f"site {s['name']}: multiplicity must be a positive integer, "
                          f"got {mult!r}")
        sites.append(Site(s["name"], tuple(e.strip() for e in els), mult))
    numbering = head.get("numbering", "iupac")
    if numbering not in NUMBERINGS:
        raise _err(p, f"numbering {numbering!r} is not one of {', '.join(NUMBERINGS)}")
    sym = head.get("symmetries", [])
    if not isinstance(sym, list) or not all(
            isinstance(q, list) and all(type(i) is int for i in q) for q in sym):
        raise _err(p, "symmetries must be a list of site permutations, e.g. [[1, 0, 2]]")
    grid = 1
    for s in sites:
        grid *= s.size
    if grid > MAX_GRID:
        raise _err(p, f"the space has a grid of {grid:,} points, more than the {MAX_GRID:,} "
                      "a full-space table can hold in memory; use fewer elements or sites")
    try:
        space = CompositionSpace(
            name=str(head.get("name") or p.stem), sites=tuple(sites),
            fixed=str(head.get("fixed", "")), distinct=bool(head.get("distinct", True)),
            symmetries=tuple(tuple(q) for q in sym), numbering=numbering,
            prototype=str(head.get("prototype", "")),
            description=str(head.get("description", "")),
        )
    except (SpaceError, UnknownElementError) as e:
        raise _err(p, str(e)) from None
    data = _table(doc, "data", p)
    if not isinstance(data.get("path"), str) or not data["path"]:
        raise _err(p, "[data] has no path; name the data file (relative to the space file)")
    columns = data.get("columns", {})
    if not isinstance(columns, dict) or not all(isinstance(v, str) for v in columns.values()):
        raise _err(p, "[data] columns must map site names and 'energy' to column names")
    # Sites default to columns of their own name; the energy column must be named.
    cols = {s.name: columns.get(s.name, s.name) for s in sites}
    if "energy" not in columns:
        raise _err(p, "[data] columns has no 'energy'; name the formation-energy column")
    cols["energy"] = columns["energy"]
    if "stability" in columns:
        cols["stability"] = columns["stability"]
    unknown = set(columns) - set(cols)
    if unknown:
        raise _err(p, f"[data] columns names {', '.join(sorted(unknown))}, which is no site; "
                      f"the sites are {', '.join(space.site_names)}")
    ref = _table(doc, "reference", p).get("kind")
    if ref not in REFERENCE_KINDS:
        raise _err(p, f"[reference] kind must be one of {', '.join(REFERENCE_KINDS)}, "
                      f"got {ref!r}")
    outside = data.get("outside", "error")
    if outside not in ("error", "skip"):
        raise _err(p, f"[data] outside must be 'error' or 'skip', got {outside!r}")
    data_path = (p.parent / data["path"]).expanduser()
    spec = SpaceData(path=data_path, columns=cols, reference=ref,
                     missing=str(data.get("missing", "")), outside=outside)
    return SpaceFile(space=space, data=spec, source=p)
