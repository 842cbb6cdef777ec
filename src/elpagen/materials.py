"""Records and export of the crystal structures of compositions (cif, poscar, extxyz, jsonl).

The structures are the unrelaxed prototypes of :mod:`elpagen.prototypes` (the cubic
elpasolite and perovskite), their names re-exported here. Each record's metadata holds
the reference energy and class of :mod:`elpagen.reference` under keys that say what the
value is: a *model prediction* (:data:`ENERGY_KEY`, :data:`CLASS_KEY`: the elpasolite's
kernel ridge reference, never DFT) or, for a space whose reference is its data table
(the perovskite's), the *table value* as given (:data:`TABLE_ENERGY_KEY`,
:data:`TABLE_CLASS_KEY`); a composition the table lacks gets None.

Every text a user gives (a ``model`` column or ``--model``) is written to the files in one
sanitised form (:func:`clean_text`), the same in every format, so that no value can end a
CIF comment line, open a CIF data block, or break an extxyz ``key=value`` comment;
``seed`` and ``target_class`` columns must be integers. Export streams: one structure
is built, written and dropped at a time, so memory does not grow with the number of
rows (docs/limits.md).

pymatgen and ase are imported inside functions: they are the optional ``materials`` extra
(``pip install 'elpagen[materials]'``); without it, a :class:`MaterialsExtraMissing` error
says so.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import warnings
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from elpagen import io
from elpagen.errors import InputError
from elpagen.prototypes import (  # noqa: F401  (re-exported: materials.X for callers)
    PROTOTYPES,
    RADIUS_RULE,
    SPACE_GROUP,
    STRUCTURE_NOTE,
    X_RANGE,
    MaterialsExtraMissing,
    Prototype,
    atoms_per_structure,
    fixed_counts,
    frac_coords,
    lattice,
    prototype,
    radii,
    require,
    stoichiometry,
    structure,
)
from elpagen.space import CompositionSpace

if TYPE_CHECKING:
    from elpagen.reference import ReferenceEnergies

#: Export formats: one file per composition in a zip (cif, poscar), or one file (extxyz, jsonl).
FORMATS: tuple[str, ...] = ("cif", "poscar", "extxyz", "jsonl")
ZIP_FORMATS = ("cif", "poscar")
#: Metadata keys of a model reference (an interpolation of DFT data, not DFT itself).
ENERGY_KEY = "reference_energy_model_prediction_ev_per_atom"
CLASS_KEY = "reference_class_model_prediction"
#: Metadata keys of a table reference (the space's data table, as given: no model).
TABLE_ENERGY_KEY = "reference_energy_table_value_ev_per_atom"
TABLE_CLASS_KEY = "reference_class_of_table_value"
#: Optional per-row columns of a samples CSV carried into the metadata.
EXTRA_COLUMNS = ("model", "seed", "target_class")
#: Texts and integer cells of a samples CSV: checked and sanitised in :mod:`elpagen.io`.
clean_text, MetadataError = io.clean_text, io.MetadataError
MAX_TEXT, SAFE_CHARS = io.MAX_TEXT, io.SAFE_CHARS
#: Measured bytes per structure written (conventional, primitive cell), with the
#: reference-model metadata, rounded up: the disk check before an export (the
#: elpasolite's; a 5-atom perovskite takes less).
BYTES_PER_STRUCTURE = {"cif": (1_300, 1_100), "poscar": (650, 520),
                       "extxyz": (3_300, 1_600), "jsonl": (7_000, 3_100)}
#: Bytes a zip (cif, poscar) holds per file until it is closed: its directory entry.
ZIP_ENTRY_BYTES = 600
#: Measured seconds per structure on one loaded core (conventional, primitive: pymatgen's
#: get_primitive_structure is most of the primitive cell's time).
SECONDS_PER_STRUCTURE = {"cif": (0.005, 0.017), "poscar": (0.006, 0.015),
                         "extxyz": (0.002, 0.015), "jsonl": (0.0025, 0.015)}


class ExportFormatError(InputError):
    """An unknown export format, or one that cannot go where it was asked to."""


class ExportSizeError(InputError):
    """An export whose estimated size does not fit on the disk."""


def check_format(fmt: str) -> str:
    f = str(fmt).strip().lower()
    if f not in FORMATS:
        raise ExportFormatError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    return f


# --------------------------------------------------------------------------- records


def scan_sample_rows(path: str | os.PathLike, *, space: CompositionSpace
                     ) -> tuple[io.SampleScan, list[str]]:
    """A samples CSV of ``space`` for export: its scan (:func:`elpagen.io.scan_samples`
    with the ``EXTRA_COLUMNS``) and its warnings (:func:`elpagen.io.sample_warnings`)."""
    scan = io.scan_samples(path, EXTRA_COLUMNS, space=space)
    return scan, io.sample_warnings(scan, path)


def read_sample_rows(path: str | os.PathLike, *, space: CompositionSpace
                     ) -> tuple[np.ndarray, int, dict[str, list[str]]]:
    """A samples CSV of ``space``: (valid codes in order, number of rows, extra columns of
    the valid rows).

    Columns named in ``EXTRA_COLUMNS`` (model, seed, target_class), when present, are read
    for the same rows (:func:`scan_sample_rows` also gives the warnings).
    """
    scan, _ = scan_sample_rows(path, space=space)
    return scan.codes, scan.n_rows, scan.extra


class _Plan:
    """The distinct compositions of ``codes`` in first-draw order and their lattices: what
    :func:`iter_records` yields records of, one at a time."""

    def __init__(self, codes: np.ndarray, space: CompositionSpace) -> None:
        codes = np.asarray(codes, dtype=np.int64)
        uniq, first, counts = np.unique(codes, return_index=True, return_counts=True)
        order = np.argsort(first)
        self.space = space
        self.uniq, self.first, self.counts = uniq[order], first[order], counts[order]
        self.a, self.x, self.clamped = lattice(self.uniq, space)
        self.n_samples = len(codes)

    def __len__(self) -> int:
        return len(self.uniq)


def the_space(space: CompositionSpace | None,
              reference: ReferenceEnergies | None) -> CompositionSpace:
    """``space``, else the reference energies' space; InputError where neither is given."""
    if space is not None:
        if reference is not None and reference.space is not None \
                and reference.space != space:
            raise InputError(f"the reference energies cover the {reference.space.name} space, "
                             f"not the {space.name} space of the compositions")
        return space
    if reference is not None and reference.space is not None:
        return reference.space
    raise InputError("give the composition space of the codes (space=..., or reference=...)")


