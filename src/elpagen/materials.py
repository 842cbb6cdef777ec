"""Crystal structures of compositions: the cubic elpasolite prototype, and their export.

Every composition ABC2D6 becomes the *unrelaxed* cubic elpasolite prototype, space group
Fm-3m (225), in the conventional cell of 40 atoms (``primitive=True``: the 10-atom
primitive cell): A on 4a (0,0,0), B on 4b (1/2,1/2,1/2), C on 8c (1/4,1/4,1/4) and
(3/4,3/4,3/4), D on 24e (x,0,0). A and B keep their sites, so the A/B twins ABC2D6 and
BAC2D6 give two structures (the same crystal up to an origin shift, as docs/method.md
says: A and B are symmetry-equivalent sites).

Lattice, from tabulated radii (no relaxation, no DFT): ``d_XY = r_X + r_Y``,
``a = 2 (d_AD + d_BD)`` and ``x = d_AD / a``, clamped to [0.20, 0.30] so that D atoms
never collide (the shortest D-D distance, sqrt(2) min(x, 1/2 - x) a, stays >= 0.28 a).
``r`` is pymatgen's ``Element.atomic_radius`` (empirical radii, J. C. Slater, J. Chem.
Phys. 41, 3199 (1964)); where it is missing (He, Ne, Kr, Xe) the fallback is
``Element.atomic_radius_calculated`` (E. Clementi et al., J. Chem. Phys. 47, 1300 (1967)).

The 40 positions are written out from the Wyckoff positions above (what
``Structure.from_spacegroup(225, ...)`` gives, checked by the tests): from_spacegroup takes
0.4 s a structure, this 0.3 ms. Each record's metadata holds the reference energy and
class of :mod:`elpagen.reference` under keys that say *model prediction* (never DFT).

pymatgen and ase are imported inside functions: they are the optional ``materials`` extra
(``pip install 'elpagen[materials]'``); without it, a :class:`MaterialsExtraMissing` error
says so.
"""

from __future__ import annotations

import csv
import functools
import os
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from elpagen import io, space
from elpagen.errors import InputError, UserError

if TYPE_CHECKING:
    from elpagen.reference import ReferenceEnergies

#: Export formats: one file per composition in a zip (cif, poscar), or one file (extxyz, jsonl).
FORMATS: tuple[str, ...] = ("cif", "poscar", "extxyz", "jsonl")
ZIP_FORMATS = ("cif", "poscar")
SPACE_GROUP = 225  # Fm-3m
X_RANGE = (0.20, 0.30)
#: Metadata keys of the reference model (an interpolation of DFT data, not DFT itself).
ENERGY_KEY = "reference_energy_model_prediction_ev_per_atom"
CLASS_KEY = "reference_class_model_prediction"
RADIUS_RULE = ("d_XY = r_X + r_Y, a = 2 (d_AD + d_BD), x = d_AD / a clamped to [0.20, 0.30]; "
               "r = pymatgen Element.atomic_radius (Slater 1964), fallback "
               "Element.atomic_radius_calculated (Clementi 1967) for He, Ne, Kr, Xe")
STRUCTURE_NOTE = ("unrelaxed cubic elpasolite prototype, Fm-3m (225), lattice estimated "
                  "from tabulated radii; not a relaxed or DFT structure")
#: Optional per-row columns of a samples CSV carried into the metadata.
EXTRA_COLUMNS = ("model", "seed", "target_class")


class MaterialsExtraMissing(UserError, ImportError):
    """pymatgen, ase or smact is not installed."""


class ExportFormatError(InputError):
    """An unknown export format."""


def require(*modules: str) -> None:
    """Import ``modules`` (default: pymatgen and ase) or raise :class:`MaterialsExtraMissing`."""
    import importlib

    for m in modules or ("pymatgen.core", "ase"):
        try:
            importlib.import_module(m)
        except ImportError as e:
            raise MaterialsExtraMissing(
                f"{m.split('.')[0]} is not installed ({e}); this needs the materials extra: "
                f"pip install 'elpagen[materials]'") from None


def check_format(fmt: str) -> str:
    f = str(fmt).strip().lower()
    if f not in FORMATS:
        raise ExportFormatError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    return f


# --------------------------------------------------------------------------- structures


@functools.lru_cache(maxsize=1)
def radii() -> np.ndarray:
    """(39,) radius in angstrom of every element of the space (rule in the module doc)."""
    require("pymatgen.core")
    from pymatgen.core import Element

    out = np.empty(space.N_ELEMENTS)
    for i, sym in enumerate(space.ELEMENTS):
        el = Element(sym)
        r = el.atomic_radius if el.atomic_radius is not None else el.atomic_radius_calculated
        if r is None:  # not for any of the 39 elements with pymatgen >= 2024.1
            raise MaterialsExtraMissing(f"pymatgen has no radius for {sym}")
        out[i] = float(r)
    out.flags.writeable = False
    return out


