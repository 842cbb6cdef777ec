"""Exact expected metrics (elpagen.expected): the expectation of a model's known
distribution agrees with the mean of many sampled evaluations within their standard error."""

from __future__ import annotations

import numpy as np
import pytest

from elpagen import expected, metrics
from elpagen.generator import Mixture
from elpagen.harness.trial import fit

TINY = {
    "ar": {"hidden": (32,), "element_hidden": (8,), "embed": 8, "steps": 60, "batch_size": 64},
    "gfn": {"hidden": (32,), "element_hidden": (8,), "embed": 8, "steps": 30,
            "batch_size": 64, "reward_steps": 100},
    "rl": {"hidden": (32, 32), "steps": 60, "batch_size": 64},
    "surrogate": {"hidden": (64, 64), "steps": 500, "batch_size": 128, "lr": 1e-2},
}
KEYS = ("precision", "precision_neighbor", "coverage", "coverage_neighbor", "n_unique")


@pytest.mark.parametrize("name, target", [
    ("random", 1), ("marginal", 1), ("ar", 1), ("gfn", 1), ("rl", 1), ("surrogate", 5)])
def test_expectation_matches_the_mean_of_sampled_runs(train, reference, name, target):
    [gen] = fit(name, train, [0], target, overrides=TINY.get(name), device="cpu")
    p = expected.distribution(gen, target)
    assert p is not None and p.shape == (train.space.n_grid,)
    n, runs = 300, 60
    exp = expected.expected_metrics(p, target, reference.classes, n, space=train.space)
    sampled = [metrics.evaluate(gen.sample(n, target, seed=s).codes, target, reference.classes,
                                train.codes, space=train.space) for s in range(runs)]
    for k in KEYS:
        v = np.array([m[k] for m in sampled], dtype=float)
        se = v.std(ddof=1) / np.sqrt(runs)
        # 4.5 standard errors: 30 comparisons in this file stay clear of chance failures.
        assert abs(v.mean() - exp[k]) <= 4.5 * se + 1e-9, (name, k, exp[k], v.mean(), se)
    # The JS distance of the distribution is the N -> infinity limit: the sampled one at
    # finite N lies above it on average (it is biased upward).
    js = np.mean([m["js_distance"] for m in sampled])
    assert exp["js_distance_limit"] <= js + 1e-6


def test_exact_by_hand_on_a_two_point_distribution(reference):
    codes = np.flatnonzero(reference.classes == 1)[:2]
    p = np.zeros(reference.space.n_grid)
    p[codes] = [0.75, 0.25]
    e = expected.expected_metrics(p, 1, reference.classes, 2, space=reference.space)
    n_c = int((reference.classes == 1).sum())
    assert e["precision"] == pytest.approx(1.0)
    # Each point is found with probability 1 - (1 - p)^2.
    assert e["coverage"] == pytest.approx((1 - 0.25**2 + 1 - 0.75**2) / n_c)
    assert e["n_unique"] == pytest.approx(1 - 0.25**2 + 1 - 0.75**2)


def test_mixtures_and_intractable_settings(train):
    [m0, m1] = fit("marginal", train, [0, 1], 1)
    mix = Mixture([m0, m0.with_knob(2.0)], weights=[0.25, 0.75])
    p = expected.distribution(mix, 1)
    want = 0.25 * expected.distribution(m0, 1) + 0.75 * expected.distribution(
        m0.with_knob(2.0), 1)
    assert np.allclose(p, want)
    [ar] = fit("ar", train, [0], 1, overrides=TINY["ar"], device="cpu")
    assert expected.distribution(ar.with_sampling(top_p=0.9), 1) is None
    assert expected.distribution(ar.with_sampling(guidance=1.0), 1) is None
    assert abs(expected.distribution(ar, 1).sum() - 1.0) < 1e-9


def test_benchmark_and_frontier_report_the_expectations(capsys):
    import json

    from elpagen import cli

    assert cli.main(["benchmark", "--models", "marginal,random", "-n", "400", "--seeds", "2",
                     "--jobs", "1", "-q", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    for m in ("marginal", "random"):
        e = r["models"][m]["expected"]
        assert set(e) >= {"precision", "coverage", "js_distance_limit"}
        assert set(e["precision"]) == {"mean", "std"}
        # Exact for these two: the seeds' expectations agree (the fit is deterministic).
        assert e["precision"]["std"] == pytest.approx(0.0, abs=1e-12)
    assert cli.main(["frontier", "--models", "marginal", "-n", "300", "--seeds", "1", "-q",
                     "--json"]) == 0
    fr = json.loads(capsys.readouterr().out)
    pts = fr["models"]["marginal"]["points"]
    assert all("expected_precision" in p and "expected_coverage" in p for p in pts)
    # Sharper temperature, higher expected precision (an exact, noise-free ordering).
    prec = [p["expected_precision"]["mean"] for p in pts]
    assert prec == sorted(prec, reverse=True)
