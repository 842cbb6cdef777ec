"""Crystal structures, their export, and the SMACT screen (the optional materials extra).

Tests that need pymatgen, ase or smact skip with a reason when the extra is missing.
"""

from __future__ import annotations

import importlib.util
import io as pyio
import json
import sys
import zipfile

import numpy as np
import pytest
from cli_helpers import one_line_error, run

from elpagen.spaces import ELPASOLITE as space

HAVE_EXTRA = all(importlib.util.find_spec(m) is not None for m in ("pymatgen", "ase", "smact"))
needs_extra = pytest.mark.skipif(
    not HAVE_EXTRA, reason="the materials extra is not installed: pip install 'elpagen[materials]'")


def code(a: str, b: str, c: str, d: str) -> int:
    return int(space.encode(space.symbols_to_indices([[a, b, c, d]]))[0])


CS2NABICL6 = ("Na", "Bi", "Cs", "Cl")  # A B C2 D6 (docs/method.md: AlNaK2F6 is A=Al, C=K, D=F)
ROWS = [CS2NABICL6, ("Bi", "Na", "Cs", "Cl"), ("H", "He", "Li", "F"), CS2NABICL6,
        ("Xe", "H", "Cs", "Ne"), ("Al", "Na", "K", "F")]


@pytest.fixture
def samples_csv(tmp_path):
    p = tmp_path / "s.csv"
    lines = ["A,B,C,D", *(",".join(r) for r in ROWS), "Xx,Na,K,F", "Na,Na,K,F"]
    p.write_text("\n".join(lines) + "\n")
    return p


# --------------------------------------------------------------------------- structures


@needs_extra
def test_lattice_rule_with_fallback_and_clamp() -> None:
    from elpagen import materials

    r = dict(zip(space.sites[0].elements, materials.radii(space)[0], strict=True))
    assert all(np.array_equal(materials.radii(space)[0], rs) for rs in materials.radii(space))
    assert (r["Na"], r["Bi"], r["Cl"], r["H"]) == (1.8, 1.6, 1.0, 0.25)  # Slater
    assert r["Xe"] == pytest.approx(1.08) and r["He"] == pytest.approx(0.31)  # Clementi
    a, x, clamped = materials.lattice(np.array([code(*CS2NABICL6), code("Xe", "H", "Cs", "Ne")]),
                                      space)
    # d_AD = 1.8 + 1.0, d_BD = 1.6 + 1.0: a = 2 (2.8 + 2.6), x = 2.8 / a
    assert a[0] == pytest.approx(10.8) and x[0] == pytest.approx(2.8 / 10.8)
    assert not clamped[0] and clamped[1] and x[1] == materials.X_RANGE[1]


@needs_extra
@pytest.mark.parametrize("sites", [CS2NABICL6, ("H", "He", "Li", "F"), ("Xe", "H", "Cs", "Ne"),
                                   ("Al", "Na", "K", "F"), ("Tl", "In", "Kr", "O")])
def test_structure_is_the_fm3m_prototype(sites) -> None:
    from pymatgen.core import Lattice, Structure
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    from elpagen import materials

    c = code(*sites)
    s = materials.structure(c, space=space)
    assert len(s) == 40 and SpacegroupAnalyzer(s).get_space_group_number() == 225
    a, x, _ = materials.lattice(np.array([c]), space)
    ref = Structure.from_spacegroup(225, Lattice.cubic(a[0]), list(sites),
                                    [[0, 0, 0], [.5, .5, .5], [.25, .25, .25], [x[0], 0, 0]])
    def key(st):
        return sorted((sp.symbol, *np.round(f % 1.0, 6) % 1.0)
                      for sp, f in zip(st.species, st.frac_coords, strict=True))
    assert key(s) == key(ref)
    assert s.distance_matrix[np.triu_indices(40, 1)].min() > 0.5
    assert s.composition.get_el_amt_dict() == {sites[0]: 4, sites[1]: 4, sites[2]: 8, sites[3]: 24}
    p = materials.structure(c, space=space, primitive=True)
    assert len(p) == 10 and SpacegroupAnalyzer(p).get_space_group_number() == 225


@needs_extra
def test_twins_keep_their_sites() -> None:
    from elpagen import materials

    s = materials.structure(code(*CS2NABICL6), space=space)
    t = materials.structure(code("Bi", "Na", "Cs", "Cl"), space=space)
    origin = [i for i, f in enumerate(s.frac_coords) if np.allclose(f, 0)]
    assert s[origin[0]].specie.symbol == "Na" and t[origin[0]].specie.symbol == "Bi"
    half = [i for i, f in enumerate(s.frac_coords) if np.allclose(f, 0.5)]
    assert s[half[0]].specie.symbol == "Bi" and t[half[0]].specie.symbol == "Na"
    assert s.lattice.a == t.lattice.a and s != t


