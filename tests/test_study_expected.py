"""The study's exact expected metrics (issue 19, items 2 and 3): expectations beside the
sampled values of class1/class5 (and the class-1 frontier), the class-5 frontier of the
models with a known distribution by expectation instead of sampling, and the report.

One quick study of three tractable models and one without a distribution (vae) runs per
module; the tests read it, recompute its numbers, and render its report.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from types import SimpleNamespace

import numpy as np
import pytest

from elpagen import catalogue, expected, report, study
from elpagen.generator import Generator, SamplingError
from elpagen.harness import frontier
from elpagen.harness.trial import reference_scorer, run_trial
from elpagen.report.schema import ResultsDocument
from elpagen.study import store, unit
from elpagen.study.plan import (
    EXPECTED_FRONTIER_CLASSES,
    FRONTIER_CLASSES,
    Experiment,
    Unit,
    model_overrides,
)

MODELS = ["marginal", "random", "rl", "vae"]
TRACTABLE = {"marginal", "random", "rl"}


@pytest.fixture(scope="module")
def quick(tmp_path_factory, data_path, cache_dir, reference, train):
    """A quick study (2 seeds) of marginal, random, rl and vae, and its report."""
    d = tmp_path_factory.mktemp("study_expected") / "out"
    # Sampled: the exact path of this module; vae's estimates: tests/test_estimates_wiring.py.
    study.run_study(d, quick=True, n_seeds=2, models=MODELS, data_path=str(data_path),
                    cache_dir=str(cache_dir), progress=False, estimate="sampled")
    report.write_report(d)
    with store.Store.open_readonly(d) as s:
        units = {u["key"]: u for u in s.units()}
        settings = s.settings()
    return SimpleNamespace(dir=d, units=units, settings=settings, ref=reference, train=train)


def _member(q, model: str, target_class: int, seed: int) -> Generator:
    """The fitted member a unit sampled: the torch model's checkpoint, or a baseline refitted
    (baselines are deterministic and not checkpointed)."""
    u = Unit(Experiment.FRONTIER, model, target_class, 0, seed, 0)
    fk = unit.fit_key(u)
    if catalogue.get(model).ensemble:
        from elpagen.study.runner import checkpoint_dir

        return catalogue.load_model(checkpoint_dir(q.dir, fk, seed), device="cpu")
    ov = model_overrides([model], True, None).get(model)
    return unit.fit_members(u, [seed], q.train, q.settings["protocol"], ov).members[seed]


def test_the_rule_is_the_class5_frontier():
    assert EXPECTED_FRONTIER_CLASSES == (5,)
    assert set(EXPECTED_FRONTIER_CLASSES) <= set(FRONTIER_CLASSES)
    U = Unit
    assert unit.by_expectation(U("frontier", "rl", 5, 0, 0, 25_000_000))
    assert not unit.by_expectation(U("frontier", "rl", 1, 0, 0, 10_000))
    assert not unit.by_expectation(U("class5", "rl", 5, 0, 0, 25_000_000))
    assert set(unit.EXPECTED_EXPERIMENTS) == {"class1", "class5"}


def test_class_units_store_expectations_for_tractable_models_only(quick):
    for key, u in quick.units.items():
        exp, model = u["experiment"], u["model"]
        if exp not in ("class1", "class5", "size", "curve1"):
            continue
        p = u["payload"]
        if exp in ("class1", "class5") and model in TRACTABLE:
            assert set(p["expected"]) == set(expected.EXPECTED_KEYS), key
            assert 0 <= p["expected"]["precision"] <= 1 and 0 <= p["expected"]["coverage"] <= 1
        else:  # no distribution (vae), or an experiment that skips them (size, curve1)
            assert "expected" not in p, key


def test_expectations_beside_are_those_of_the_fits_distribution(quick):
    """A class-5 unit's ``expected`` is expected_metrics of the fit's distribution at its N."""
    n = quick.settings["samples"]["class5"]
    for model in ("marginal", "rl"):
        gen = _member(quick, model, 5, 1)
        want = expected.expected_metrics(expected.distribution(gen, 5), 5, quick.ref.classes, n,
                                         space=quick.ref.space)
        got = quick.units[f"class5/{model}/c5/nfull/s1"]["payload"]["expected"]
        assert got == pytest.approx(want, rel=1e-12, abs=1e-15)


def test_sampled_class_metrics_are_unchanged(quick):
    """The sampled metrics of a unit with expectations are those of the same trial without
    them (run_trial directly, same fit and sampling seed): digit for digit."""
    for model in ("rl", "marginal"):
        u = quick.units[f"class1/{model}/c1/nfull/s0"]
        gen = _member(quick, model, 1, 0)
        score = reference_scorer(quick.ref.classes, quick.train.codes, 1, quick.train.space)
        r = run_trial(gen, model, 1, quick.settings["samples"]["class1"], 0, score,
                      sampling_seed=u["payload"]["sample_seed"])
        stored = u["payload"]["metrics"]
        assert json.loads(store.dumps({k: stored[k] for k in r.metrics})) == \
            json.loads(store.dumps(r.metrics)), model


def test_expectations_beside_leave_sampled_frontier_points_unchanged(quick):
    """A sampled sweep with the expectations beside draws the same numbers as one without
    (rl: its network acts step by step in the quick budget, then builds its table)."""
    gen = _member(quick, "rl", 1, 0)
    args = (gen, "rl", [1.0, 5.0], 1, 300, 0, quick.ref.classes, quick.train.codes)
    with_exp = frontier.sweep(*args, expected=True, space=quick.train.space)
    without = frontier.sweep(*args, expected=False, space=quick.train.space)
    assert all("expected_precision" in p for p in with_exp)
    assert [{k: p[k] for k in q} for p, q in zip(with_exp, without, strict=True)] == without


def test_class5_frontier_of_tractable_models_is_the_exact_expectation(quick):
    n = quick.settings["samples"]["frontier_class5"]
    for model in ("marginal", "random", "rl"):
        for seed in (0, 1):
            p = quick.units[f"frontier/{model}/c5/nfull/s{seed}"]["payload"]
            assert p["estimate"] == "expected"
            gen = _member(quick, model, 5, seed)
            assert [x["knob"] for x in p["points"]] == frontier.knob_values(gen)
            for point in p["points"]:
                g = gen if point["knob"] is None else gen.with_knob(point["knob"])
                e = expected.expected_metrics(expected.distribution(g, 5), 5,
                                              quick.ref.classes, n, space=quick.ref.space)
                assert point["precision"] == pytest.approx(e["precision"], rel=1e-12)
                assert point["coverage"] == pytest.approx(e["coverage"], rel=1e-12)
                assert point["js_distance"] == pytest.approx(e["js_distance_limit"], rel=1e-12)
                assert point["n_unique"] == pytest.approx(e["n_unique"], rel=1e-12)
            assert p["metrics"]["n_valid"] == n
    # No distribution: sampled as before.
    assert quick.units["frontier/vae/c5/nfull/s0"]["payload"]["estimate"] == "sampled"


def test_class1_frontier_is_sampled_with_expectations_beside(quick):
    for model in MODELS:
        p = quick.units[f"frontier/{model}/c1/nfull/s0"]["payload"]
        assert p["estimate"] == "sampled"
        for point in p["points"]:
            has = {f"expected_{k}" for k in frontier.EXPECTED_POINT_KEYS} <= set(point)
            assert has is (model in TRACTABLE), (model, point)


def test_results_json_carries_expectations_and_estimates(quick):
    r = json.loads((quick.dir / "results.json").read_text())
    assert report.check_results(r) == []
    for exp in ("class1", "class5"):
        for model in MODELS:
            me = r["experiments"][exp]["models"][model]
            if model in TRACTABLE:
                assert set(me["expected"]) == set(expected.EXPECTED_KEYS)
                assert set(me["expected"]["precision"]) == {"mean", "std"}
                vals = [s["expected_precision"] for s in me["per_seed"]]
                assert me["expected"]["precision"]["mean"] == pytest.approx(np.mean(vals))
                assert not any(k.startswith("expected_") for k in me["summary"])
            else:
                assert me["expected"] == {}
    for model in MODELS:
        f5 = r["frontier"]["class5"]["models"][model]
        assert f5["estimate"] == ("expected" if model in TRACTABLE else "sampled")
        assert f5["n_fits"] == 2
        assert r["frontier"]["class1"]["models"][model]["estimate"] == "sampled"
    page = (quick.dir / "report.html").read_text()
    assert "exact expectation: precision / coverage" in page
    n5 = quick.settings["samples"]["frontier_class5"]
    assert f"exact expected precision and coverage at N = {n5:,}" in page
    assert "(2 fits; exact expectation)" in page
    caption = next(f["caption"] for f in r["figures"] if f["file"] == "frontier.png")
    assert "exact expectation" in caption and "random" in caption and "vae" not in \
        caption.split("The class-5 points of")[1]
    rows = (quick.dir / "table_class5.csv").read_text().splitlines()
    head = rows[0].split(",")
    assert "expected_precision_mean" in head and "expected_coverage_std" in head
    assert "class5_estimate" in (quick.dir / "table_frontier.csv").read_text()


def test_a_store_written_before_expectations_still_renders(quick, tmp_path):
    """A store without ``expected`` and ``estimate`` (written before them) renders; nothing
    in its report claims an expectation."""
    old = tmp_path / "old"
    old.mkdir()
    shutil.copy(quick.dir / store.STORE_NAME, old / store.STORE_NAME)
    with sqlite3.connect(old / store.STORE_NAME) as c:
        for key, payload in c.execute("SELECT key, payload FROM units").fetchall():
            p = json.loads(payload)
            p.pop("expected", None)
            p.pop("estimate", None)
            for point in p.get("points", []):
                for k in [k for k in point if k.startswith("expected_")]:
                    del point[k]
            c.execute("UPDATE units SET payload = ? WHERE key = ?", (json.dumps(p), key))
    report.write_report(old)
    r = json.loads((old / "results.json").read_text())
    assert report.check_results(r) == []
    assert all(me["expected"] == {} for me in r["experiments"]["class1"]["models"].values())
    assert {me["estimate"] for me in r["frontier"]["class5"]["models"].values()} == {"sampled"}
    page = (old / "report.html").read_text()
    assert "exact expected precision and coverage at N" not in page
    # A results.json of that time (no ``expected``, no ``estimate``) still validates.
    for me in r["experiments"]["class5"]["models"].values():
        del me["expected"]
    for me in r["frontier"]["class5"]["models"].values():
        del me["estimate"]
    doc = ResultsDocument.from_json(r)
    assert doc.frontier["class5"].models["rl"].estimate == "sampled"
    bad = json.loads((quick.dir / "results.json").read_text())
    bad["frontier"]["class5"]["models"]["rl"]["estimate"] = "guessed"
    assert any("estimate" in p for p in report.check_results(bad))


def test_expected_sweep_needs_a_distribution_with_mass(reference):
    class Nothing(Generator):  # no composition_distribution at all
        name = "nothing"

        def fit(self, train, target_class=None):
            return self

        def propose(self, n, target_class, rng):
            return np.full(n, -1)

    assert frontier.expected_sweep(Nothing(), "nothing", [None], 5, 100,
                                   reference.classes, space=reference.space) is None

    class Invalid(Nothing):  # all its mass on grid points with a repeated element
        def composition_distribution(self, target_class: int) -> np.ndarray:
            p = np.zeros(reference.classes.shape)
            p[np.flatnonzero(reference.classes == 0)[:10]] = 0.1
            return p

    with pytest.raises(SamplingError, match="no mass on any composition"):
        frontier.expected_sweep(Invalid(), "invalid", [None], 5, 100, reference.classes,
                                space=reference.space)
