"""The ``stable`` target (E_hull <= 0.025 eV/atom), coverage outside the training set and
the number of samples per evaluation on other spaces (docs/spaces.md)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from elpagen import data, metrics, spaces, truth
from elpagen.cli.main import main as cli_main
from elpagen.data import EnergyClasses
from elpagen.errors import InputError
from elpagen.harness.config import default_samples, samples_for_class

PEROVSKITE_CSV = Path(__file__).resolve().parents[2] / "shared" / "data" / "wolverton_oxides.csv"


def _perovskite(monkeypatch) -> None:
    if not PEROVSKITE_CSV.is_file():
        pytest.skip(f"{PEROVSKITE_CSV} is not here")
    monkeypatch.setenv("ELPAGEN_PEROVSKITE_DATA", str(PEROVSKITE_CSV))


# --------------------------------------------------------------------------- classes


def test_the_default_classes_are_the_old_formula_bit_for_bit() -> None:
    rng = np.random.default_rng(3)
    e = rng.uniform(-4.0, 2.0, 10_000)
    ec = EnergyClasses.from_energies(e)
    old = (np.clip(np.floor((e - ec.lo) / ((ec.hi - ec.lo) / 10)), 0, 9) + 1).astype(np.int8)
    assert ec.threshold is None and np.array_equal(ec.assign(e), old)
    # An EnergyClasses pickled or built before the threshold existed is the same value.
    assert EnergyClasses(ec.lo, ec.hi, 10) == ec


def test_threshold_classes_include_the_edge_and_close_each_bin_on_the_right() -> None:
    values = np.array([-0.7, 0.0, 0.025, 0.026, 0.925, 0.9251, 8.125])
    ec = EnergyClasses.from_threshold(0.025, values)
    assert ec.threshold == 0.025 and ec.hi == 8.125 and ec.width == pytest.approx(0.9)
    assert ec.lo == pytest.approx(0.025 - 0.9) and ec.edges[1] == pytest.approx(0.025)
    # <= 0.025 is class 1; (0.025, 0.925] class 2; the largest value class 10.
    assert ec.assign(values).tolist() == [1, 1, 1, 2, 2, 3, 10]
    # A float32 grid holds 0.025 as float32(0.025) > 0.025: still class 1.
    assert ec.assign(np.float32([0.025, 0.0251])).tolist() == [1, 2]
    with pytest.raises(InputError, match="no value above"):
        EnergyClasses.from_threshold(0.025, np.array([0.0, 0.025]))


def test_class_labels_name_the_stable_class() -> None:
    assert data.class_label("stable", 1) == "stable (E_hull <= 0.025 eV/atom)"
    assert data.class_label("stable", 2) == "class 2" == data.class_label("energy", 2)


# --------------------------------------------------------------------------- the perovskite


def test_stable_perovskites_are_398_with_the_edge(monkeypatch) -> None:
    _perovskite(monkeypatch)
    t = truth.resolve("perovskite", target="stable")
    assert t.target == "stable" and t.stable
    train = truth.training_set(t)
    ref, _ = truth.reference_energies(t, train)
    table = truth.read(t)
    assert ref.class_sizes()[0] == 398 == int((table.stability <= 0.025).sum())
    edge = table.codes[table.stability == 0.025]
    assert len(edge) == 5 and (ref.classes[edge] == 1).all()
    assert ref.class_sizes().sum() == 5276
    # The training subset: the same compositions as the energy target's, their E_hull.
    energy_train = truth.training_set(truth.resolve("perovskite"))
    assert train.target == "stable" and len(train) == 1000
    assert np.array_equal(train.codes, energy_train.codes)
    rows = np.searchsorted(table.codes, train.codes)
    assert np.array_equal(train.energies, table.stability[rows])
    assert np.array_equal(train.classes, ref.classes[train.codes])


def test_stable_on_a_space_without_hull_energies_is_one_line(capsys) -> None:
    with pytest.raises(InputError, match="use --target energy"):
        truth.resolve(None, target="stable")
    rc = cli_main(["benchmark", "--target", "stable", "--models", "random", "-q"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert "elpasolite" in err and "--target energy" in err and "--space perovskite" in err


def test_benchmark_on_the_stable_target(monkeypatch, capsys, tmp_path) -> None:
    _perovskite(monkeypatch)
    rc = cli_main(["benchmark", "--space", "perovskite", "--target", "stable", "--models",
                   "random,marginal", "--seeds", "2", "--jobs", "1", "-q", "-o",
                   str(tmp_path)])
    assert rc == 0
    table = capsys.readouterr().out
    assert table.startswith("stable (E_hull <= 0.025 eV/atom) on the perovskite space, "
                            "1,000 valid samples")
    assert "cov. novel" in table
    r = json.loads((tmp_path / "benchmark_class1.json").read_text())
    assert (r["space"], r["target"], r["samples"], r["class_size"]) == (
        "perovskite", "stable", 1000, 398)
    for m in r["models"].values():
        assert len(m["per_seed"]) == 2 and "coverage_novel" in m
        for s in m["per_seed"]:
            assert s["n_novel_in_class"] <= s["n_unique_in_class"]
            assert 0.0 <= s["coverage_novel"] <= 1.0
    # Marginal sampling of the stable training compositions finds stable ones.
    assert r["models"]["marginal"]["precision"]["mean"] > r["models"]["random"][
        "precision"]["mean"]


# --------------------------------------------------------------------------- coverage_novel


def test_coverage_novel_by_hand() -> None:
    # Grid of 8 points: class 1 at 1, 2, 3, 5; class 2 at 4; 0 (no composition) at 0, 6, 7.
    ref = np.array([0, 1, 1, 1, 2, 1, 0, 0], dtype=np.int8)
    train = np.array([1, 4])  # one class-1 member is in the training set
    codes = np.array([1, 1, 2, 4, 5, 5])  # hits class 1 at 1 (training), 2 and 5
    # Outside training, class 1 is {2, 3, 5}; the samples find 2 and 5.
    assert metrics.coverage_novel(codes, 1, ref, train) == pytest.approx(2 / 3)
    assert metrics.coverage(codes, 1, ref) == pytest.approx(3 / 4)
    assert metrics.coverage_novel(codes, 2, ref, train) == 0.0  # the class is all training
    assert metrics.coverage_novel(codes, 1, ref, None) == metrics.coverage(codes, 1, ref)


def test_evaluate_reports_coverage_novel_as_the_pure_metric() -> None:
    from toy_space import TOY

    rng = np.random.default_rng(0)
    ref = rng.integers(1, 11, TOY.n_grid).astype(np.int8)
    ref[~TOY.is_valid(TOY.decode(np.arange(TOY.n_grid)))] = 0
    valid = np.flatnonzero(ref)
    train = rng.choice(valid, 40, replace=False)
    codes = rng.choice(valid, 300)
    for c in (1, 5):
        m = metrics.evaluate(codes, c, ref, train, space=TOY)
        assert m["coverage_novel"] == metrics.coverage_novel(codes, c, ref, train)


# --------------------------------------------------------------------------- N


def test_samples_per_evaluation_scale_with_the_class() -> None:
    from elpagen.spaces.perovskite import PEROVSKITE

    assert default_samples(spaces.DEFAULT, 3_934) == 10_000
    assert default_samples(spaces.DEFAULT, 12) == 10_000  # every elpasolite class
    assert default_samples(PEROVSKITE, 178) == 450
    assert default_samples(PEROVSKITE, 398) == 1_000
    assert samples_for_class(401) == 1_010  # 1,002.5 rounded up to a multiple of 10
    assert samples_for_class(7) == 100 == samples_for_class(0)


def test_the_study_sets_its_samples_by_the_rule(monkeypatch) -> None:
    from elpagen.spaces.perovskite import PEROVSKITE
    from elpagen.study.config import make_settings

    sizes = [178, 670, 1060, 1105, 985, 688, 383, 150, 50, 7]
    s = make_settings("fast", 2, True, "", 1000, {}, models=["random"], strategies=[],
                      space=PEROVSKITE, class_sizes=sizes, target="stable")
    assert s["samples"]["class1"] == s["samples"]["frontier_class1"] == 450
    assert s["samples"]["class5"] == s["samples"]["frontier_class5"] == 2_470
    assert s["samples"]["curve_class1"] == 1_125  # the quick scale's 2.5 x class 1
    assert s["target"] == "stable"
    # The elpasolite's settings do not move, class sizes or not.
    a = make_settings("fast", 2, True, "", 1000, {}, models=["random"], strategies=[])
    b = make_settings("fast", 2, True, "", 1000, {}, models=["random"], strategies=[],
                      class_sizes=sizes)
    assert a == b and "target" not in a


def test_benchmark_result_tables_show_optional_columns_only_when_present() -> None:
    from elpagen.harness.benchmark import benchmark_table

    m = {k: {"mean": 0.5, "std": 0.1} for k in metrics.METRIC_KEYS}
    result = {"target_class": 1, "samples": 10, "seeds": 2, "protocol": "fast",
              "class_size": 5, "ideal_coverage": 0.5, "models": {"random": {
                  **m, "seconds": 1.0}}}
    old = benchmark_table(result)  # a result written before coverage_novel
    assert "cov. novel" not in old and old.startswith("class 1, 10 valid samples")
    result["models"]["random"]["coverage_novel"] = {"mean": 0.25, "std": 0.0}
    assert benchmark_table(result) == old  # the elpasolite's table as the README shows it
    result["space"] = "perovskite"
    table = benchmark_table(result)
    assert "cov. novel" in table and "0.25000 ± 0.00000" in table
    assert table.startswith("class 1 on the perovskite space, 10 valid samples")


def test_api_loads_the_stable_target(monkeypatch) -> None:
    _perovskite(monkeypatch)
    import elpagen

    train = elpagen.load_training_set(space="perovskite", target="stable")
    ref = elpagen.reference_energies(train)
    assert train.target == "stable" and ref.class_sizes()[0] == 398
    stable = np.flatnonzero(ref.classes == 1)[:50]
    m = elpagen.evaluate(stable, 1, train=train, reference=ref)
    outside = np.setdiff1d(stable, train.codes)
    n_out = 398 - int((train.classes == 1).sum())
    assert m["precision"] == 1.0
    assert m["coverage_novel"] == pytest.approx(len(outside) / n_out)
