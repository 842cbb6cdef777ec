"""Seed ensembles: K fits sampled as one mixture (elpagen.generator.Mixture)."""

import numpy as np
import pytest

from elpagen import baselines
from elpagen.errors import InputError
from elpagen.generator import Mixture
from elpagen.harness.config import RunConfig
from elpagen.harness.trial import fit as fit_generators
from elpagen.spaces import ELPASOLITE as space


def test_mixture_draws_from_every_member_in_proportion(train):
    # The fitted marginal sampler and a flattened copy (T = 4): their site-A distributions
    # differ, so the share of draws from each member is readable from the samples.
    a = baselines.MarginalSampler().fit(train)
    mix = Mixture([a, a.with_knob(4.0)])
    s = mix.sample(50_000, 1, seed=3)
    assert s.n_valid == 50_000 and space.is_valid(space.decode(s.codes)).all()
    # reproducible with the seed, different with another
    assert np.array_equal(s.codes, mix.sample(50_000, 1, seed=3).codes)
    assert not np.array_equal(s.codes, mix.sample(50_000, 1, seed=4).codes)
    # the mixture's site-A distribution is the mean of the members' distributions
    def site_a(g, seed):
        el = space.decode(g.sample(200_000, 1, seed=seed).codes)
        return np.bincount(el[:, 0], minlength=space.sizes[0]) / len(el)
    mean = (site_a(mix.members[0], 1) + site_a(mix.members[1], 2)) / 2
    assert np.abs(site_a(mix, 5) - mean).sum() < 0.02
    # and differs clearly from either member alone
    assert np.abs(site_a(mix.members[0], 1) - site_a(mix.members[1], 2)).sum() > 0.2


def test_mixture_knob_sets_every_member(train):
    a, b = (baselines.MarginalSampler(seed=s).fit(train) for s in (0, 1))
    mix = Mixture([a, b])
    assert mix.knob == a.knob and mix.knob_grid == a.knob_grid
    hot = mix.with_knob(2.0)
    assert [m.knob_value for m in hot.members] == [2.0, 2.0]
    assert mix.knob_value == a.knob_value  # the original is untouched
    with pytest.raises(InputError):
        mix.with_knob(-1.0)


def test_blend_of_kinds_is_weighted_and_has_no_knob(train):
    m, r = baselines.MarginalSampler().fit(train), baselines.RandomScreening().fit(train)
    blend = Mixture([m, r], weights=[3, 1])
    assert blend.knob is None and blend.name == "marginal+random"
    with pytest.raises(InputError, match="no knob"):
        blend.with_knob(1.0)
    # random screening puts almost nothing on class 1's site-D element F; the marginal
    # sampler puts everything there: the share of F is 3/4 + 1/4 * 1/39
    el = space.decode(blend.sample(40_000, 1, seed=0).codes)
    f = space.sites[0].elements.index("F")
    assert np.mean(el[:, 3] == f) == pytest.approx(0.75 + 0.25 / 39, abs=0.01)
    with pytest.raises(InputError, match="at least one"):
        Mixture([])
    with pytest.raises(InputError, match="weights"):
        Mixture([m, r], weights=[1, -1])


def test_fit_generators_groups_seeds_into_ensembles(train):
    gens = fit_generators("marginal", train, [0, 1], 1, mixture=3)
    assert [type(g) for g in gens] == [Mixture, Mixture]
    assert [[m.seed for m in g.members] for g in gens] == [[0, 1, 2], [3, 4, 5]]
    assert gens[0].name == "marginalx3"
    with pytest.raises(InputError, match="mixture"):  # checked once, at the boundary
        RunConfig(models=("marginal",), mixture=0)