def test_materials_names_are_the_prototypes_module() -> None:
    """The builders live in elpagen.prototypes; materials.X keeps working for callers."""
    from elpagen import materials, prototypes

    for name in ("structure", "lattice", "radii", "frac_coords", "atoms_per_structure",
                 "fixed_counts", "stoichiometry", "prototype", "require", "PROTOTYPES",
                 "X_RANGE", "SPACE_GROUP", "RADIUS_RULE", "STRUCTURE_NOTE",
                 "MaterialsExtraMissing"):
        assert getattr(materials, name) is getattr(prototypes, name), name
    assert prototypes.frac_coords(0.25)[1].shape == (40, 3)  # default: the elpasolite


# --------------------------------------------------------------------------- export


def _records(fmt: str, path):
    """(structures, metadata) read back from an export with pymatgen or ASE."""
    from pymatgen.core import Structure

    if fmt in ("cif", "poscar"):
        with zipfile.ZipFile(path) as z:
            meta = [json.loads(ln) for ln in z.read("metadata.jsonl").decode().splitlines()]
            texts = [z.read(m["file"]).decode() for m in meta]
        if fmt == "cif":
            return [Structure.from_str(t, fmt="cif") for t in texts], meta
        from ase.io import read
        from pymatgen.io.vasp import Poscar
        ase_atoms = read(pyio.StringIO(texts[0]), format="vasp")
        assert len(ase_atoms) == 40
        return [Poscar.from_str(t).structure for t in texts], meta
    if fmt == "extxyz":
        from ase.io import read
        from pymatgen.io.ase import AseAtomsAdaptor

        frames = read(path, index=":", format="extxyz")
        meta = [dict(f.info) for f in frames]
        for m in meta:  # the sites are one list in extxyz (a bare F would read as False)
            m.update(zip(space.site_names, m.pop("sites"), strict=True))
        return [AseAtomsAdaptor.get_structure(f) for f in frames], meta
    lines = [json.loads(ln) for ln in path.read_text().splitlines()]
    return [Structure.from_dict(d["structure"]) for d in lines], lines


@needs_extra
@pytest.mark.parametrize("fmt", ["cif", "poscar", "extxyz", "jsonl"])
def test_export_reads_back(capsys, tmp_path, samples_csv, cache_dir, reference, fmt) -> None:
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    from elpagen import materials

    out = tmp_path / f"out.{fmt}"
    rc, _, err = run(capsys, "export", str(samples_csv), "--format", fmt, "-o", str(out),
                     "--cache-dir", str(cache_dir), "-q", "--model", "vae", "--seed", "3",
                     "-c", "1")
    assert rc == 0, err
    structs, meta = _records(fmt, out)
    want = [ROWS[i] for i in (0, 1, 2, 4, 5)]  # distinct, in first-draw order
    assert len(structs) == len(meta) == len(want)
    for s, m, sites in zip(structs, meta, want, strict=True):
        c = code(*sites)
        assert len(s) == 40 and (m["A"], m["B"], m["C"], m["D"]) == sites
        assert m["formula"] == f"{sites[0]}{sites[1]}{sites[2]}2{sites[3]}6"
        assert (m["model"], m["seed"], m["target_class"]) == ("vae", 3, 1)
        assert m[materials.ENERGY_KEY] == pytest.approx(float(reference.energies[c]))
        assert m[materials.CLASS_KEY] == int(reference.classes[c])
        assert not any("dft" in k.lower() for k in m)
        assert s.lattice.a == pytest.approx(m["lattice_a_angstrom"], abs=1e-5)
    assert meta[0]["n_draws"] == 2
    assert SpacegroupAnalyzer(structs[2]).get_space_group_number() == 225  # H and He


@needs_extra
def test_csv_columns_win_over_options(tmp_path, reference) -> None:
    from elpagen import materials

    p = tmp_path / "m.csv"
    p.write_text("A,B,C,D,model,seed\nNa,Bi,Cs,Cl,gan,7\nNa,Na,K,F,x,1\nAl,Na,K,F,,\n")
    codes, n_rows, extra = materials.read_sample_rows(p, space=space)
    assert n_rows == 3 and extra == {"model": ["gan", ""], "seed": ["7", ""]}
    recs = materials.records(codes, reference=reference, model="vae", seed=1, extra=extra)
    assert [(r["model"], r["seed"]) for r in recs] == [("gan", 7), ("vae", 1)]
    assert recs[0]["target_class"] is None


@needs_extra
def test_export_cli_errors(capsys, tmp_path, samples_csv, cache_dir) -> None:
    base = ("--cache-dir", str(cache_dir), "-q")
    one_line_error(capsys, "export", str(tmp_path / "nope.csv"), "--format", "cif",
                   "-o", str(tmp_path / "o.zip"), *base, match="not found")
    one_line_error(capsys, "export", str(samples_csv), "--format", "pdb",
                   "-o", str(tmp_path / "o.zip"), *base, match=("unknown export format", "cif"))
    out = tmp_path / "o.jsonl"
    out.write_text("keep")
    one_line_error(capsys, "export", str(samples_csv), "--format", "jsonl", "-o", str(out),
                   *base, match=("already exists", "--overwrite"))
    assert out.read_text() == "keep"
    one_line_error(capsys, "export", str(samples_csv), "--format", "jsonl",
                   "-o", str(tmp_path / "new.jsonl"), "-c", "11", *base, match="class")
    rc, _, err = run(capsys, "export", str(samples_csv), "--format", "jsonl", "-o", str(out),
                     "--overwrite", *base)
    assert rc == 0 and len(out.read_text().splitlines()) == 5, err