def iter_records(codes: np.ndarray, *, space: CompositionSpace | None = None,
                 reference: ReferenceEnergies | None = None,
                 model: str | None = None, seed: int | None = None,
                 target_class: int | None = None,
                 extra: Mapping[str, Sequence[str]] | None = None,
                 _plan: _Plan | None = None) -> Iterator[dict[str, Any]]:
    """:func:`records`, one at a time (memory flat in the number of compositions)."""
    plan = _plan if _plan is not None else _Plan(codes, the_space(space, reference))
    space = plan.space
    proto = prototype(space)
    model = (clean_text(model) or None) if model is not None else None
    chunk = 4096
    for lo in range(0, len(plan), chunk):
        uniq = plan.uniq[lo:lo + chunk]
        sym = space.indices_to_symbols(space.decode(uniq))
        formulas = space.formula(uniq)
        for j, code in enumerate(uniq.tolist()):
            i = lo + j
            rec: dict[str, Any] = {
                "formula": formulas[j], "code": code,
                **{site: str(sym[j][s]) for s, site in enumerate(space.site_names)},
                "target_class": target_class, "model": model, "seed": seed,
                "n_draws": int(plan.counts[i]),
            }
            for k, col in (extra or {}).items():
                val = io.metadata_value(k, col[plan.first[i]])
                if val is not None:
                    rec[k] = val
            if reference is not None:
                rec.update(_reference_fields(reference, code))
            rec.update(space_group=proto.space_group,
                       lattice_a_angstrom=round(float(plan.a[i]), 6))
            if proto.parameter:
                rec[proto.parameter] = round(float(plan.x[i]), 6)
                rec[f"{proto.parameter}_clamped"] = bool(plan.clamped[i])
            rec.update(lattice_rule=proto.radius_rule, structure_note=proto.note)
            yield rec


def _reference_fields(reference: ReferenceEnergies, code: int) -> dict[str, Any]:
    """The reference energy and class of ``code``, under keys that say what they are: a
    model's prediction, or (a reference built from a table) the table's value."""
    if reference.mask is None:  # a model: the kernel ridge reference
        return {ENERGY_KEY: float(reference.energies[code]),
                CLASS_KEY: int(reference.classes[code]),
                "reference_model": (f"elpagen Laplacian KRR (sigma={reference.sigma:g}, "
                                    f"lambda={reference.lam:g}) trained on DFT "
                                    "energies; a model prediction, not a DFT value")}
    has = bool(reference.mask[code])
    return {TABLE_ENERGY_KEY: float(reference.energies[code]) if has else None,
            TABLE_CLASS_KEY: int(reference.classes[code]) if has else None,
            "reference_table": (f"the {reference.space.name} space's data table of formation "
                                "energies, as given (no model); None: not in the table")}


