"""Spaces other than the elpasolite: the perovskite, space files (table and krr), their
checks, and the commands run on them (docs/spaces.md)."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import numpy as np
import pytest
from toy_space import TOY_SITES

from elpagen import truth
from elpagen.cli.main import main as cli_main
from elpagen.errors import InputError
from elpagen.space import CompositionSpace, Site, SpaceError
from elpagen.spaces import spacefile
from elpagen.table import TableError

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
PEROVSKITE_CSV = SHARED / "wolverton_oxides.csv"



def _toy_csv(path: Path, frac: float = 1.0, seed: int = 0) -> int:
    """A synthetic energy table over the toy space: smooth in the elements' positions plus
    a seeded residual; ``frac`` < 1 keeps a random part of it (a sample for krr)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i, x in enumerate(TOY_SITES["X"]):
        for j, y in enumerate(TOY_SITES["Y"]):
            for k, z in enumerate(TOY_SITES["Z"]):
                if rng.random() <= frac:
                    e = -2.0 + 0.3 * i - 0.2 * j + 0.25 * k + 0.1 * rng.normal()
                    rows.append(f"{x},{y},{z},{e:.4f}")
    path.write_text("X,Y,Z,energy\n" + "\n".join(rows) + "\n")
    return len(rows)


def _toy_toml(path: Path, data: str, kind: str, extra_site: str = "") -> Path:
    sites = "".join(f'[[sites]]\nname = "{n}"\nelements = {json.dumps(list(els))}\n\n'
                    for n, els in TOY_SITES.items())
    path.write_text(f'[space]\nname = "toy"\nnumbering = "iupac"\n\n{sites}{extra_site}'
                    f'[data]\npath = "{data}"\ncolumns = {{ energy = "energy" }}\n\n'
                    f'[reference]\nkind = "{kind}"\n')
    return path


@pytest.fixture
def toy_files(tmp_path: Path) -> Path:
    _toy_csv(tmp_path / "toy.csv")
    _toy_csv(tmp_path / "sample.csv", frac=0.6, seed=1)
    _toy_toml(tmp_path / "table.toml", "toy.csv", "table")
    _toy_toml(tmp_path / "krr.toml", "sample.csv", "krr")
    return tmp_path


def test_space_file_reads_as_a_value(toy_files: Path) -> None:
    sf = spacefile.load(toy_files / "table.toml")
    assert sf.space.site_names == ("X", "Y", "Z") and sf.space.sizes == (5, 6, 7)
    assert sf.space.n_space == 5 * 6 * 7 and sf.data.reference == "table"
    assert sf.data.path == toy_files / "toy.csv"
    t = truth.resolve(str(toy_files / "table.toml"))
    train = truth.training_set(t)
    ref, _ = truth.reference_energies(t, train)
    assert len(train) == 210 // 5  # a fifth of the table
    assert int(ref.valid.sum()) == 210 and ref.class_sizes().sum() == 210
    # The training set is a subset of the table: its energies are the table's.
    assert np.allclose(train.energies, ref.energies[train.codes], atol=1e-6)


def test_krr_space_fits_a_reference_on_the_sample(toy_files: Path, tmp_path: Path) -> None:
    t = truth.resolve(str(toy_files / "krr.toml"))
    train = truth.training_set(t)
    ref, loaded = truth.reference_energies(t, train, cache_dir=tmp_path / "cache")
    assert not loaded and np.isfinite(ref.holdout_mae) and ref.holdout_mae > 0
    assert np.isfinite(ref.energies).all()  # every composition predicted
    assert int(ref.valid.sum()) == 210 and len(train) < 210


@pytest.mark.parametrize(("edit", "message"), [
    (lambda s: s.replace('"Li", ', '"Xx", '), "unknown element symbol 'Xx'"),
    (lambda s: s.replace('["Li", "Na", "K", "Rb", "Cs"]', "[]"), "site X is empty"),
    (lambda s: s.replace('energy = "energy"', 'energy = "E"'), "no column 'E'"),
    (lambda s: s.replace('kind = "table"', 'kind = "dft"'), "kind must be one of"),
    (lambda s: s.replace("[[sites]]", "[[nosites]]"), "no [[sites]]"),
    (lambda s: s.replace('numbering = "iupac"', 'numbering = "roman"'), "numbering 'roman'"),
    (lambda s: s + "[broken", "not a TOML file"),
])
def test_bad_space_files_are_one_line_errors(toy_files: Path, edit, message: str) -> None:
    p = toy_files / "table.toml"
    p.write_text(edit(p.read_text()))
    with pytest.raises(InputError, match=re.escape(message)):
        t = truth.resolve(str(p))
        truth.training_set(t)
    (toy_files / "table.toml").unlink()


