"""The estimates of a model without a known distribution, wired in (issue 28, item 1):
rarefied ``expected`` metrics beside the sampled values (benchmark, frontier, the study's
class 1) and class 5 at half the draws (the study's class-5 units and frontier), labelled
so that they are never read as exact; exact models keep their exact path and digits, the
sampled numbers do not move, and ``--estimate sampled`` is the study as before."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from toy_space import TOY

from elpagen import catalogue, expected, metrics
from elpagen.harness import frontier
from elpagen.harness.benchmark import benchmark_model
from elpagen.harness.config import RunConfig
from elpagen.harness.trial import fit
from elpagen.study import config as study_config
from elpagen.study import unit
from elpagen.study.plan import StudyError, Unit

VAE = dict(catalogue.get("vae").quick)


# --------------------------------------------------------------- estimated_metrics


def _toy(seed: int = 0):
    """A toy distribution over the toy space's 210 compositions and classes 1..10."""
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(TOY.n_grid, 0.3))
    ref = rng.integers(1, 11, TOY.n_grid)
    return p, ref


@pytest.mark.parametrize("n, k", [(100, 20_000), (400, 200), (4_000, 2_000)])
def test_estimated_metrics_agree_with_the_exact_expectation(n, k):
    """Rarefied (K >= N) and extrapolated (K = N / 2) coverage at N from K draws of a
    known toy distribution: the mean over 100 draws of K within 4 standard errors (plus
    0.003 for the multinomial's small Good-Toulmin bias) of the exact expectation."""
    p, ref = _toy()
    exact = expected.expected_metrics(p, 3, ref, n, space=TOY)
    rng = np.random.default_rng(1)
    runs = [expected.estimated_metrics(rng.choice(TOY.n_grid, k, p=p), 3, ref, n, space=TOY)
            for _ in range(100)]
    assert set(runs[0]) == set(expected.EXPECTED_KEYS)
    for key in ("coverage", "coverage_neighbor", "precision", "precision_neighbor",
                "n_unique"):
        vals = np.array([r[key] for r in runs])
        se = vals.std(ddof=1) / np.sqrt(len(vals))
        scale = exact["n_unique"] if key == "n_unique" else 1.0
        assert abs(vals.mean() - exact[key]) <= 4 * se + 0.003 * scale, key
    if k >= n:  # rarefied from 200 x N draws: one estimate is already close
        assert runs[0]["coverage"] == pytest.approx(exact["coverage"], abs=0.01)


def test_the_draw_rules_and_labels():
    assert expected.rarefaction_draws(10_000) == 1_000_000
    assert expected.rarefaction_draws(100) == 10_000
    assert expected.rarefaction_draws(20_000) == 1_000_000  # capped
    assert expected.rarefaction_draws(10_000, 0) == 0
    assert expected.rarefaction_draws(10_000, 500) == 10_000  # never below N
    assert expected.extrapolation_draws(25_000_000) == 12_500_000
    assert expected.estimate_label(1_000_000, 10_000) == {"estimate": "rarefied",
                                                          "k": 1_000_000}
    assert expected.estimate_label(500, 1_000)["estimate"] == "extrapolated"
    with pytest.raises(Exception, match="rarefaction-draws"):
        RunConfig(models=("vae",), rarefaction_draws=-1)


# --------------------------------------------------------------- benchmark and frontier


@pytest.fixture(scope="module")
def vae(train):
    return fit("vae", train, [0], 1, overrides=VAE, device="cpu")[0]


def test_benchmark_puts_rarefied_expectations_beside_and_leaves_the_sampled_digits(
        train, reference):
    cfg = RunConfig(models=("vae", "marginal"), samples=300, seeds=(0,),
                    overrides={"vae": VAE}, device="cpu", rarefaction_draws=3_000)
    off = dataclasses.replace(cfg, rarefaction_draws=0)
    on_vae = benchmark_model("vae", train, reference.classes, cfg)
    off_vae = benchmark_model("vae", train, reference.classes, off)
    assert on_vae["expected_estimate"] == {"estimate": "rarefied", "k": 3_000}
    assert set(on_vae["expected"]) == set(expected.EXPECTED_KEYS)
    assert "expected" not in off_vae and "expected_estimate" not in off_vae
    drop = ("expected_", )
    for a, b in zip(on_vae["per_seed"], off_vae["per_seed"], strict=True):
        assert {k: v for k, v in a.items() if not k.startswith(drop)} == b
    assert on_vae["generations"] == off_vae["generations"]
    # The exact model keeps its exact path: no label, expectations of its distribution.
    m = benchmark_model("marginal", train, reference.classes, cfg)
    assert "expected_estimate" not in m
    m_off = benchmark_model("marginal", train, reference.classes, off)
    assert m["expected"] == m_off["expected"] and m["per_seed"] == m_off["per_seed"]