def test_missing_extra_says_how_to_install(capsys, tmp_path, samples_csv, monkeypatch) -> None:
    from elpagen import materials
    from elpagen.errors import UserError

    with pytest.raises(UserError, match=r"pip install 'elpagen\[materials\]'"):
        materials.require("no_such_module_elpagen")
    monkeypatch.setitem(sys.modules, "pymatgen.core", None)
    monkeypatch.setitem(sys.modules, "smact", None)
    one_line_error(capsys, "export", str(samples_csv), "--format", "cif",
                   "-o", str(tmp_path / "o.zip"), match="pip install 'elpagen[materials]'")
    one_line_error(capsys, "evaluate", str(samples_csv), "-c", "1", "--smact",
                   match="pip install 'elpagen[materials]'")


# --------------------------------------------------------------------------- SMACT


@needs_extra
def test_smact_hand_checked(tmp_path) -> None:
    from elpagen import smact_screen

    rows = {
        CS2NABICL6: True,                 # Na+ Bi3+ 2 Cs+ = 6 = 6 Cl-
        ("Bi", "Na", "Cs", "Cl"): True,   # its twin: the same composition
        ("Al", "Na", "K", "F"): True,     # Al3+ Na+ 2 K+ = 6 F-
        ("Li", "Na", "K", "F"): False,    # Li+ Na+ 2 K+ = 4 != 6 F-
        ("Mg", "Al", "Na", "Cl"): False,  # Mg2+ Al3+ 2 Na+ = 7 != 6 Cl-
        ("He", "Ne", "Ar", "Kr"): False,  # no oxidation states
        ("Na", "K", "Rb", "Cs"): True,    # all metals: an alloy passes
    }
    codes = np.array([code(*r) for r in rows])
    got = smact_screen.passes(codes, space=space, cache_dir=tmp_path)  # no table: one by one
    assert got.tolist() == list(rows.values())
    f = smact_screen.sample_fractions(np.array([codes[0], codes[0], codes[0], codes[3]]),
                                      space=space, cache_dir=tmp_path)
    assert f == {"smact_valid": 0.75, "smact_unique": 0.5, "smact_n_unique": 2}


@needs_extra
def test_smact_table_is_cached_and_twin_symmetric(tmp_path, monkeypatch) -> None:
    from elpagen import smact_screen

    monkeypatch.setattr(smact_screen, "_screen_one", lambda c, sp: c % 3 == 0)  # stand-in
    grid = smact_screen.table(tmp_path, space=space)
    path = smact_screen.table_path(tmp_path, space=space)
    assert path.is_file() and path.name.startswith(f"smact_{smact_screen.version()}_v")
    codes = space.all_codes()
    assert np.array_equal(grid[codes], grid[space.twins(codes)[0]])
    assert not grid[~space.valid_grid_mask()].any()
    assert np.array_equal(smact_screen.table(tmp_path, space=space, build=False), grid)
    assert np.array_equal(smact_screen.passes(codes[:100], space=space, cache_dir=tmp_path),
                          grid[codes[:100]])
    many = np.random.default_rng(0).choice(codes, size=200_000)  # the gather path (> 100,000)
    u = np.unique(many)
    assert smact_screen.fractions_if_cached(many, tmp_path, space=space) == {
        "smact_valid": pytest.approx(grid[many].mean()),
        "smact_unique": pytest.approx(grid[u].mean()), "smact_n_unique": len(u)}
    assert smact_screen.fractions_if_cached(many, tmp_path / "no-table", space=space) == {}


@needs_extra
def test_smact_fractions_and_cli(capsys, tmp_path, samples_csv, cache_dir, train,
                                 reference) -> None:
    from elpagen import smact_screen

    res = smact_screen.fractions(train, reference, samples=np.array([code(*CS2NABICL6)]),
                                 per_class=20, seed=1, cache_dir=tmp_path)
    assert set(res["classes"]) == {str(k) for k in range(1, 11)}
    assert all(0 <= v["smact_fraction"] <= 1 for v in res["classes"].values())
    assert 0 < res["training_set"]["smact_fraction"] < 1 and "seed 1" in res["space_mode"]
    assert res["samples"]["smact_valid"] == 1.0
    rc, out, err = run(capsys, "evaluate", str(samples_csv), "-c", "1", "--smact", "--json",
                       "--cache-dir", str(cache_dir), "-q")
    assert rc == 0, err
    m = json.loads(out)
    # valid rows: Cs2NaBiCl6 x2, its twin, HHeLi2F6, XeHCs2Ne6, AlNaK2F6
    want = smact_screen.passes(np.array([code(*r) for r in ROWS]), space=space,
                               cache_dir=tmp_path)
    assert m["smact_valid"] == pytest.approx(want.mean())
    assert m["smact_n_unique"] == 5
    one_line_error(capsys, "smact", "--per-class", "0", "--cache-dir", str(cache_dir), "-q",
                   match="--per-class")