def test_bad_data_rows_name_their_line(toy_files: Path) -> None:
    t = truth.resolve(str(toy_files / "table.toml"))
    csv = toy_files / "toy.csv"
    lines = csv.read_text().splitlines()
    csv.write_text("\n".join([*lines, lines[3]]) + "\n")  # a duplicate row
    with pytest.raises(TableError, match=r"line 212 repeats the composition of line 4"):
        truth.training_set(t)
    csv.write_text("\n".join([*lines, "Fr,Mg,F,-1.0"]) + "\n")  # a row outside the space
    with pytest.raises(TableError, match=r"line 212: unknown element symbol 'Fr' on site X"):
        truth.training_set(t)
    csv.write_text("\n".join([*lines, "Li,Mg,F,abc"]) + "\n")
    with pytest.raises(TableError, match=r"line 212: 'abc' is not a number"):
        truth.training_set(t)


def test_a_space_too_large_for_memory_is_refused(tmp_path: Path) -> None:
    big = [f'"{e}"' for e in ("H", "Li", "Na", "K", "Rb", "Cs", "Fr", "Be", "Mg", "Ca", "Sr",
                              "Ba", "Ra", "B", "Al", "Ga", "In", "Tl", "C", "Si", "Ge", "Sn",
                              "Pb", "N", "P", "As", "Sb", "Bi", "O", "S", "Se", "Te")]
    sites = "".join(f'[[sites]]\nname = "S{i}"\nelements = [{", ".join(big)}]\n'
                    for i in range(6))
    p = tmp_path / "big.toml"
    p.write_text(f'[space]\nname = "big"\nnumbering = "main"\n{sites}'
                 '[data]\npath = "x.csv"\ncolumns = { energy = "e" }\n'
                 '[reference]\nkind = "table"\n')
    with pytest.raises(SpaceError, match="more than the 50,000,000"):
        spacefile.load(p)


def test_symmetry_must_swap_sites_of_one_element_list() -> None:
    with pytest.raises(SpaceError, match="different element lists"):
        CompositionSpace(name="s", sites=(Site("X", ("Li", "Na")), Site("Y", ("F", "Cl"))),
                         symmetries=((1, 0),))
    with pytest.raises(SpaceError, match="has no IUPAC group 1-18; use the group numbering"):
        CompositionSpace(name="s", sites=(Site("X", ("La", "Ce")),), numbering="iupac")


