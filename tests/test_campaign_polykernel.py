"""``marginal+kernel`` without refitting from scratch (issue 28): its grown Cholesky factor
and feature-map prediction against the dense dual solve it replaced, on the elpasolite,
the perovskite and the toy space, and a campaign's curve scored both ways."""

from __future__ import annotations

import numpy as np
import pytest
from toy_space import TOY

from elpagen import spaces
from elpagen.campaign import polykernel
from elpagen.campaign import run as campaign
from elpagen.campaign.base import onehot, top
from elpagen.campaign.scoring import MarginalKernelStrategy

SPACES = {"elpasolite": spaces.get("elpasolite"), "perovskite": spaces.get("perovskite"),
          "toy": TOY}


def dense_kernel(space, a, b):
    """The kernel as the dense form computed it (float32 products, then float64)."""
    return (((1.0 + onehot(a, space) @ onehot(b, space).T) / (1.0 + space.n_sites))
            ** 2).astype(np.float64)


class DenseKernelStrategy(MarginalKernelStrategy):
    """``marginal+kernel`` as it was: the dual solved from scratch, the candidates scored
    against every label."""

    def score(self, labelled_codes, labelled_energies, pool):
        space = self.the_space()
        y = np.asarray(labelled_energies, dtype=np.float64)
        k = dense_kernel(space, labelled_codes, labelled_codes)
        k[np.diag_indices_from(k)] += self.alpha
        a = np.linalg.solve(k, y - y.mean()).astype(np.float32)
        x = onehot(labelled_codes, space)
        out = (((1.0 + onehot(pool, space) @ x.T) / (1.0 + space.n_sites)) ** 2) @ a
        return self.key(out + y.mean())


def labelled(space, n, n_pool, seed=0):
    """(labels, energies, candidates): distinct random compositions of ``space``."""
    rng = np.random.default_rng(seed)
    codes = space.all_codes().astype(np.int64)
    n = min(n, len(codes) // 2)
    pick = codes[rng.permutation(len(codes))[:n + n_pool]]
    return pick[:n], rng.normal(-1.0, 0.5, n), pick[n:]


@pytest.mark.parametrize("name", SPACES)
def test_the_kernel_matrix_is_bitwise_the_dense_one(name):
    space = SPACES[name]
    codes, _, _ = labelled(space, 700, 0)
    el = space.decode(codes).astype(np.int64)
    got = polykernel.kernel_table(space)[polykernel.shared_sites(el, el)]
    assert np.array_equal(got, dense_kernel(space, codes, codes))
    assert polykernel.kernel_table(space)[-1] == 1.0  # every site shared


@pytest.mark.parametrize("name", SPACES)
def test_a_grown_factor_solves_the_dense_system(name, monkeypatch):
    monkeypatch.setattr(polykernel, "BLOCK", 256)  # several blocks per growth too
    space = SPACES[name]
    codes, y, _ = labelled(space, 1500, 0)
    n = len(codes)
    k = dense_kernel(space, codes, codes)
    k[np.diag_indices_from(k)] += 0.05
    dual = polykernel.GrowingDual(space, 0.05)
    for m in (n // 5, n // 2, n // 2, n):  # appended, the same again, appended
        a = dual.solve(codes[:m], y[:m])
        want = np.linalg.solve(k[:m, :m], y[:m])
        assert np.abs(a - want).max() <= 1e-10 * np.abs(want).max()
    # Not an extension of the labels it holds (fewer, another order): factored anew.
    for other in (codes[: n // 3], codes[::-1]):
        idx = np.searchsorted(codes, other, sorter=np.argsort(codes))
        idx = np.argsort(codes)[idx]
        want = np.linalg.solve(k[np.ix_(idx, idx)], y[idx])
        a = dual.solve(other, y[idx])
        assert np.abs(a - want).max() <= 1e-10 * np.abs(want).max()
        assert np.array_equal(dual.codes, other)


@pytest.mark.parametrize("name", ["elpasolite", "perovskite"])
def test_the_scores_are_the_dense_ones_to_float_rounding(name):
    space = SPACES[name]
    codes, y, pool = labelled(space, 2000, 20_000, seed=1)
    new, old = MarginalKernelStrategy(), DenseKernelStrategy()
    new.space = old.space = space
    new.score(codes[:800], y[:800], pool)  # grown, not factored at once
    got, want = new.score(codes, y, pool), old.score(codes, y, pool)
    # The dense form rounded the dual weights and the sums to float32: its error.
    assert np.abs(got - want).max() < 5e-5
    # Exactly the kernel ridge (float64): the feature map against the dense kernel.
    el = space.decode(codes).astype(np.int64)
    k = polykernel.kernel_table(space)[polykernel.shared_sites(el, el)]
    k[np.diag_indices_from(k)] += new.alpha
    a = np.linalg.solve(k, y - y.mean())
    exact = ((1.0 + np.arange(space.n_sites + 1)) / (1.0 + space.n_sites)) ** 2
    pred = exact[polykernel.shared_sites(space.decode(pool).astype(np.int64), el)] @ a
    assert np.abs(-got - (pred + y.mean())).max() < 1e-11
    # The same candidates ranked first (no near-tie at the 500th here).
    assert set(top(pool, got, 500).tolist()) == set(top(pool, want, 500).tolist())


@pytest.mark.parametrize("target_class", [1, 10])
def test_a_campaign_curve_is_the_dense_one(train, reference, target_class):
    """The quick study's campaign (start 200, batch 50, budget 300, pool 5,000, noise)
    buys the same compositions scored either way."""
    config = campaign.CampaignConfig(strategies=("marginal+kernel",), target_class=target_class,
                                     start="200", batch=50, budget=300, seeds=(0,),
                                     pool=5_000, label_noise=0.076).check(train)
    codes = train.space.all_codes().astype(np.int64)
    start = campaign.start_codes(config.start, train, 0, codes)
    got = [campaign.run_one("marginal+kernel", cls, reference.energies, reference.classes,
                            train, config, 0, start, codes)
           for cls in (MarginalKernelStrategy, DenseKernelStrategy)]
    assert got[0]["labels"] == got[1]["labels"] and got[0]["found"] == got[1]["found"]
    assert got[0]["found"][-1] > got[0]["found"][0]  # it finds some
