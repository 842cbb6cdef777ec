"""The ``gp`` campaign strategy: a Gaussian process buying by the probability of the class,
with the near-symmetry (site-swap) term of the perovskite (issue 26). On the perovskite
table itself: tests/test_campaign_neighbours.py, beside ``neighbours``."""

from __future__ import annotations

import numpy as np
import pytest
from toy_space import TOY

from elpagen.campaign import catalogue
from elpagen.campaign.base import StrategyError
from elpagen.campaign.gp import GPStrategy, near_symmetries
from elpagen.data import EnergyClasses
from elpagen.space import CompositionSpace, Site
from elpagen.spaces import ELPASOLITE, PEROVSKITE

#: Two sites of the same elements, no symmetry: the perovskite's shape, 36 compositions.
SWAPPED = CompositionSpace(name="swapped", sites=(Site("A", ("Li", "Na", "K", "Mg", "Ca",
                                                             "Sr")),
                                                  Site("B", ("Li", "Na", "K", "Mg", "Ca",
                                                             "Sr"))),
                           numbering="iupac", distinct=False)


def _gp(space: CompositionSpace, **kw) -> GPStrategy:
    s = GPStrategy(seed=0)
    for k, v in kw.items():
        setattr(s, k, v)
    s.begin(1, EnergyClasses(-2.0, 2.0), space=space)
    return s


def test_near_symmetries_are_swaps_of_equal_sites_that_are_not_symmetries():
    assert near_symmetries(PEROVSKITE) == [(1, 0)]
    assert near_symmetries(SWAPPED) == [(1, 0)]
    assert near_symmetries(ELPASOLITE) == []  # A/B is its symmetry; C2 and D6 differ
    assert near_symmetries(TOY) == []  # three different element lists


@pytest.mark.parametrize("space", [SWAPPED, TOY, ELPASOLITE])
def test_the_kernel_is_a_symmetric_positive_semidefinite_matrix(space):
    s = _gp(space)
    codes = space.all_codes()[:: max(1, space.n_space // 60)][:60].astype(np.int64)
    x = space.decode(codes)
    k = s.kernel(x, x)
    assert np.allclose(k, k.T)
    assert np.linalg.eigvalsh(k).min() > -1e-9
    assert np.allclose(np.diag(k), s.kernel(x, x, paired=True))


def test_the_swap_ties_a_composition_to_its_swapped_formula():
    """With the swap term, a label at AB moves the prediction at BA, not at an unrelated
    composition; without it (swap 0) BA is only as close as the elements make it."""
    x = SWAPPED.decode(SWAPPED.encode(np.array([[0, 4], [4, 0], [1, 5]])))
    for swap, tied in ((0.8, True), (0.0, False)):
        k = _gp(SWAPPED, swap=swap).kernel(x, x)
        assert bool(k[0, 1] > k[0, 2] + 0.5) is tied, (swap, k)


def test_gp_proposes_distinct_valid_unlabelled_codes_and_beats_random():
    rng = np.random.default_rng(5)
    codes = SWAPPED.all_codes().astype(np.int64)
    el = SWAPPED.decode(codes)
    e_site = rng.normal(0, 0.6, 6)
    energies = e_site[el[:, 0]] + e_site[el[:, 1]] + rng.normal(0, 0.05, len(codes))
    s = _gp(SWAPPED)
    s.begin(1, EnergyClasses(float(energies.min()) - 1e-6, float(energies.max()) + 1e-6))
    start = codes[rng.choice(len(codes), 8, replace=False)]
    pool = codes[~np.isin(codes, start)]
    got = s.propose(start, energies[start], 6, rng, pool)
    assert got.shape == (6,) and len(np.unique(got)) == 6 and not np.isin(got, start).any()
    # It buys near the bottom: the mean energy of its picks is well below the pool's.
    assert energies[got].mean() < energies[pool].mean() - 0.3


def test_a_pool_too_large_to_score_is_one_line_naming_pool(monkeypatch):
    from elpagen.campaign import gp

    monkeypatch.setattr(gp, "MAX_WORK", 100 * 25)  # 10 labels: 25 candidates
    s = _gp(SWAPPED)
    codes = SWAPPED.all_codes().astype(np.int64)
    with pytest.raises(StrategyError, match="pass --pool M with M at most 25,"):
        s.propose(codes[:10], np.zeros(10), 5, np.random.default_rng(0), codes[10:])


def test_gp_is_a_builtin_regression_strategy():
    spec = catalogue.get("gp")
    assert spec.cls is GPStrategy and spec.kind == catalogue.StrategyKind.REGRESSION
    assert spec.uses_reference_model_family  # a Laplacian on periods and groups inside