def records(codes: np.ndarray, *, space: CompositionSpace | None = None,
            reference: ReferenceEnergies | None = None,
            model: str | None = None, seed: int | None = None,
            target_class: int | None = None,
            extra: Mapping[str, Sequence[str]] | None = None) -> list[dict[str, Any]]:
    """Metadata of every *distinct* composition of ``codes`` of ``space`` (default: the
    reference energies'; first-draw order, with the
    number of draws): formula, sites, target class, model, seed, lattice, and the reference
    model's energy and class (``reference``; omitted when None). Per-row ``extra`` columns
    (model, seed, target_class) win over the arguments; the first draw's value is kept.
    Texts are written as :func:`clean_text` gives them; seed and target_class cells must
    be integers (:class:`MetadataError`)."""
    return list(iter_records(codes, space=space, reference=reference, model=model,
                             seed=seed, target_class=target_class, extra=extra))


# --------------------------------------------------------------------------- export


def estimate(n_structures: int, fmt: str, primitive: bool = False) -> dict[str, float]:
    """Rough size (bytes) and time (seconds, one loaded core) of exporting ``n_structures``
    (measured per structure; right within a factor of about two)."""
    fmt = check_format(fmt)
    return {"bytes": int(n_structures * BYTES_PER_STRUCTURE[fmt][primitive]),
            "seconds": float(n_structures * SECONDS_PER_STRUCTURE[fmt][primitive])}


def check_disk(path: str | os.PathLike, fmt: str, n_structures: int,
               primitive: bool = False) -> dict[str, float]:
    """Refuse (:class:`ExportSizeError`) an export that cannot fit in the free space of
    ``path``'s directory, or a zip whose directory cannot fit in memory; returns
    :func:`estimate`."""
    from elpagen.memory import check_fits, format_bytes

    est = estimate(n_structures, fmt, primitive)
    if fmt in ZIP_FORMATS:
        check_fits(n_structures * ZIP_ENTRY_BYTES, f"a {fmt} zip of {n_structures:,} files",
                   "use --format extxyz or jsonl (one file), or export fewer samples")
    parent = Path(path).absolute().parent
    try:
        free = shutil.disk_usage(parent).free
    except OSError:  # cannot be told: nothing refused
        return est
    if est["bytes"] > free:
        raise ExportSizeError(
            f"exporting {n_structures:,} structures as {fmt} needs about "
            f"{format_bytes(est['bytes'])} of disk, more than the {format_bytes(free)} free "
            f"in {parent}; free some space, choose another -o, or export fewer samples")
    return est


def _name(i: int, rec: Mapping[str, Any], ext: str) -> str:
    return f"{i:05d}_{rec['formula']}.{ext}"


def _one_line(v: Any) -> str:
    """A value as one comment line (the records' texts are clean; this is a second guard)."""
    return " ".join(str(v).split())


def _cif(s, rec: Mapping[str, Any]) -> str:
    from pymatgen.io.cif import CifWriter

    head = "".join(f"# {k}: {_one_line(v)}\n" for k, v in rec.items() if v is not None)
    return head + str(CifWriter(s))


def _poscar(s, rec: Mapping[str, Any]) -> str:
    from pymatgen.io.vasp import Poscar

    key = TABLE_ENERGY_KEY if TABLE_ENERGY_KEY in rec else ENERGY_KEY
    comment = _one_line(f"{rec['formula']} {rec['structure_note']}; {key}={rec.get(key)}")
    return Poscar(s, comment=comment).get_str()


def _write_zip(f, fmt: str, items: Iterator[tuple[Any, dict[str, Any]]],
               again: Iterator[dict[str, Any]]) -> None:
    """One file per structure, then ``metadata.jsonl`` (from ``again``: the records once
    more, so that none is held while the structures are written)."""
    ext, text = ("cif", _cif) if fmt == "cif" else ("vasp", _poscar)
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as z:
        for i, (s, rec) in enumerate(items):
            z.writestr(_name(i, rec, ext), text(s, rec))
        with z.open("metadata.jsonl", "w", force_zip64=True) as m:
            for i, rec in enumerate(again):
                m.write((io.dumps({"file": _name(i, rec, ext), **rec}, indent=None)
                         + "\n").encode("utf-8"))


@functools.lru_cache(maxsize=4096)
def _extxyz_text(v: str) -> str:
    """``v`` as an extxyz info value that ASE reads back as this very text: ASE reads a
    bare T as True and 3.5 as a float, so such a text goes in ASE's own ``_JSON`` form."""
    from ase.io.extxyz import key_val_dict_to_str, key_val_str_to_dict

    for form in (v, "_JSON " + json.dumps(v)):
        if key_val_str_to_dict(key_val_dict_to_str({"k": form})).get("k") == v:
            return form
    return clean_text(v)  # not reached for the records' texts