def test_frontier_points_get_rarefied_expectations(train, reference, vae):
    args = (vae, "vae", [0.5, 1.0], 1, 200, 0, reference.classes, train.codes)
    plain = frontier.sweep(*args, expected=True, space=train.space)
    rare = frontier.sweep(*args, expected=True, space=train.space, rarefaction_draws=2_000)
    assert not any(k.startswith("expected_") for p in plain for k in p)
    for p, q in zip(rare, plain, strict=True):
        assert {f"expected_{k}" for k in frontier.EXPECTED_POINT_KEYS} <= set(p)
        assert {k: p[k] for k in q} == q  # the sampled numbers do not move
    assert not frontier.offers_distribution(vae)


# --------------------------------------------------------------- the study


def _inputs(reference, **kw) -> unit.UnitInputs:
    return unit.UnitInputs(ref_classes=reference.classes, ref_energies=reference.energies,
                           hist_edges=np.arange(-4.0, 4.01, 0.2),
                           n_class1=int(metrics.class_sizes(reference.classes)[0]), **kw)


def test_study_class5_at_half_the_draws_and_sampled_as_before(train, reference, vae):
    u = Unit("class5", "vae", 5, 0, 0, 2_000)
    old, status = unit.compute_unit(u, vae, train, _inputs(reference))
    same, _ = unit.compute_unit(u, vae, train, _inputs(reference, estimate="sampled",
                                                       rarefaction_draws=10_000))
    assert status == "ok" and "estimate" not in old and "expected" not in old
    keep = ("eval_seconds", "sample_seconds")
    assert {k: v for k, v in same.items() if k not in keep} == \
        {k: v for k, v in old.items() if k not in keep}
    new, _ = unit.compute_unit(u, vae, train, _inputs(reference, estimate="extrapolated"))
    assert new["estimate"] == "extrapolated" and new["estimate_k"] == 1_000
    m = new["metrics"]
    assert m["n_valid"] == 1_000
    size = int(np.count_nonzero(reference.classes == 5))
    assert m["ideal_coverage"] == metrics.ideal_coverage(size, 2_000)
    # Coverage at N from K: above the K draws' own coverage, within the sampled one's reach.
    at_k = metrics.evaluate(
        vae.sample(1_000, 5, seed=unit.unit_sample_seed(u)).codes, 5, reference.classes,
        train.codes, space=train.space)
    assert m["precision"] == at_k["precision"]
    assert at_k["coverage"] < m["coverage"] < 2 * at_k["coverage"]
    assert m["coverage"] == pytest.approx(old["metrics"]["coverage"], rel=0.2)


def test_study_class1_rarefied_beside_the_same_sampled_values(train, reference, vae):
    u = Unit("class1", "vae", 1, 0, 1, 500)
    old, _ = unit.compute_unit(u, vae, train, _inputs(reference))
    new, _ = unit.compute_unit(u, vae, train, _inputs(reference, estimate="extrapolated",
                                                      rarefaction_draws=5_000))
    assert new["metrics"] == old["metrics"]
    assert set(new["expected"]) == set(expected.EXPECTED_KEYS)
    assert new["expected_estimate"] == {"estimate": "rarefied", "k": 5_000}


def test_study_frontier_units(train, reference, vae):
    est = _inputs(reference, estimate="extrapolated", rarefaction_draws=2_000)
    f5, _ = unit.compute_unit(Unit("frontier", "vae", 5, 0, 0, 1_000), vae, train, est)
    assert f5["estimate"] == "extrapolated" and f5["estimate_k"] == 500
    assert f5["metrics"]["n_valid"] == 1_000
    old5, _ = unit.compute_unit(Unit("frontier", "vae", 5, 0, 0, 1_000), vae, train,
                                _inputs(reference))
    assert old5["estimate"] == "sampled" and "estimate_k" not in old5
    f1, _ = unit.compute_unit(Unit("frontier", "vae", 1, 0, 0, 300), vae, train, est)
    assert f1["estimate"] == "sampled"
    assert f1["expected_estimate"] == {"estimate": "rarefied", "k": 2_000}
    old1, _ = unit.compute_unit(Unit("frontier", "vae", 1, 0, 0, 300), vae, train,
                                _inputs(reference))
    for p, q in zip(f1["points"], old1["points"], strict=True):
        assert {k: p[k] for k in q} == q and "expected_coverage" in p


