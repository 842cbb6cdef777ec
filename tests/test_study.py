"""The study runner, its store and its report (`elpagen study --quick`, `elpagen report`).

One quick study runs per module: first interrupted (Ctrl-C in its 4th unit), then resumed to
the end. The other tests read it, rerun it, rebuild its report, or point new runs at it.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import sqlite3
from pathlib import Path
from types import SimpleNamespace

import pytest

from elpagen import catalogue, cli, metrics, report, study
from elpagen.spaces import ELPASOLITE
from elpagen.study import store, unit
from elpagen.study.plan import frontier_grid

QUICK = ["--quick", "-q", "--seeds", "2"]


def _rows(d: Path) -> list[tuple]:
    with sqlite3.connect(f"file:{d / store.STORE_NAME}?mode=ro", uri=True) as c:
        return c.execute("SELECT key, status, payload, seconds, finished FROM units "
                         "ORDER BY key").fetchall()


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def run(tmp_path_factory, data_path, cache_dir, reference):
    """A quick study, interrupted after 3 stored units and then resumed to the end."""
    d = tmp_path_factory.mktemp("study") / "out"
    common = ["--data", str(data_path), "--cache-dir", str(cache_dir), "-o", str(d)]
    calls = {"n": 0}
    original = study.Runner.run

    def ctrl_c_in_unit_4(self, unit, gen):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return original(self, unit, gen)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(study.Runner, "run", ctrl_c_in_unit_4)
        assert cli.main(["study", *QUICK, *common]) == cli.EXIT_INTERRUPTED
    interrupted = _rows(d)
    assert cli.main(["study", *QUICK, *common]) == 0
    return SimpleNamespace(dir=d, common=common, interrupted=interrupted)


def test_interrupt_keeps_finished_units_and_resume_skips_them(run):
    assert len(run.interrupted) == 3  # the unit in progress (the 4th) was lost, no more
    after = {r[0]: r for r in _rows(run.dir)}
    for row in run.interrupted:
        assert after[row[0]] == row  # not redone: same payload, same finish time
    with store.Store.open_readonly(run.dir) as s:
        runs = s.runs()
        planned = len(study.plan(s.settings()))
    assert [r["status"] for r in runs] == ["interrupted", "finished"]
    assert runs[1]["new_units"] == planned - 3
    assert len(after) == planned


def test_report_and_figures_exist(run):
    html = (run.dir / "report.html").read_text()
    for name in report.FIGURES:
        p = run.dir / name
        assert p.is_file() and p.stat().st_size > 1000, name
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert f"src='{name}'" in html, name
    assert "ideal coverage bound" in html
    assert (run.dir / "report.html").stat().st_size > 0


def test_results_json_matches_schema(run):
    r = json.loads((run.dir / "results.json").read_text())
    assert report.check_results(r) == []
    assert r["complete"] is True
    assert r["progress"]["done"] == r["progress"]["planned"]
    assert r["settings"]["quick"] is True and r["settings"]["seeds"] == 2
    assert [f["file"] for f in r["figures"]] == list(report.FIGURES)
    for exp in ("class1", "class5"):
        for m in catalogue.names(study=True):
            me = r["experiments"][exp]["models"][m]
            assert me["n_fits"] == 2
            assert [p["seed"] for p in me["per_seed"]] == [0, 1]
    studied = set(catalogue.names(study=True))
    assert {"ar", "gfn", "surrogate"} <= set(r["settings"]["models"]) == studied
    assert {"ar", "gfn", "surrogate"} <= set(r["settings"]["model_configs"])
    assert r["settings"]["model_configs"]["surrogate"]["steps"] == 1000  # the quick budget
    for m in catalogue.names(study=True):
        assert set(r["discovery"]["class1"][m]) >= {"n_samples", "novel", "repeated"}
        # vae and gan (no known distribution) draw N/2 at class 5, coverage extrapolated to N.
        drawn = r["settings"]["samples"]["class5"] // (2 if m in ("vae", "gan") else 1)
        assert r["discovery"]["class5"][m]["n_samples"][-1] == drawn
        sizes = [b["size"] for b in r["experiments"]["training_size"]["models"][m]["by_size"]]
        assert sizes == [1000, r["settings"]["n_train"]]
    # The schema check does notice a broken document.
    del r["experiments"]["class1"]["models"]["vae"]["summary"]["precision"]
    assert any("precision" in p for p in report.check_results(r))
    del r["frontier"]["class5"]["models"]["ar"]["hypervolume"]
    assert any(p.startswith("frontier.class5.models.ar") for p in report.check_results(r))


def test_frontier_of_classes_1_and_5(run):
    """Every model's knob sweep of the class-1 and class-5 fits, summarised per class; the
    point at the fitted knob value repeats the class-1 unit (same fit, same sampling seed)."""
    from elpagen.harness.frontier import non_dominated

    r = json.loads((run.dir / "results.json").read_text())
    samples = r["settings"]["samples"]
    for c in (1, 5):
        fr = r["frontier"][f"class{c}"]
        assert fr["target_class"] == c and fr["samples"] == samples[f"frontier_class{c}"]
        assert set(fr["published"]) == ({"vae", "gan", "rl"} if c == 1 else set())
        for m in catalogue.names(study=True):
            me = fr["models"][m]
            cls = catalogue.get(m).cls
            assert me["n_fits"] == 2 and me["seeds"] == [0, 1] and me["knob"] == cls.knob
            knobs = [p["knob"] for p in me["points"]]
            if cls.knob is None:
                assert knobs == [None]
            elif c == 5 and m in ("vae", "gan"):  # the reduced grid (docs/study.md)
                assert knobs == sorted({*cls.knob_grid_reduced, cls.knob_default})
                assert r["settings"]["frontier5_knobs"][m] == list(cls.knob_grid_reduced)
            else:
                assert knobs == sorted({*cls.knob_grid, cls.knob_default})
            assert me["screening"] is (m == "surrogate")
            hv = me["hypervolume"]
            assert len(hv["per_seed"]) == 2 and 0 <= hv["mean"] <= 1
            xy = [(p["precision"]["mean"], p["coverage"]["mean"]) for p in me["points"]]
            assert me["front"] == [knobs[i] for i in non_dominated(xy)]
    assert r["frontier"]["class1"]["published"]["vae"] == {"precision": 0.83, "coverage": 0.54}
    with store.Store.open_readonly(run.dir) as s:
        units = s.units("frontier")
    assert len(units) == 2 * 2 * len(catalogue.names(study=True))
    for u in units:  # the unit's metrics are its point at the fitted knob value
        p = u["payload"]
        point = next(x for x in p["points"] if x["knob"] == p["default"])
        assert p["metrics"]["precision"] == point["precision"]
        assert p["metrics"]["n_valid"] == samples[f"frontier_class{u['target_class']}"]
        # The class-5 frontier of a model with a known distribution is its exact
        # expectation (tests/test_study_expected.py checks the numbers); vae's and gan's are
        # drawn at N/2, coverage extrapolated to N (issue 28); class 1 is sampled.
        c5 = u["target_class"] == 5
        exact = c5 and u["model"] not in ("vae", "gan")
        want = "expected" if exact else ("extrapolated" if c5 else "sampled")
        assert p["estimate"] == want, u["key"]
        assert r["frontier"][f"class{u['target_class']}"]["models"][u["model"]][
            "estimate"] == p["estimate"]
    fit_keys = {u["payload"]["fit_key"] for u in units}
    assert "vae/all/nfull" in fit_keys and {"rl/c1/nfull", "rl/c5/nfull"} <= fit_keys
    html = (run.dir / "report.html").read_text()
    assert "Precision-coverage frontiers" in html and "src='frontier.png'" in html
    assert "hypervolume, class 5" in html
    assert "surrogate (screening, not generation)" in html


def test_rerun_skips_every_finished_unit(run, capsys, monkeypatch):
    from elpagen import reference as reference_module

    def forbidden(*a, **k):
        raise AssertionError("a finished study must not fit or load the oracle again")

    monkeypatch.setattr(reference_module, "load_or_build", forbidden)
    monkeypatch.setattr(unit, "fit", forbidden)
    before = _rows(run.dir)
    assert cli.main(["study", *QUICK, *run.common]) == 0
    assert "0 new this run" in capsys.readouterr().out
    assert _rows(run.dir) == before


def test_report_rebuilds_from_the_store_alone(run, monkeypatch):
    from elpagen import reference as reference_module

    def no_oracle(*a, **k):
        raise AssertionError("the report must not need the reference energies")

    monkeypatch.setattr(reference_module, "load_or_build", no_oracle)
    old = json.loads((run.dir / "results.json").read_text())
    for name in (*report.FIGURES, "report.html", "results.json"):
        (run.dir / name).unlink()
    assert cli.main(["report", str(run.dir)]) == 0
    for name in (*report.FIGURES, "report.html", "results.json"):
        assert (run.dir / name).stat().st_size > 0, name
    new = json.loads((run.dir / "results.json").read_text())
    for key in ("experiments", "discovery", "settings", "energy_histograms"):
        assert new[key] == old[key]


def test_report_of_a_store_without_results(run, tmp_path):
    """An interrupted first run (no reference, no unit yet) still gives a valid report."""
    with store.Store.open_readonly(run.dir) as s:
        settings = s.settings()
    with store.Store.open(tmp_path, settings):
        pass
    summary = report.write_report(tmp_path)
    assert summary["done"] == 0 and not summary["complete"]
    r = json.loads((tmp_path / "results.json").read_text())
    assert report.check_results(r) == []
    assert "Incomplete" in (tmp_path / "report.html").read_text()
    for name in report.FIGURES:
        assert (tmp_path / name).stat().st_size > 0


def test_other_settings_are_refused(run, capsys):
    before = _rows(run.dir)
    assert cli.main(["study", "--quick", "-q", "--seeds", "3", *run.common]) == cli.EXIT_USAGE
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "seeds" in err and "new -o DIR" in err
    assert _rows(run.dir) == before


def test_a_store_written_before_the_reduced_grid_resumes_with_the_full_one(
        run, tmp_path, capsys, monkeypatch):
    """A store whose settings lack ``frontier5_knobs`` (written before it, or with
    ``--frontier5-knobs full``) resumes as it is, nothing redone; asking for ``reduced`` on
    it is refused in one line, the store untouched."""
    import shutil

    d = tmp_path / "old"
    d.mkdir()
    shutil.copy(run.dir / store.STORE_NAME, d / store.STORE_NAME)
    with sqlite3.connect(d / store.STORE_NAME) as c:
        settings = json.loads(c.execute("SELECT value FROM meta WHERE key = 'settings'")
                              .fetchone()[0])
        assert settings.pop("frontier5_knobs")
        c.execute("UPDATE meta SET value = ? WHERE key = 'settings'", (json.dumps(settings),))
    common = [*run.common[:-1], str(d)]
    before = _rows(d)
    monkeypatch.setattr(unit, "fit", lambda *a, **k: pytest.fail("nothing to refit"))
    assert cli.main(["study", *QUICK, *common]) == 0
    assert "0 new this run" in capsys.readouterr().out
    assert _rows(d) == before
    assert cli.main(["study", *QUICK, "--frontier5-knobs", "reduced", *common]) == cli.EXIT_USAGE
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "frontier5_knobs" in err and "new -o DIR" in err
    assert _rows(d) == before


def test_a_running_study_locks_its_directory(run, capsys):
    before = _rows(run.dir)
    with store.DirLock(run.dir):
        assert cli.main(["study", *QUICK, *run.common]) == cli.EXIT_USAGE
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"in use by another elpagen study (pid {os.getpid()})" in err
    assert _rows(run.dir) == before


def test_store_of_another_format_version_is_refused_untouched(tmp_path, data_path, capsys):
    d = tmp_path / "old"
    d.mkdir()
    with sqlite3.connect(d / store.STORE_NAME) as c:
        c.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        c.executemany("INSERT INTO meta VALUES (?, ?)",
                      [("format", store.FORMAT), ("format_version", "999"), ("settings", "{}")])
    c.close()
    sha = _sha(d / store.STORE_NAME)
    assert cli.main(["study", *QUICK, "--data", str(data_path), "-o", str(d)]) == cli.EXIT_USAGE
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "incompatible" in err and "new -o DIR" in err
    assert cli.main(["report", str(d)]) == cli.EXIT_USAGE
    assert "incompatible" in capsys.readouterr().err
    assert _sha(d / store.STORE_NAME) == sha
    assert sorted(p.name for p in d.iterdir()) == [store.LOCK_NAME, store.STORE_NAME]


def test_bad_directories_are_refused(tmp_path, data_path, capsys):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    assert cli.main(["study", *QUICK, "--data", str(data_path), "-o", str(foreign)]) == 2
    assert "holds no elpagen study" in capsys.readouterr().err
    assert (foreign / "notes.txt").read_text() == "mine"
    assert cli.main(["report", str(tmp_path / "missing")]) == 2
    assert "holds no elpagen study" in capsys.readouterr().err
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / store.STORE_NAME).write_bytes(b"not a database at all" * 100)
    assert cli.main(["report", str(garbage)]) == 2
    assert "not a readable elpagen study store" in capsys.readouterr().err


def test_disk_full_keeps_the_store_and_the_old_report(run, monkeypatch, capsys):
    before = _rows(run.dir)
    html = (run.dir / "report.html").read_bytes()

    def enospc(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store.os, "fsync", enospc)
    # -q: without it the report's progress lines come first on stderr.
    assert cli.main(["report", "-q", str(run.dir)]) == cli.EXIT_USAGE
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "disk full" in err
    monkeypatch.undo()
    assert _rows(run.dir) == before
    assert (run.dir / "report.html").read_bytes() == html
    assert not [p for p in run.dir.iterdir() if p.name.endswith(".tmp")]


def test_full_disk_in_a_store_write_changes_nothing(tmp_path):
    with store.Store.open(tmp_path, {"a": 1}) as s:
        s.put_artifact("x", {"v": 1})
        with pytest.raises(store.DiskFullError, match="disk full"):
            with s.transaction() as c:
                c.execute("INSERT INTO artifacts VALUES ('y', '{}', 'now')")
                raise sqlite3.OperationalError("database or disk is full")
        assert s.artifact("y") is None and s.artifact("x") == {"v": 1}


def test_missing_oracle_that_cannot_be_built(tmp_path, data_path, monkeypatch, capsys):
    from elpagen import reference as reference_module

    def fail(*a, **k):
        raise MemoryError("cannot allocate 3.6 GB")

    monkeypatch.setattr(reference_module, "load_or_build", fail)
    empty = tmp_path / "cache"
    d = tmp_path / "s"
    args = ["study", "--quick", "--data", str(data_path), "--cache-dir", str(empty), "-o", str(d)]
    assert cli.main(args) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "not cached" in err  # said in the log before building
    last = err.strip().splitlines()[-1]
    assert last.startswith("error:") and "elpagen reference --cache-dir" in last


def test_frontier5_samples_bounds_or_drops_the_class5_frontier():
    def settings(**kw):
        return study.make_settings("fast", 2, False, "0" * 64, 10_590, {}, **kw)

    assert settings()["samples"]["frontier_class5"] == 25_000_000
    s = settings(frontier5_samples=100_000)
    assert s["samples"]["frontier_class5"] == 100_000
    assert {u.n_samples for u in study.plan(s) if u.key.startswith("frontier/vae/c5")} == {
        100_000}
    none = study.plan(settings(frontier5_samples=0))
    assert not [u for u in none if u.experiment == "frontier" and u.target_class == 5]
    assert [u for u in none if u.experiment == "frontier" and u.target_class == 1]
    for bad in (-1, 2.5, True):
        with pytest.raises(study.StudyError, match="frontier5-samples"):
            settings(frontier5_samples=bad)


def test_class5_frontier_of_vae_and_gan_sweeps_the_reduced_grid():
    """vae and gan sweep their knob_grid_reduced at class 5 by default; class 1 and every other
    model keep their whole grid; ``full`` (and a store written before: no setting) too."""
    def settings(**kw):
        return study.make_settings("fast", 3, False, "0" * 64, 10_590, {}, **kw)

    reduced = {"vae": (0.25, 0.5, 0.75, 1.0, 1.5), "gan": (0.25, 0.5, 1.0, 1.25, 2.0)}
    s = settings()
    assert s["frontier5_knobs"] == {m: list(v) for m, v in reduced.items()}
    grids = {u.key: frontier_grid(s["frontier5_knobs"], u) for u in study.plan(s)}
    for m in catalogue.names(study=True):
        for seed in (0, 1, 2):
            assert grids[f"frontier/{m}/c5/nfull/s{seed}"] == reduced.get(m)
            assert grids[f"frontier/{m}/c1/nfull/s{seed}"] is None  # the model's own grid
            assert grids[f"class5/{m}/c5/nfull/s{seed}"] is None
    for m in ("vae", "gan"):  # a subset of the grid, with the fitted value
        cls = catalogue.get(m).cls
        assert set(cls.knob_grid_reduced) < set(cls.knob_grid)
        assert cls.knob_default in cls.knob_grid_reduced
    # full: nothing recorded, the settings of a study written before (which resumes so).
    full = settings(frontier5_knobs="full")
    assert "frontier5_knobs" not in full
    assert {k: v for k, v in s.items() if k != "frontier5_knobs"} == full
    assert "frontier5_knobs" not in settings(frontier5_samples=0)  # no class-5 frontier
    assert "frontier5_knobs" not in settings(models=["rl", "ar"])
    with pytest.raises(study.StudyError, match="frontier5-knobs"):
        settings(frontier5_knobs="half")
    from elpagen.study.config import resumed_frontier5_knobs as resumed

    assert resumed(None, None) == "reduced" and resumed(None, "full") == "full"
    assert resumed(full, None) == "full" and resumed(s, None) == "reduced"
    assert resumed(full, "reduced") == "reduced"  # asked: the store then refuses the change


def test_frontier_unit_sweeps_the_grid_of_its_settings(train, reference):
    """A frontier unit sweeps its model's grid in UnitInputs.frontier5_knobs at class 5 (plus
    the fitted value), its whole grid at class 1 or without one (marginal: by expectation)."""
    import numpy as np

    from elpagen.harness.frontier import knob_values
    from elpagen.harness.trial import fit_one
    from elpagen.study.plan import Unit

    gen = fit_one("marginal", train, 0, None)

    def knobs(c: int, grids: dict) -> list:
        inputs = unit.UnitInputs(reference.classes, reference.energies, np.arange(3.0), 1,
                                 frontier5_knobs=grids)
        payload, status = unit._frontier_unit(Unit("frontier", "marginal", c, 0, 0, 300), gen,
                                              train, inputs, {})
        assert status == "ok"
        return [p["knob"] for p in payload["points"]]

    reduced = {"marginal": (0.5, 2.0)}
    assert knobs(5, reduced) == sorted({0.5, 2.0, float(gen.knob_value)})
    assert knobs(5, {"vae": (0.5, 2.0)}) == knobs(5, {}) == knob_values(gen)
    assert len(knob_values(gen)) > 3
    assert knobs(1, reduced) == knob_values(gen)


def test_plan_and_cost_formula():
    s = {"seed_values": [0, 1], "models": list(catalogue.names(study=True)),
         "train_sizes": [1000],
         "samples": {"class1": 10, "class5": 20, "curve_class1": 30, "training_size": 10}}
    n = len(catalogue.names(study=True))
    # A store written before the frontier existed plans no frontier units.
    assert len(study.plan(s)) == n * 2 + n + n * 2 + n * 2
    s["samples"].update(frontier_class1=10, frontier_class5=20)
    units = study.plan(s)
    keys = [u.key for u in units]
    assert len(keys) == len(set(keys)) == n * 2 + n + n * 2 + n * 2 + 2 * n * 2
    k = {u.key: u for u in units}
    assert unit.fit_key(k["class1/vae/c1/nfull/s0"]) == unit.fit_key(k["class5/vae/c5/nfull/s0"])
    assert unit.fit_key(k["class1/rl/c1/nfull/s0"]) != unit.fit_key(k["class5/rl/c5/nfull/s0"])
    for m in catalogue.names(study=True):  # the frontier samples the fits of class1 and class5
        for c in (1, 5):
            assert (unit.fit_key(k[f"frontier/{m}/c{c}/nfull/s1"])
                    == unit.fit_key(k[f"class{c}/{m}/c{c}/nfull/s1"]))
    assert k["frontier/ar/c1/nfull/s0"].n_samples == 10
    assert k["frontier/gfn/c5/nfull/s0"].n_samples == 20
    assert keys[-1].startswith("frontier/") and "/c5/" in keys[-1]  # the longest runs last
    assert (unit.unit_sample_seed(k["curve1/vae/c1/nfull/s0"])
            != unit.unit_sample_seed(k["class1/vae/c1/nfull/s0"]))
    c = metrics.cost_of_discovery(n_unique=1000, found=50, n_class=4226, n_space=1_974_024)
    assert c["random_checks"] == pytest.approx(50 * 1_974_025 / 4227)
    assert c["ratio"] == pytest.approx(c["random_checks"] / 1000)
    assert c["ratio_with_training"] == c["ratio"]  # no training set charged
    # The paper's yardstick charges the training set too: with 21,112 training compositions
    # and 1,000 unique generations, 50 class-1 finds cost 50 * 1,974,025 / 4,227 = 23,350.2
    # random checks, i.e. 23,350.2 / 22,112 = 1.056 (against 23.35 without the training set).
    c = metrics.cost_of_discovery(n_unique=1000, found=50, n_class=4226, n_space=1_974_024,
                                n_train=21_112)
    assert c["n_train"] == 21_112 and c["n_checks"] == 1000
    assert c["ratio"] == pytest.approx(23.3502, abs=1e-4)
    assert c["ratio_with_training"] == pytest.approx(23_350.2 / 22_112, rel=1e-5)
    # The paper's own numbers: ~1.22 M random checks / (4,500 + 21,112) = 48 ("a factor of
    # 50"); the 1,000-composition subset: 220,000 / (1,000 + 1,000) = 110 ("of 100").
    for random_checks, n_unique, n_train, factor in ((1.22e6, 4_500, 21_112, 48),
                                                      (220_000, 1_000, 1_000, 110)):
        n_c = 3_933
        found = round(random_checks * (n_c + 1) / (ELPASOLITE.n_space + 1))
        c = metrics.cost_of_discovery(n_unique, found, n_c, ELPASOLITE.n_space, n_train=n_train)
        assert c["ratio_with_training"] == pytest.approx(factor, rel=0.01)
    assert study.training_spent("random", 21_112) == 0
    assert study.training_spent("gan", 21_112) == 21_112


def test_cost_ratios_in_results_json(run):
    r = json.loads((run.dir / "results.json").read_text())
    cost = r["experiments"]["cost"]
    assert "ratio_with_training" in cost["formula"]
    assert cost["formulas"]["ratio_with_training"] == "random_checks / (n_train + n_checks)"
    n_train = r["settings"]["n_train"]
    for m in catalogue.names(study=True):
        rows = cost["models"][m]["per_seed"]
        assert len(rows) == 2
        for row in rows:
            spent = 0 if m == "random" else n_train  # random screening learns nothing
            assert row["n_train"] == spent
            assert row["ratio"] == pytest.approx(row["random_checks"] / row["n_checks"])
            assert row["ratio_with_training"] == pytest.approx(
                row["random_checks"] / (spent + row["n_checks"]))
        s = cost["models"][m]["summary"]
        assert s["ratio_with_training"]["mean"] == pytest.approx(
            sum(x["ratio_with_training"] for x in rows) / 2)
    html = (run.dir / "report.html").read_text()
    assert "ratio_with_training = random / (n<sub>train</sub> + n<sub>checks</sub>)" in html


def test_cost_of_units_stored_before_ratio_with_training():
    """A store written before ratio_with_training existed gets it from its stored numbers."""
    old = {"n_checks": 4000, "found": 2000, "random_checks": 1_000_000.0, "ratio": 250.0,
           "hit_rate": 0.5}
    for model, spent in (("gan", 21_112), ("random", 0)):
        u = {"model": model, "seed": 0, "payload": {"cost": old, "n_train": 21_112}}
        row = report.cost_row(u, {"n_train": 21_112})
        assert row["n_train"] == spent
        assert row["ratio_with_training"] == pytest.approx(1_000_000 / (spent + 4000))
        assert row["ratio"] == 250.0


def test_a_killed_run_is_marked_interrupted_on_resume(run, tmp_path, capsys):
    """A run row left open by a process that died (kill -9) becomes interrupted, end unknown."""
    import shutil
    import socket
    import subprocess
    import sys

    d = tmp_path / "copy"
    shutil.copytree(run.dir, d)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # its pid is now free: the process is gone
    with store.Store.open_readonly(d) as s:
        settings = s.settings()
    with store.Store.open(d, settings) as s:
        # What a killed run leaves: its start, no finish. One with pid and host (this
        # version), one without (stores written before the host was recorded).
        killed = s.start_run({"pid": dead.pid, "host": socket.gethostname(),
                              "status": "running", "new_units": 0})
        legacy = s.start_run({"pid": 1, "status": "running", "new_units": 0})
    # Before any resume, the report already knows the first one is gone (no such pid here);
    # of the second nothing is known.
    report.write_report(d)
    runs = {x["id"]: x for x in json.loads((d / "results.json").read_text())["runs"]}
    assert runs[killed]["status"] == "interrupted" and runs[killed]["end_unknown"] is True
    assert runs[legacy]["status"] == "running"
    # Resuming holds the lock, so every open row belongs to a gone process.
    common = [*run.common[:-1], str(d)]
    assert cli.main(["study", *QUICK, *common]) == 0
    r = json.loads((d / "results.json").read_text())
    runs = {x["id"]: x for x in r["runs"]}
    for i in (killed, legacy):
        assert runs[i]["status"] == "interrupted"
        assert runs[i]["finished"] is None and runs[i]["end_unknown"] is True
    assert not [x for x in r["runs"] if x["status"] == "running"]
    assert r["runs"][-1]["status"] == "finished"
    assert "unknown (process gone)" in (d / "report.html").read_text()
    with store.Store.open_readonly(d) as s:
        stored = {x["id"]: x for x in s.runs()}
    assert stored[killed]["status"] == "interrupted" and stored[killed]["end_unknown"]
    # A later resume leaves them as they are.
    assert cli.main(["study", *QUICK, *common]) == 0
    with store.Store.open_readonly(d) as s:
        assert {x["id"]: x for x in s.runs()}[killed] == stored[killed]


def test_model_overrides_are_per_model():
    assert study.parse_model_overrides({"vae.steps": "5", "gan": {"lr": 0.1}}) == {
        "vae": {"steps": "5"}, "gan": {"lr": 0.1}}
    with pytest.raises(study.StudyError, match="MODEL.KEY=VALUE"):
        study.parse_model_overrides({"steps": "5"})
