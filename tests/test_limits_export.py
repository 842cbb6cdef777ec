"""Issue 17, bad input round three: exports and the SMACT screen.

Injection through the samples CSV into exported files, streaming export (memory flat in
the number of rows, disk checked first), ``smact --per-class`` beyond the class size,
warnings for dropped rows, and ``-o -`` (standard output).
"""

from __future__ import annotations

import importlib.util
import io as pyio
import json
import os
import re
import subprocess
import sys
import tracemalloc
import zipfile
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import one_line_error, run

import elpagen
from elpagen.spaces import ELPASOLITE as space

HAVE_EXTRA = all(importlib.util.find_spec(m) is not None for m in ("pymatgen", "ase", "smact"))
needs_extra = pytest.mark.skipif(
    not HAVE_EXTRA, reason="the materials extra is not installed: pip install 'elpagen[materials]'")

SRC = Path(elpagen.__file__).resolve().parents[1]  # the elpagen under test


def code(a: str, b: str, c: str, d: str) -> int:
    return int(space.encode(space.symbols_to_indices([[a, b, c, d]]))[0])


# --------------------------------------------------------------------------- 1. injection

EVIL = "x\n_cell_length_a 99.0\ndata_evil"
#: (sites, model cell of the CSV, model expected in every exported file, seed)
INJECT = [
    (("K", "Na", "Al", "F"), EVIL, "x__cell_length_a_99.0_data_evil", 1),
    (("Na", "Bi", "Cs", "Cl"), 'a "quoted" = b\tc\x00d', "a_quoted_b_c_d", 2),
    (("Al", "Na", "K", "F"), "T", "T", 3),  # extxyz would read a bare T as True
    (("Li", "Na", "K", "Cl"), "3.5", "3.5", 4),  # ... and 3.5 as a float
    (("H", "He", "Li", "F"), "", "cli_x_data_y", 5),  # empty: --model (sanitised too)
    (("Rb", "Na", "K", "Br"), "runs/vae_c1:seed+0@host", "runs/vae_c1:seed+0@host", 6),
]


def _csv_field(s: str) -> str:
    return '"' + s.replace('"', '""') + '"'


@pytest.fixture
def evil_csv(tmp_path):
    p = tmp_path / "evil.csv"
    lines = ["A,B,C,D,model,seed"]
    lines += [",".join(sites) + f",{_csv_field(m)},{seed}" for sites, m, _, seed in INJECT]
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def test_clean_text_rule() -> None:
    from elpagen import materials

    assert materials.clean_text(EVIL) == "x__cell_length_a_99.0_data_evil"
    assert materials.clean_text("  vae  ") == "vae"
    assert materials.clean_text("") == ""
    assert materials.clean_text(" \n\r ") == ""  # only spaces: empty, as if not given
    assert materials.clean_text("\x00\x01") == "_"
    assert materials.clean_text("é") == "_"
    long = materials.clean_text("m" * 1000)
    assert long == "m" * materials.MAX_TEXT
    for s in (EVIL, "a b", 'q"', "k=v", "a\u2028b", "\x1b[31m"):
        assert re.fullmatch(r"[A-Za-z0-9._+\-/:@]+", materials.clean_text(s))


def _read_back(fmt: str, path: Path):
    """(structures, metadata, raw texts) of an export, read with pymatgen, ASE and json."""
    from pymatgen.core import Structure

    if fmt in ("cif", "poscar"):
        with zipfile.ZipFile(path) as z:
            meta = [json.loads(ln) for ln in z.read("metadata.jsonl").decode().splitlines()]
            texts = [z.read(m["file"]).decode() for m in meta]
            assert len(z.namelist()) == len(meta) + 1
        if fmt == "cif":
            from pymatgen.io.cif import CifParser

            structs = []
            for t in texts:
                blocks = [ln for ln in t.splitlines() if ln.startswith("data_")]
                assert len(blocks) == 1, t[:400]
                found = CifParser.from_str(t).parse_structures(primitive=False)
                assert len(found) == 1
                structs.append(found[0])
            return structs, meta, texts
        from ase.io import read
        from pymatgen.io.vasp import Poscar

        for t in texts:
            assert len(read(pyio.StringIO(t), format="vasp")) == 40
        return [Poscar.from_str(t).structure for t in texts], meta, texts
    if fmt == "extxyz":
        from ase.io import read
        from pymatgen.io.ase import AseAtomsAdaptor

        frames = read(path, index=":", format="extxyz")
        meta = [dict(f.info) for f in frames]
        for m in meta:
            m.update(zip(space.site_names, m.pop("sites"), strict=True))
        return [AseAtomsAdaptor.get_structure(f) for f in frames], meta, []
    lines = [json.loads(ln) for ln in path.read_text().splitlines()]
    return [Structure.from_dict(d["structure"]) for d in lines], lines, []