@pytest.mark.parametrize("kind", ["table", "krr"])
def test_space_files_run_through_benchmark_and_campaign(toy_files: Path, tmp_path: Path,
                                                       kind: str, capsys) -> None:
    space = str(toy_files / f"{kind}.toml")
    cache = str(tmp_path / "cache")
    rc = cli_main(["benchmark", "--space", space, "--cache-dir", cache, "--models",
                   "marginal,random,ar", "-c", "1", "-n", "200", "--seeds", "2",
                   "--set", "ar.steps=30", "--jobs", "1", "--json", "-q"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["models"]) >= {"marginal", "random", "ar"}
    for m in ("marginal", "random", "ar"):
        prec = out["models"][m]["precision"]["mean"]
        assert 0.0 <= prec <= 1.0
    rc = cli_main(["campaign", "--space", space, "--cache-dir", cache, "--strategies",
                   "random,ridge,marginal", "-c", "1", "--start", "20", "--batch", "10",
                   "--budget", "60", "--json", "-q"])
    assert rc == 0
    res = json.loads(capsys.readouterr().out)
    assert res  # one JSON object with the campaigns


def test_perovskite_is_the_dft_table() -> None:
    if not PEROVSKITE_CSV.is_file():
        pytest.skip(f"{PEROVSKITE_CSV} is not here")
    t = truth.resolve("perovskite")
    train = truth.training_set(t, PEROVSKITE_CSV)
    ref, _ = truth.reference_energies(t, train, PEROVSKITE_CSV)
    assert t.space.n_grid == 73 * 73 and int(ref.valid.sum()) == 5276
    assert len(train) == 1000 and train.space == t.space
    # Ten equal-width classes over the whole table's range (docs/spaces.md).
    assert ref.class_sizes().tolist() == [178, 670, 1060, 1105, 985, 688, 383, 150, 50, 7]
    t.space.formula(train.codes[:1])  # formulas of the space: 'XYO3'
    assert t.space.formula(np.array([t.space.encode(
        t.space.symbols_to_indices([["Sr", "Ti"]]))[0]]))[0] == "SrTiO3"


def test_a_training_set_larger_than_the_table_is_refused(toy_files: Path) -> None:
    """No silent clamp: asking for more compositions than the table holds is an error that
    says how many there are; the whole table is still there for the asking."""
    t = truth.resolve(str(toy_files / "table.toml"))
    n = int(truth.read(t).codes.size)
    assert len(truth.training_set(t, size=n)) == n
    with pytest.raises(InputError, match=f"more than the {n:,} compositions.*at most {n:,}"):
        truth.training_set(t, size=n + 1)
    with pytest.raises(InputError, match=f"holds from 1 to {n:,} compositions, got 0$"):
        truth.training_set(t, size=0)  # no symmetry: no word of twin groups


def test_the_docs_first_space_file_works_as_written(capsys) -> None:
    """docs/spaces.md: its first TOML block, saved in the repository root."""
    if not PEROVSKITE_CSV.is_file():
        pytest.skip(f"{PEROVSKITE_CSV} is not here")
    text = (ROOT / "docs" / "spaces.md").read_text()
    block = re.search(r"```toml\n(.*?)```", text, re.S).group(1)
    path = ROOT / f".test-space-{uuid.uuid4().hex[:8]}.toml"
    path.write_text(block)
    try:
        assert cli_main(["space", "show", str(path), "--json", "-q"]) == 0
    finally:
        path.unlink()
    out = json.loads(capsys.readouterr().out)
    assert out["name"] == "titanates" and out["reference_kind"] == "table"
    assert out["n_with_reference"] > 50 and sum(out["classes"]["sizes"]) == out[
        "n_with_reference"]


def test_a_toy_space_runs_through_frontier_study_and_report(toy_files: Path, tmp_path: Path,
                                                           capsys) -> None:
    """The abstraction holds with no code edit: a three-site space of 5, 6 and 7 elements
    (no symmetry, IUPAC groups) through the frontier, the quick study and its report."""
    space = str(toy_files / "table.toml")
    assert cli_main(["frontier", "--space", space, "--models", "marginal,ar", "-c", "1",
                     "-n", "200", "--seeds", "1", "--set", "ar.steps=30", "--json",
                     "-q"]) == 0
    front = json.loads(capsys.readouterr().out)
    assert set(front["models"]) == {"marginal", "ar"}
    out = tmp_path / "study"
    assert cli_main(["study", "--space", space, "--quick", "--seeds", "1", "--models",
                     "marginal,random,ar", "--strategies", "random,marginal",
                     "-o", str(out), "-q"]) == 0
    capsys.readouterr()
    doc = json.loads((out / "results.json").read_text())
    assert doc["space"]["name"] == "toy"
    assert (out / "report.html").is_file()
    assert "toy" in (out / "report.html").read_text()
    # The report is rebuilt from the store alone.
    assert cli_main(["report", str(out), "-q"]) == 0


def test_a_saved_model_samples_its_own_space(toy_files: Path, tmp_path: Path, capsys) -> None:
    """`sample MODEL_DIR --space OTHER` is refused, not silently ignored."""
    m, out = tmp_path / "m", tmp_path / "s.csv"
    space = str(toy_files / "table.toml")
    assert cli_main(["train", "ar", "--space", space, "-o", str(m), "--set", "steps=2",
                     "-q"]) == 0
    assert cli_main(["sample", str(m), "-n", "3", "-c", "1", "--space", "elpasolite",
                     "-o", str(out), "-q"]) == 2
    assert "was trained on the toy space, not elpasolite" in capsys.readouterr().err
    assert not out.exists()
    assert cli_main(["sample", str(m), "-n", "3", "-c", "1", "--space", space,
                     "-o", str(out), "-q"]) == 0
    assert out.read_text().splitlines()[0] == "X,Y,Z"


def test_a_samples_file_of_another_space_says_which(tmp_path: Path) -> None:
    """An elpasolite CSV (A,B,C,D) read as a perovskite one would pass its first two
    columns off as ABO3 compositions; a perovskite CSV read as an elpasolite one gets a
    hint. Both one line, naming the --space to pass."""
    from elpagen import io, spaces

    elp, per = tmp_path / "elp.csv", tmp_path / "per.csv"
    elp.write_text("A,B,C,D\nK,Na,Al,F\n")
    per.write_text("A,B\nSr,Ti\n")
    with pytest.raises(io.SamplesFileError, match="names the sites of the elpasolite space.*"
                       "pass --space elpasolite"):
        io.scan_samples(elp, space=spaces.get("perovskite"))
    with pytest.raises(io.SamplesFileError, match="perovskite space's header; pass --space "
                       "perovskite"):
        io.scan_samples(per, space=spaces.get("elpasolite"))
    assert io.scan_samples(per, space=spaces.get("perovskite")).codes.size == 1
    (tmp_path / "extra.csv").write_text("A,B,energy\nSr,Ti,-3.0\n")  # other columns: fine
    assert io.scan_samples(tmp_path / "extra.csv", space=spaces.get("perovskite")).codes.size == 1
