"""Crystal prototypes of the spaces (:mod:`elpagen.prototypes`): the perovskite ABO3.

Tests that need pymatgen, ase or smact skip with a reason when the extra is missing.
"""

from __future__ import annotations

import importlib.util
import io as pyio
import json
import zipfile

import numpy as np
import pytest

from elpagen import prototypes
from elpagen.errors import InputError
from elpagen.space import CompositionSpace, Site
from elpagen.spaces.elpasolite import ELPASOLITE
from elpagen.spaces.perovskite import PEROVSKITE as space

HAVE_EXTRA = all(importlib.util.find_spec(m) is not None for m in ("pymatgen", "ase", "smact"))
needs_extra = pytest.mark.skipif(
    not HAVE_EXTRA, reason="the materials extra is not installed: pip install 'elpagen[materials]'")

CUBIC = [("Sr", "Ti"), ("Ba", "Zr"), ("K", "Nb"), ("La", "La"), ("Cs", "Pb"), ("Li", "Li")]


def code(a: str, b: str) -> int:
    return int(space.encode(space.symbols_to_indices([[a, b]]))[0])


def test_stoichiometry_merges_an_element_on_both_sites() -> None:
    assert prototypes.fixed_counts(space) == {"O": 3}
    assert prototypes.stoichiometry(space, ("Sr", "Ti")) == {"Sr": 1, "Ti": 1, "O": 3}
    assert prototypes.stoichiometry(space, ("La", "La")) == {"La": 2, "O": 3}
    assert prototypes.stoichiometry(ELPASOLITE, ("Na", "Bi", "Cs", "Cl")) == {
        "Na": 1, "Bi": 1, "Cs": 2, "Cl": 6}


def test_an_unknown_prototype_is_a_one_line_input_error() -> None:
    other = CompositionSpace("spinel", (Site("A", ("Mg",)), Site("B", ("Al",), 2)),
                             fixed="O4", prototype="spinel")
    with pytest.raises(InputError) as e:
        prototypes.prototype(other)
    msg = str(e.value)
    assert "\n" not in msg and "'spinel'" in msg and "elpasolite, perovskite" in msg
    # the perovskite's name on a space of another formula is refused too
    wrong = CompositionSpace("abo2", space.sites, fixed="O2", distinct=False,
                             numbering="long", prototype="perovskite")
    with pytest.raises(InputError, match="ABO2 is not the perovskite prototype's"):
        prototypes.lattice(np.array([0]), wrong)
    assert prototypes.prototype(space).space_group == 221


def test_cell_points() -> None:
    sites, coords = prototypes.frac_coords(0.0, space)
    assert sites == [0, 1, 2, 2, 2]  # A, B, then the three O of the fixed part
    assert coords.tolist() == [[0, 0, 0], [.5, .5, .5], [.5, .5, 0], [.5, 0, .5], [0, .5, .5]]
    assert prototypes.atoms_per_structure(space) == prototypes.atoms_per_structure(
        space, primitive=True) == 5
    assert prototypes.atoms_per_structure(ELPASOLITE) == 40
    assert prototypes.atoms_per_structure(ELPASOLITE, primitive=True) == 10


@needs_extra
def test_lattice_rule() -> None:
    a, x, clamped = prototypes.lattice(np.array([code("Sr", "Ti")]), space)
    # Slater radii Sr 2.0, Ti 1.4, O 0.6: a = (2 (1.4 + 0.6) + sqrt(2) (2.0 + 0.6)) / 2
    assert a[0] == pytest.approx((4.0 + np.sqrt(2) * 2.6) / 2)
    assert x[0] == 0 and not clamped[0]
    assert 3.7 < a[0] < 4.0  # measured SrTiO3: 3.905 angstrom
    assert "perovskite" in prototypes.PEROVSKITE_NOTE
    assert "Slater" in prototypes.PEROVSKITE_RADIUS_RULE


@needs_extra
@pytest.mark.parametrize("sites", CUBIC)
def test_structure_is_the_pm3m_prototype(sites) -> None:
    from ase.io import read
    from pymatgen.core import Lattice, Structure
    from pymatgen.io.ase import AseAtomsAdaptor
    from pymatgen.io.cif import CifWriter
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    c = code(*sites)
    s = prototypes.structure(c, space=space)
    assert len(s) == 5 and s.lattice.is_orthogonal
    assert s.lattice.abc == pytest.approx((s.lattice.a,) * 3)
    assert SpacegroupAnalyzer(s).get_space_group_number() == 221
    assert s.composition.get_el_amt_dict() == prototypes.stoichiometry(space, sites)
    a = float(prototypes.lattice(np.array([c]), space)[0][0])
    ref = Structure.from_spacegroup(221, Lattice.cubic(a), [*sites, "O"],
                                    [[0, 0, 0], [.5, .5, .5], [.5, .5, 0]])
    assert sorted(map(str, s.species)) == sorted(map(str, ref.species))
    assert s.distance_matrix[np.triu_indices(5, 1)].min() == pytest.approx(a / 2)  # B-O
    # read back: pymatgen from CIF, ASE from CIF
    cif = str(CifWriter(s))
    back = Structure.from_str(cif, "cif")
    assert len(back) == 5 and SpacegroupAnalyzer(back).get_space_group_number() == 221
    atoms = read(pyio.StringIO(cif), format="cif")
    assert len(atoms) == 5 and sorted(atoms.get_chemical_symbols()) == sorted(
        map(str, s.species))
    assert AseAtomsAdaptor.get_structure(atoms).matches(s)
    assert len(prototypes.structure(c, space=space, primitive=True)) == 5