@needs_extra
@pytest.mark.parametrize("fmt", ["cif", "poscar", "extxyz", "jsonl"])
def test_export_neutralises_injected_metadata(capsys, tmp_path, evil_csv, cache_dir,
                                              fmt) -> None:
    out = tmp_path / f"out.{fmt}"
    rc, _, err = run(capsys, "export", str(evil_csv), "--format", fmt, "-o", str(out),
                     "--cache-dir", str(cache_dir), "-q", "--model", "cli\nx data_y")
    assert rc == 0, err
    structs, meta, texts = _read_back(fmt, out)
    assert len(structs) == len(meta) == len(INJECT)  # exactly one structure per row
    for s, m, (sites, _, model, seed) in zip(structs, meta, INJECT, strict=True):
        assert (m["A"], m["B"], m["C"], m["D"]) == sites
        assert m["model"] == model and isinstance(m["model"], str)
        assert m["seed"] == seed
        assert len(s) == 40 and s.lattice.a == pytest.approx(m["lattice_a_angstrom"], abs=1e-5)
        assert s.lattice.a != pytest.approx(99.0)
    if fmt == "cif":
        for t, (_, _, model, _) in zip(texts, INJECT, strict=True):
            head = t[:t.index("\ndata_")]
            assert all(ln.startswith("# ") for ln in head.splitlines())
            assert f"# model: {model}\n" in head + "\n"
    warn = [ln for ln in err.splitlines() if ln.startswith("warning: ")]
    assert any("sanitised" in w and "line 2" in w for w in warn), err


@needs_extra
def test_export_refuses_bad_numeric_metadata(capsys, tmp_path, cache_dir) -> None:
    base = ("--format", "jsonl", "--cache-dir", str(cache_dir), "-q")
    p = tmp_path / "s.csv"
    p.write_text("A,B,C,D,seed\nK,Na,Al,F,1\nNa,Bi,Cs,Cl,\"1\n_x\"\n")
    one_line_error(capsys, "export", str(p), "-o", str(tmp_path / "o.jsonl"), *base,
                   match=("line 3", "seed", "integer"))
    p.write_text("A,B,C,D,target_class\nK,Na,Al,F,1\n\nNa,Bi,Cs,Cl,11\n")
    one_line_error(capsys, "export", str(p), "-o", str(tmp_path / "o.jsonl"), *base,
                   match=("line 4", "target_class", "1 to 10"))
    assert not (tmp_path / "o.jsonl").exists()


# --------------------------------------------------------------------------- 2. streaming


def _peak(codes: np.ndarray, path: Path) -> int:
    from elpagen import materials

    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        summary = materials.export(codes, "jsonl", path, model="m", seed=1, space=space)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert summary["n_structures"] == len(np.unique(codes))
    return peak


@needs_extra
def test_export_memory_is_flat_in_rows(tmp_path) -> None:
    from elpagen import materials

    codes = np.random.default_rng(0).choice(space.all_codes(), size=300, replace=False)
    materials.export(codes[:10], "jsonl", tmp_path / "warm.jsonl", space=space)  # warm up
    small = _peak(codes[:30], tmp_path / "s.jsonl")
    big = _peak(np.repeat(codes, 3), tmp_path / "b.jsonl")  # 900 rows, 300 structures
    # 270 more structures held at once would be ~10 MB; streamed, only the arrays grow.
    assert big < small + 1_000_000, (small, big)