def _write_extxyz(f, items: Iterator[tuple[Any, dict[str, Any]]],
                  site_names: Sequence[str]) -> None:
    import io as _pyio

    from ase.io.extxyz import write_xyz
    from pymatgen.io.ase import AseAtomsAdaptor

    text = _pyio.TextIOWrapper(f, encoding="utf-8", newline="")
    try:
        for s, rec in items:
            atoms = AseAtomsAdaptor.get_atoms(s)
            info = {k: v for k, v in io.to_jsonable(rec).items() if v is not None}
            # extxyz reads a bare F or T as a bool: the sites go as one list, "sites"
            info = {"sites": [info.pop(site) for site in site_names], **info}
            atoms.info = {k: _extxyz_text(v) if isinstance(v, str) else v
                          for k, v in info.items()}
            write_xyz(text, [atoms])
        text.flush()
    finally:
        text.detach()  # leave ``f`` open: its owner closes it


def _write_jsonl(f, items: Iterator[tuple[Any, dict[str, Any]]]) -> None:
    for s, rec in items:
        f.write((io.dumps({**rec, "structure": s.as_dict()}, indent=None) + "\n").encode())


def _progress(items, total: int, progress: bool):
    from elpagen import progress as shown

    return shown.steps(items, total, "export", "structure", progress, leave=True,
                       mininterval=2.0)


def export(codes: np.ndarray, fmt: str, path: str | os.PathLike, *, overwrite: bool = False,
           primitive: bool = False, progress: bool = False,
           space: CompositionSpace | None = None, **meta: Any) -> dict[str, Any]:
    """Write the structures of the distinct compositions of ``codes`` to ``path``.

    ``space``: the codes' composition space (default: that of ``meta['reference']``); its
    prototype must have a structure builder (:data:`elpagen.prototypes.PROTOTYPES`), else
    a one-line :class:`InputError`.

    ``fmt``: cif or poscar (a zip of one file per composition plus ``metadata.jsonl``),
    extxyz (one multi-frame file, metadata in each frame's info, the sites as one list
    ``sites``: extxyz would read a bare F as False) or jsonl (one JSON object
    per line: the metadata and ``structure``, pymatgen's ``Structure.as_dict()``).
    ``meta``: ``reference``, ``model``, ``seed``, ``target_class``, ``extra`` of
    :func:`records`. ``path`` ``-`` is standard output (extxyz and jsonl only); a file is
    written atomically, after a check that its estimated size fits on the disk. The
    structures are built and written one at a time (memory flat in the number of rows).
    Returns a summary.
    """
    fmt = check_format(fmt)
    space = the_space(space, meta.get("reference"))
    proto = prototype(space)  # before any file is opened
    to_stdout = io.is_stdout(path)
    if to_stdout and fmt in ZIP_FORMATS:
        raise ExportFormatError(f"{fmt} is a zip file, which cannot go to standard output; "
                                "give a file name for -o, or use --format extxyz or jsonl")
    out = None if to_stdout else io.check_output(path, overwrite)
    require("pymatgen.core", "ase") if fmt == "extxyz" else require("pymatgen.core")
    codes = np.asarray(codes)
    if len(codes) == 0:
        raise InputError("no valid compositions to export")
    plan = _Plan(codes, space)
    if out is not None:
        check_disk(out, fmt, len(plan), primitive)

    def recs() -> Iterator[dict[str, Any]]:
        return iter_records(codes, _plan=plan, **meta)

    def items() -> Iterator[tuple[Any, dict[str, Any]]]:
        for rec in _progress(recs(), len(plan), progress):
            yield structure(rec["code"], space=space, primitive=primitive,
                            a=rec["lattice_a_angstrom"],
                            x=rec[proto.parameter] if proto.parameter else None), rec

    def write(f) -> None:
        if fmt in ZIP_FORMATS:
            _write_zip(f, fmt, items(), recs())
        elif fmt == "extxyz":
            _write_extxyz(f, items(), space.site_names)
        else:
            _write_jsonl(f, items())

    with warnings.catch_warnings():
        # pymatgen warns that noble gases have no Pauling electronegativity (unused here)
        warnings.filterwarnings("ignore", message="No Pauling electronegativity")
        if out is None:
            f = io.binary_stdout()
            write(f)
            f.flush()
        else:
            io.atomic_write(out, write)
    return {"path": "-" if out is None else str(out), "format": fmt,
            "n_samples": int(plan.n_samples), "n_structures": len(plan),
            "atoms_per_structure": atoms_per_structure(space, primitive),
            "n_x_clamped": int(plan.clamped.sum())}