def lattice(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lattice constant a (angstrom), D parameter x and whether x was clamped, per code."""
    el = space.decode(np.atleast_1d(codes))
    r = radii()
    d_ad = r[el[:, 0]] + r[el[:, 3]]
    d_bd = r[el[:, 1]] + r[el[:, 3]]
    a = 2.0 * (d_ad + d_bd)
    x_raw = d_ad / a
    x = np.clip(x_raw, *X_RANGE)
    return a, x, x != x_raw


def _translations() -> np.ndarray:
    return np.array([[0, 0, 0], [0, .5, .5], [.5, 0, .5], [.5, .5, 0]])


def frac_coords(x: float) -> tuple[list[int], np.ndarray]:
    """Site index (0..3 for A..D) and fractional coordinates of the 40 conventional atoms."""
    t = _translations()
    base = {0: [[0, 0, 0]], 1: [[.5, .5, .5]], 2: [[.25, .25, .25], [.75, .75, .75]],
            3: [[x, 0, 0], [-x, 0, 0], [0, x, 0], [0, -x, 0], [0, 0, x], [0, 0, -x]]}
    sites, coords = [], []
    for s, pts in base.items():
        for p in pts:
            for tr in t:
                sites.append(s)
                coords.append(np.mod(np.asarray(p) + tr, 1.0))
    return sites, np.array(coords)


def structure(code: int, *, primitive: bool = False, a: float | None = None,
              x: float | None = None):
    """The pymatgen ``Structure`` of one composition code (conventional 40-atom cell)."""
    require("pymatgen.core")
    from pymatgen.core import Lattice, Structure

    c = np.array([int(code)])
    if not 0 <= int(code) < space.N_GRID or not space.is_distinct(space.decode(c))[0]:
        raise InputError(f"code {code} is not a composition of the space")
    if a is None or x is None:
        la, lx, _ = lattice(c)
        a, x = float(la[0]), float(lx[0])
    sym = space.indices_to_symbols(space.decode(c))[0]
    sites, coords = frac_coords(float(x))
    s = Structure(Lattice.cubic(a), [sym[i] for i in sites], coords)
    if primitive:
        s = s.get_primitive_structure()
    return s


# --------------------------------------------------------------------------- records


def read_sample_rows(path: str | os.PathLike) -> tuple[np.ndarray, int, dict[str, list[str]]]:
    """A samples CSV: (valid codes in order, number of rows, extra columns of the valid rows).

    Codes come from :func:`elpagen.io.read_samples`; columns named in ``EXTRA_COLUMNS``
    (model, seed, target_class), when present, are read for the same rows.
    """
    codes, n_rows = io.read_samples(path)
    with open(path, newline="", encoding="utf-8-sig") as f:
        header = [h.strip().lower() for h in next(csv.reader(f), [])]
    wanted = {k: header.index(k) for k in EXTRA_COLUMNS if k in header}
    if not wanted:
        return codes, n_rows, {}
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = [r for r in list(csv.reader(f))[1:] if r and any(x.strip() for x in r)]
    lut = space.SYMBOL_TO_INDEX
    el = np.array([[lut.get(x.strip(), -1) for x in r[:4]] if len(r) >= 4 else [-1] * 4
                   for r in rows], dtype=np.int64).reshape(-1, 4)
    keep = np.flatnonzero((el >= 0).all(axis=1) & space.is_distinct(el))
    extra = {k: [rows[i][j].strip() if j < len(rows[i]) else "" for i in keep]
             for k, j in wanted.items()}
    return codes, n_rows, extra


def _value(v: str) -> Any:
    v = v.strip()
    if v == "":
        return None
    try:
        return int(v)
    except ValueError:
        return v


def records(codes: np.ndarray, *, reference: ReferenceEnergies | None = None,
            model: str | None = None, seed: int | None = None,
            target_class: int | None = None,
            extra: Mapping[str, Sequence[str]] | None = None) -> list[dict[str, Any]]:
    """Metadata of every *distinct* composition of ``codes`` (first-draw order, with the
    number of draws): formula, sites, target class, model, seed, lattice, and the reference
    model's energy and class (``reference``; omitted when None). Per-row ``extra`` columns
    (model, seed, target_class) win over the arguments; the first draw's value is kept."""
    codes = np.asarray(codes, dtype=np.int64)
    uniq, first, counts = np.unique(codes, return_index=True, return_counts=True)
    order = np.argsort(first)
    uniq, first, counts = uniq[order], first[order], counts[order]
    a, x, clamped = lattice(uniq)
    sym = space.indices_to_symbols(space.decode(uniq))
    formulas = space.formula(uniq)
    out = []
    for i, code in enumerate(uniq):
        rec: dict[str, Any] = {
            "formula": formulas[i], "code": int(code),
            **{site: str(sym[i][s]) for s, site in enumerate(space.SITES)},
            "target_class": target_class, "model": model, "seed": seed,
            "n_draws": int(counts[i]),
        }
        for k, col in (extra or {}).items():
            val = _value(col[first[i]])
            if val is not None:
                rec[k] = val
        if reference is not None:
            rec[ENERGY_KEY] = float(reference.energies[code])
            rec[CLASS_KEY] = int(reference.classes[code])
            rec["reference_model"] = (f"elpagen Laplacian KRR (sigma={reference.sigma:g}, "
                                      f"lambda={reference.lam:g}) trained on DFT energies; "
                                      "a model prediction, not a DFT value")
        rec.update(space_group=SPACE_GROUP, lattice_a_angstrom=round(float(a[i]), 6),
                   x_D=round(float(x[i]), 6), x_D_clamped=bool(clamped[i]),
                   lattice_rule=RADIUS_RULE, structure_note=STRUCTURE_NOTE)
        out.append(rec)
    return out


# --------------------------------------------------------------------------- export


def _name(i: int, rec: Mapping[str, Any], ext: str) -> str:
    return f"{i:05d}_{rec['formula']}.{ext}"


def _cif(s, rec: Mapping[str, Any]) -> str:
    from pymatgen.io.cif import CifWriter

    head = "".join(f"# {k}: {v}\n" for k, v in rec.items() if v is not None)
    return head + str(CifWriter(s))


def _poscar(s, rec: Mapping[str, Any]) -> str:
    from pymatgen.io.vasp import Poscar

    comment = (f"{rec['formula']} {STRUCTURE_NOTE}; "
               f"{ENERGY_KEY}={rec.get(ENERGY_KEY)}").replace("\n", " ")
    return Poscar(s, comment=comment).get_str()


def _write_zip(f, fmt: str, structs: list, recs: list[dict[str, Any]]) -> None:
    ext, text = ("cif", _cif) if fmt == "cif" else ("vasp", _poscar)
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for i, (s, rec) in enumerate(zip(structs, recs, strict=True)):
            z.writestr(_name(i, rec, ext), text(s, rec))
        index = [{"file": _name(i, rec, ext), **rec} for i, rec in enumerate(recs)]
        z.writestr("metadata.jsonl", "".join(io.dumps(r, indent=None) + "\n" for r in index))


def _write_extxyz(f, structs: list, recs: list[dict[str, Any]]) -> None:
    import io as _pyio

    from ase.io import write
    from pymatgen.io.ase import AseAtomsAdaptor

    frames = []
    for s, rec in zip(structs, recs, strict=True):
        atoms = AseAtomsAdaptor.get_atoms(s)
        info = {k: v for k, v in io.to_jsonable(rec).items() if v is not None}
        # extxyz reads a bare F or T as a bool: the four sites go as one list, "sites"
        info = {"sites": [info.pop(site) for site in space.SITES], **info}
        atoms.info = info
        frames.append(atoms)
    buf = _pyio.StringIO()
    write(buf, frames, format="extxyz")
    f.write(buf.getvalue().encode("utf-8"))


def _write_jsonl(f, structs: list, recs: list[dict[str, Any]]) -> None:
    for s, rec in zip(structs, recs, strict=True):
        f.write((io.dumps({**rec, "structure": s.as_dict()}, indent=None) + "\n").encode())


def export(codes: np.ndarray, fmt: str, path: str | os.PathLike, *, overwrite: bool = False,
           primitive: bool = False, **meta: Any) -> dict[str, Any]:
    """Write the structures of the distinct compositions of ``codes`` to ``path``.

    ``fmt``: cif or poscar (a zip of one file per composition plus ``metadata.jsonl``),
    extxyz (one multi-frame file, metadata in each frame's info, the sites as one list
    ``sites``: extxyz would read a bare F as False) or jsonl (one JSON object
    per line: the metadata and ``structure``, pymatgen's ``Structure.as_dict()``).
    ``meta``: ``reference``, ``model``, ``seed``, ``target_class``, ``extra`` of
    :func:`records`. The file is written atomically. Returns a summary.
    """
    fmt = check_format(fmt)
    out = io.check_output(path, overwrite)
    require("pymatgen.core", "ase") if fmt == "extxyz" else require("pymatgen.core")
    codes = np.asarray(codes)
    if len(codes) == 0:
        raise InputError("no valid compositions to export")
    recs = records(codes, **meta)
    structs = [structure(r["code"], primitive=primitive, a=r["lattice_a_angstrom"],
                         x=r["x_D"]) for r in recs]
    writer = {"extxyz": _write_extxyz, "jsonl": _write_jsonl}.get(fmt)
    with warnings.catch_warnings():
        # pymatgen warns that noble gases have no Pauling electronegativity (unused here)
        warnings.filterwarnings("ignore", message="No Pauling electronegativity")
        if writer is None:
            io.atomic_write(out, lambda f: _write_zip(f, fmt, structs, recs))
        else:
            io.atomic_write(out, lambda f: writer(f, structs, recs))
    return {"path": str(out), "format": fmt, "n_samples": int(len(codes)),
            "n_structures": len(recs), "atoms_per_structure": len(structs[0]),
            "n_x_clamped": sum(r["x_D_clamped"] for r in recs)}

