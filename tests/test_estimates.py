"""Unseen-species estimates of coverage (elpagen.estimates) against brute force."""

from itertools import combinations

import numpy as np
import pytest

from elpagen import estimates as E


def _toy(seed: int = 0, size: int = 800):
    """A skewed distribution over ``size`` species, a third of them in class 1."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, size + 1) ** 0.8
    p /= p.sum()
    classes = np.where(rng.random(size) < 0.33, 1, 2).astype(np.int8)
    return rng, p, classes


def test_rarefaction_equals_enumeration_of_every_subset() -> None:
    counts = np.array([3, 1, 5, 2, 1])
    pool = np.repeat(np.arange(len(counts)), counts)
    for n in (1, 3, 6, len(pool)):
        brute = np.mean([len(set(pool[list(ix)])) for ix in combinations(range(len(pool)), n)])
        assert E.rarefied_distinct(counts, n) == pytest.approx(brute, rel=1e-12)


def test_rarefaction_of_a_subset_uses_the_total_draws() -> None:
    counts = np.array([3, 1, 5, 2, 1])
    pool = np.repeat(np.arange(len(counts)), counts)
    n = 4
    brute = np.mean([len({x for x in pool[list(ix)] if x in (0, 2)})
                     for ix in combinations(range(len(pool)), n)])
    assert E.rarefied_distinct(counts[[0, 2]], n, k=len(pool)) == pytest.approx(brute)


def test_rarefied_coverage_is_unbiased_and_less_noisy_than_one_sampled_run() -> None:
    rng, p, classes = _toy()
    n = 1_000
    exact = (1 - (1 - p[classes == 1]) ** n).sum() / np.count_nonzero(classes == 1)
    est = [E.coverage_at(rng.choice(len(p), size=50_000, p=p), n, 1, classes)
           for _ in range(20)]
    assert all(e["estimate"] == "rarefied" and e["k"] == 50_000 for e in est)
    values = np.array([e["coverage"] for e in est])
    sampled = [len(np.unique(x[classes[x] == 1])) / np.count_nonzero(classes == 1)
               for x in (rng.choice(len(p), size=n, p=p) for _ in range(20))]
    assert abs(values.mean() - exact) < 3 * values.std() / np.sqrt(len(values)) + 1e-3
    assert values.std() < np.std(sampled) / 2


@pytest.mark.parametrize("share", [2, 3])
def test_good_toulmin_doubles_the_draws(share: int) -> None:
    """From K = N/2 and N/3 draws the mean estimate matches the exact expected coverage
    at N within 0.01 (200 repetitions; its sd is about 0.03 on this small toy)."""
    rng, p, classes = _toy(1)
    n = 2_000
    exact = (1 - (1 - p[classes == 1]) ** n).sum() / np.count_nonzero(classes == 1)
    est = [E.coverage_at(rng.choice(len(p), size=n // share, p=p), n, 1, classes)
           for _ in range(200)]
    assert {e["estimate"] for e in est} == {"extrapolated"}
    assert abs(np.mean([e["coverage"] for e in est]) - exact) < 0.01


def test_good_toulmin_small_cases_by_hand() -> None:
    counts = np.array([1, 1, 2, 3])  # phi_1 = 2, phi_2 = 1, phi_3 = 1
    assert E.good_toulmin(counts, 1.0) == pytest.approx(2 - 1 + 1)
    assert E.good_toulmin(counts, 0.5) == pytest.approx(2 * 0.5 - 0.25 + 0.125)
    assert E.good_toulmin(counts, 0.0) == 0.0
    assert E.good_toulmin(counts, 3.0) > 0  # smoothed: finite, positive
    with pytest.raises(ValueError):
        E.good_toulmin(counts, -1.0)
    with pytest.raises(ValueError):
        E.rarefied_distinct(counts, 100)