def test_study_settings_record_the_estimate_and_old_stores_resume():
    make = lambda **kw: study_config.make_settings(  # noqa: E731
        "fast", 3, False, "abc", 10_000, {}, models=["vae"], strategies=[], **kw)
    new, old = make(), make(estimate="sampled")
    assert new["estimate"] == "extrapolated" and new["rarefaction_draws"] == 1_000_000
    assert "estimate" not in old and "rarefaction_draws" not in old
    assert {k: v for k, v in new.items() if k not in ("estimate", "rarefaction_draws")} == old
    assert study_config.resumed_estimate(old, None) == "sampled"  # a store of the old kind
    assert study_config.resumed_estimate(new, None) == "extrapolated"
    assert study_config.resumed_estimate(None, None) == "extrapolated"  # a new study
    assert study_config.resumed_estimate(old, "extrapolated") == "extrapolated"
    with pytest.raises(StudyError, match="--estimate"):
        make(estimate="guessed")


def test_a_quick_study_with_estimates_reports_and_resumes(tmp_path, data_path, cache_dir):
    """A quick study of vae (estimated) and marginal (exact): labelled payloads, a report
    that checks, and resuming: the store itself, and one of the old kind (settings
    without ``estimate``) as ``sampled`` with nothing to redo."""
    import json
    import shutil
    import sqlite3

    from elpagen import report, study
    from elpagen.study import store

    d = tmp_path / "s"
    kw = dict(quick=True, n_seeds=1, models=["vae", "marginal"], strategies=[],
              data_path=str(data_path), cache_dir=str(cache_dir), progress=False)
    study.run_study(d, **kw)
    with store.Store.open_readonly(d) as s:
        units, settings = {u["key"]: u["payload"] for u in s.units()}, s.settings()
    assert settings["estimate"] == "extrapolated"
    n5 = settings["samples"]["class5"]
    assert units["class5/vae/c5/nfull/s0"]["estimate"] == "extrapolated"
    assert units["class5/vae/c5/nfull/s0"]["estimate_k"] == n5 // 2
    assert units["class1/vae/c1/nfull/s0"]["expected_estimate"]["estimate"] == "rarefied"
    assert units["frontier/vae/c5/nfull/s0"]["estimate"] == "extrapolated"
    assert units["frontier/vae/c1/nfull/s0"]["expected_estimate"]["estimate"] == "rarefied"
    for key, p in units.items():  # the exact model: its exact path, no estimate label
        if "/marginal/" in key:
            assert "expected_estimate" not in p and "estimate_k" not in p, key
    assert units["frontier/marginal/c5/nfull/s0"]["estimate"] == "expected"
    report.write_report(d)
    r = json.loads((d / "results.json").read_text())
    assert report.check_results(r) == []
    assert r["frontier"]["class5"]["models"]["vae"]["estimate"] == "extrapolated"
    assert r["experiments"]["class1"]["models"]["vae"]["expected"]["estimate_k"]["mean"] > 0
    assert "rarefied from" in (d / "report.html").read_text()
    assert study.run_study(d, **kw)["new"] == 0  # resumes its own settings
    old = tmp_path / "old"
    old.mkdir()
    shutil.copy(d / store.STORE_NAME, old / store.STORE_NAME)
    with sqlite3.connect(old / store.STORE_NAME) as c:
        was = {k: v for k, v in settings.items() if k not in ("estimate", "rarefaction_draws")}
        c.execute("UPDATE meta SET value = ? WHERE key = 'settings'", (store.dumps(was),))
    assert study.run_study(old, **kw)["new"] == 0  # the old kind: resumed as sampled
    with pytest.raises(store.StoreError, match="estimate"):
        study.run_study(old, **kw, estimate="extrapolated")