@needs_extra
@pytest.mark.parametrize("fmt", ["cif", "poscar", "extxyz", "jsonl"])
def test_export_builds_one_structure_at_a_time(tmp_path, monkeypatch, fmt) -> None:
    import weakref

    from elpagen import materials

    real, refs, most = materials.structure, [], [0]

    def counting(*a, **k):
        refs[:] = [r for r in refs if r() is not None]
        most[0] = max(most[0], len(refs))  # structures still alive when one more is built
        s = real(*a, **k)
        refs.append(weakref.ref(s))
        return s

    monkeypatch.setattr(materials, "structure", counting)
    codes = np.random.default_rng(1).choice(space.all_codes(), size=60, replace=False)
    summary = materials.export(codes, fmt, tmp_path / f"o.{fmt}", primitive=fmt == "poscar",
                               space=space)
    assert summary["n_structures"] == 60 and most[0] <= 1, most


@needs_extra
def test_export_checks_disk_space_first(capsys, tmp_path, samples_rows, cache_dir,
                                        monkeypatch) -> None:
    import shutil

    from elpagen import materials

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**6, 10**6 - 1000, 1000))
    out = tmp_path / "o.cif.zip"
    one_line_error(capsys, "export", str(samples_rows), "--format", "cif", "-o", str(out),
                   "--cache-dir", str(cache_dir), "-q", match=("disk", "free"))
    assert not out.exists()
    est = materials.estimate(200_000, "jsonl")
    assert 1e9 < est["bytes"] < 4e9 and est["seconds"] > 60


@needs_extra
def test_a_zip_directory_that_cannot_fit_in_memory_is_refused(tmp_path, monkeypatch) -> None:
    from elpagen import materials, memory

    monkeypatch.setattr(memory, "available_memory", lambda: 100_000_000)
    with pytest.raises(memory.MemoryLimitError, match="extxyz or jsonl"):
        materials.check_disk(tmp_path / "o.zip", "cif", 1_000_000)
    materials.check_disk(tmp_path / "o.zip", "cif", 1_000)
    materials.check_disk(tmp_path / "o.jsonl", "jsonl", 1_000_000)


@pytest.fixture
def samples_rows(tmp_path):
    p = tmp_path / "rows.csv"
    p.write_text("A,B,C,D\nK,Na,Al,F\nNa,Bi,Cs,Cl\nK,Na,Al,F\n")
    return p


@needs_extra
def test_export_says_how_many_were_written(capsys, tmp_path, samples_rows, cache_dir) -> None:
    out = tmp_path / "o.jsonl"
    rc, _, err = run(capsys, "export", str(samples_rows), "--format", "jsonl", "-o", str(out),
                     "--cache-dir", str(cache_dir), "-q")
    assert rc == 0, err
    assert "wrote 2 structures" in err and "of 3 valid samples" in err, err
    assert "1 repeat" in err


# --------------------------------------------------------------------------- 3. smact


@needs_extra
def test_smact_per_class_beyond_the_class_uses_the_whole_space(capsys, tmp_path, cache_dir,
                                                               monkeypatch) -> None:
    from elpagen import smact_screen

    monkeypatch.setattr(smact_screen, "_screen_one", lambda c, sp: c % 3 == 0)  # stand-in
    monkeypatch.setattr(smact_screen, "_KNOWN", {})
    table = tmp_path / "smact_table.npz"
    monkeypatch.setattr(smact_screen, "table_path", lambda cache_dir=None, *, space: table)
    rc, out, err = run(capsys, "smact", "--per-class", "100000000000", "--json",
                       "--cache-dir", str(cache_dir))
    assert rc == 0, err
    assert table.is_file()  # the whole-space table was built and cached
    res = json.loads(out)
    assert res["space_mode"].startswith("whole space")
    notes = [ln for ln in err.splitlines() if "--per-class" in ln]
    assert len(notes) == 1 and "100,000,000,000" in notes[0] and "whole space" in notes[0]
    assert "5 to 17 minutes" in err
    assert "Traceback" not in err
    # The library says the same, and an ordinary N keeps sampling.
    sizes = np.array([50, 70])
    assert smact_screen.whole_space_instead(10**11, sizes) is True
    assert smact_screen.whole_space_instead(10**30, sizes) is True  # beyond int64
    assert smact_screen.whole_space_instead(70, sizes) is True  # every class entire
    assert smact_screen.whole_space_instead(40, sizes) is True  # 80 of 120: over half
    assert smact_screen.whole_space_instead(29, sizes) is False  # 58 of 120


# --------------------------------------------------------------------------- 4. dropped rows


