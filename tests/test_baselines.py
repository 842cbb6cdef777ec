import numpy as np
import pytest

from elpagen import baselines
from elpagen.generator import Generator, SamplingError
from elpagen.spaces import ELPASOLITE as space


def test_random_is_uniform_over_space():
    s = baselines.RandomScreening(space=space).sample(200_000, 1, seed=0)
    assert s.n_valid == 200_000 and s.n_drawn > s.n_valid
    # valid share of uniform grid draws is 39*38*37*36 / 39**4
    assert s.n_valid / s.n_drawn == pytest.approx(space.n_space / space.n_grid, abs=0.005)
    el = space.decode(s.codes)
    assert space.is_valid(el).all()
    freq = np.bincount(el[:, 0], minlength=39) / len(el)
    assert np.allclose(freq, 1 / 39, atol=0.003)


def test_sampling_is_seeded():
    g = baselines.RandomScreening(space=space)
    assert np.array_equal(g.sample(1000, 1, seed=5).codes, g.sample(1000, 1, seed=5).codes)
    assert not np.array_equal(g.sample(1000, 1, seed=5).codes, g.sample(1000, 1, seed=6).codes)


def test_marginal_matches_training_class(train):
    g = baselines.MarginalSampler().fit(train)
    s = g.sample(100_000, 1, seed=0)
    el = space.decode(s.codes)
    train_el = space.decode(train.codes_of_class(1))
    # only elements seen on a site in training class 1 appear there
    for site in range(space.n_sites):
        assert set(np.unique(el[:, site])) <= set(np.unique(train_el[:, site]))
    # and the frequencies follow the class marginals (up to rejection of repeats)
    p = np.bincount(el[:, 3], minlength=39) / len(el)
    q = np.bincount(train_el[:, 3], minlength=39) / len(train_el)
    assert np.abs(p - q).sum() < 0.15


def test_sample_validation():
    g = baselines.RandomScreening(space=space)
    with pytest.raises(ValueError, match="1 to 10"):
        g.sample(10, 11)
    with pytest.raises(ValueError, match="positive"):
        g.sample(0, 1)


def test_sample_counts_invalid_and_stops():
    class Half(Generator):
        name = "half"

        def fit(self, train, target_class=None):
            return self

        def propose(self, n, target_class, rng):
            out = np.full(n, 1602)  # HHeLi2Be6: the codes must be compositions
            out[::2] = -1
            return out

    s = Half().sample(1001, 1, seed=0, space=space)
    # every proposal chunk alternates invalid/valid starting invalid: about one invalid
    # per valid, and counting stops at the 1001st valid proposal
    assert s.n_valid == 1001 and s.n_drawn == s.n_valid + s.n_invalid
    assert 1001 <= s.n_invalid <= 1001 + 3

    class Never(Half):
        def propose(self, n, target_class, rng):
            return np.full(n, -1)

    with pytest.raises(SamplingError, match="only 0 valid"):
        Never().sample(10, 1, max_rounds=3, space=space)


def test_an_unfitted_random_screening_has_no_space():
    with pytest.raises(RuntimeError, match="not fitted"):
        baselines.RandomScreening().propose(10, 1, np.random.default_rng(0))


def test_random_screening_reads_the_space_at_fit(train):
    g = baselines.RandomScreening().fit(train)
    assert g.space == train.space
    assert np.array_equal(g.sample(500, 1, seed=2).codes,
                          baselines.RandomScreening(space=space).sample(500, 1, seed=2).codes)