@needs_extra
def test_structure_refuses_a_code_off_the_grid() -> None:
    with pytest.raises(InputError, match="not a composition of the perovskite space"):
        prototypes.structure(space.n_grid, space=space)


# --------------------------------------------------------------------------- export


def _table_reference(codes: np.ndarray):
    from elpagen.data import EnergyClasses
    from elpagen.reference import ReferenceEnergies

    e = -np.linspace(0.5, 3.0, len(codes))
    return ReferenceEnergies.from_table(space, codes, e, EnergyClasses(-3.0, 0.0))


@needs_extra
@pytest.mark.parametrize("fmt", ["cif", "poscar", "extxyz", "jsonl"])
def test_perovskite_export_reads_back(tmp_path, fmt) -> None:
    from ase.io import read
    from pymatgen.core import Structure
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    from elpagen import materials

    codes = np.array([code(*s) for s in CUBIC])
    ref = _table_reference(codes[:-1])  # Li2O3 is not in the table
    out = tmp_path / f"p.{fmt}"
    summary = materials.export(np.concatenate([codes, codes[:1]]), fmt, out, reference=ref,
                               model="m", seed=2)
    assert summary["n_structures"] == len(CUBIC) and summary["atoms_per_structure"] == 5
    if fmt in materials.ZIP_FORMATS:
        with zipfile.ZipFile(out) as z:
            meta = [json.loads(ln) for ln in z.read("metadata.jsonl").decode().splitlines()]
            texts = [z.read(m["file"]).decode() for m in meta]
        structs = [Structure.from_str(t, "cif" if fmt == "cif" else "poscar") for t in texts]
        frames = [read(pyio.StringIO(t), format="cif" if fmt == "cif" else "vasp")
                  for t in texts]
    elif fmt == "extxyz":
        frames = read(out, index=":", format="extxyz")
        meta = [dict(f.info) for f in frames]
        for m in meta:
            m.update(zip(space.site_names, m.pop("sites"), strict=True))
        structs = [Structure(f.cell[:], f.get_chemical_symbols(), f.get_scaled_positions())
                   for f in frames]
    else:
        meta = [json.loads(ln) for ln in out.read_text().splitlines()]
        structs = [Structure.from_dict(m["structure"]) for m in meta]
        frames = []
    assert all(len(f) == 5 for f in frames)
    for s, m, sites, c in zip(structs, meta, CUBIC, codes, strict=True):
        assert len(s) == 5 and (m["A"], m["B"]) == sites and m["space_group"] == 221
        assert SpacegroupAnalyzer(s).get_space_group_number() == 221
        assert m["formula"] == f"{sites[0]}{sites[1]}O3"
        assert s.lattice.a == pytest.approx(m["lattice_a_angstrom"], abs=1e-5)
        assert not any(k.startswith("x_D") for k in m)
        assert materials.ENERGY_KEY not in m and materials.CLASS_KEY not in m
        if c in codes[:-1]:
            assert m[materials.TABLE_ENERGY_KEY] == pytest.approx(float(ref.energies[c]))
            assert m[materials.TABLE_CLASS_KEY] == int(ref.classes[c])
        else:  # not in the table: None (left out of extxyz and the CIF comments)
            assert m.get(materials.TABLE_ENERGY_KEY) is None
    assert meta[0]["n_draws"] == 2 and meta[0]["model"] == "m"


@needs_extra
def test_smact_screen_on_the_perovskite(tmp_path) -> None:
    from elpagen import smact_screen

    rows = {
        ("Sr", "Ti"): True,   # Sr2+ Ti4+ = 6 = 3 O2-
        ("Ti", "Sr"): True,   # the same composition
        ("La", "Al"): True,   # La3+ Al3+
        ("La", "La"): True,   # La2O3
        ("K", "Nb"): True,    # K+ Nb5+
        ("Li", "Li"): False,  # Li2O3: 2 Li+ != 6
        ("Cs", "Li"): False,  # Cs+ Li+ = 2 != 6
        ("Ca", "Ca"): False,  # Ca2O3: 2 Ca2+ = 4 != 6
    }
    codes = np.array([code(*r) for r in rows])
    got = smact_screen.passes(codes, space=space, cache_dir=tmp_path)
    assert got.tolist() == list(rows.values())