def test_scan_samples_gives_line_numbers(tmp_path) -> None:
    from elpagen import io

    p = tmp_path / "s.csv"
    p.write_text('A,B,C,D,model\nK,Na,Al,F,"two\nlines"\n\nXx,Na,K,F,a\nNa,Na,K,F,b\n'
                 "K,Na\nNa,Bi,Cs,Cl,c\n")
    scan = io.scan_samples(p, columns=("model",), space=space)
    assert scan.n_rows == 5 and scan.lines.tolist() == [2, 8]
    assert scan.extra == {"model": ["two\nlines", "c"]}
    assert scan.invalid == {"unknown element": 1, "repeated element": 1, "fewer than 4 fields": 1}
    assert scan.first_invalid_line == 5
    codes, n_rows = io.read_samples(p, space=space)
    assert codes.tolist() == [code("K", "Na", "Al", "F"), code("Na", "Bi", "Cs", "Cl")]
    assert n_rows == 5


@needs_extra
def test_export_warns_about_dropped_rows(capsys, tmp_path, cache_dir) -> None:
    p = tmp_path / "s.csv"
    p.write_text("A,B,C,D,model\nK,Na,Al,F,vae\nXx,Na,K,F,vae\nNa,Na,K,F,vae\n"
                 "K,Na,Al,F,gan\nK,Na,Al,F,vae\n")
    out = tmp_path / "o.jsonl"
    rc, _, err = run(capsys, "export", str(p), "--format", "jsonl", "-o", str(out),
                     "--cache-dir", str(cache_dir), "-q")
    assert rc == 0, err
    warn = [ln for ln in err.splitlines() if ln.startswith("warning: ")]
    assert len(warn) == 2, err
    assert "2 of 5 rows" in warn[0] and "line 3" in warn[0], warn
    assert "1 row" in warn[1] and "line 5" in warn[1] and "line 2" in warn[1], warn
    assert json.loads(out.read_text())["model"] == "vae"


# --------------------------------------------------------------------------- 5. -o -


def test_sample_to_standard_output(capsys, tmp_path, monkeypatch, cache_dir) -> None:
    monkeypatch.chdir(tmp_path)
    rc, out, err = run(capsys, "sample", "random", "-c", "1", "-n", "500", "-o", "-",
                       "--cache-dir", str(cache_dir))
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0] == "A,B,C,D" and len(lines) == 501
    assert all(len(ln.split(",")) == 4 for ln in lines)
    assert not (tmp_path / "-").exists()
    assert "wrote 500 valid samples to standard output" in err


def test_sample_to_a_closed_pipe_ends_quietly(tmp_path) -> None:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "elpagen.cli", "sample", "random", "-c", "1", "-n", "500000",
         "-o", "-", "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        cwd=tmp_path)
    first = proc.stdout.readline()
    proc.stdout.close()  # like `| head -1`
    err = proc.stderr.read().decode()
    rc = proc.wait(timeout=120)
    assert first == b"A,B,C,D\n"
    assert "Traceback" not in err and "Exception ignored" not in err, err
    assert rc == 0, err
    assert not (tmp_path / "-").exists()


@needs_extra
@pytest.mark.parametrize("fmt", ["extxyz", "jsonl"])
def test_export_to_standard_output(capsys, tmp_path, samples_rows, cache_dir, monkeypatch,
                                   fmt) -> None:
    monkeypatch.chdir(tmp_path)
    rc, out, err = run(capsys, "export", str(samples_rows), "--format", fmt, "-o", "-",
                       "--cache-dir", str(cache_dir))
    assert rc == 0, err
    assert not (tmp_path / "-").exists()
    assert "to standard output" in err
    if fmt == "jsonl":
        rows = [json.loads(ln) for ln in out.splitlines()]
    else:
        from ase.io import read

        rows = read(pyio.StringIO(out), index=":", format="extxyz")
    assert len(rows) == 2


@needs_extra
def test_export_zip_or_json_to_standard_output_is_refused(capsys, tmp_path, samples_rows,
                                                          cache_dir, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # a file named - (the old behaviour) lands here
    base = ("--cache-dir", str(cache_dir), "-q")
    for fmt in ("cif", "poscar"):
        one_line_error(capsys, "export", str(samples_rows), "--format", fmt, "-o", "-", *base,
                       match=("standard output", "extxyz"))
    one_line_error(capsys, "export", str(samples_rows), "--format", "jsonl", "-o", "-",
                   "--json", *base, match=("--json", "-o -"))
    assert not (tmp_path / "-").exists()
