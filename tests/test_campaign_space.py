"""Campaigns and baselines on a space other than the elpasolite (issue 25): a toy space
of three sites with different element lists, its energies a seeded synthetic table."""

from __future__ import annotations

import numpy as np
import pytest
from toy_space import TOY

from elpagen import baselines, materials
from elpagen.campaign import run as campaign
from elpagen.campaign import strategies
from elpagen.campaign.labeller import CampaignError, Labeller
from elpagen.data import EnergyClasses, TrainingSet
from elpagen.errors import InputError
from elpagen.reference import ReferenceEnergies
from elpagen.space import CompositionSpace, Site

#: Strategies that need no torch model (the catalogue generators take minutes).
CHEAP = ("random", "ridge", "ucb", "marginal", "marginal+ridge", "marginal+kernel", "static")


@pytest.fixture(scope="module")
def toy():
    """(training set, reference) of the toy space: additive per-site energies plus noise."""
    rng = np.random.default_rng(25)
    codes = TOY.all_codes()
    el = TOY.decode(codes)
    site_e = [rng.normal(0.0, 0.5, n) for n in TOY.sizes]
    energies = sum(w[el[:, s]] for s, w in enumerate(site_e)) + rng.normal(0, 0.05, len(codes))
    bounds = EnergyClasses(float(energies.min()) - 1e-6, float(energies.max()) + 1e-6)
    ref = ReferenceEnergies.from_table(TOY, codes, energies, bounds)
    pick = np.sort(rng.choice(len(codes), 80, replace=False))
    train = TrainingSet(codes[pick], energies[pick].astype(np.float64), bounds, space=TOY)
    return train, ref


def test_the_toy_space_is_not_the_elpasolite_shape():
    assert TOY.n_sites == 3 and TOY.sizes == (5, 6, 7) and TOY.n_space == TOY.n_grid == 210
    assert not TOY.symmetries and TOY.code_dtype == np.int32


def test_a_campaign_of_every_cheap_strategy_on_the_toy_space(toy):
    train, ref = toy
    cfg = campaign.CampaignConfig(strategies=CHEAP, target_class=1, start="30", batch=10,
                                  budget=30, pool=100, quick=True, seeds=(0, 1))
    result = campaign.run_campaign(ref.energies, ref.classes, train, cfg, space=ref.space)
    assert result["n_space"] == TOY.n_space and set(result["strategies"]) == set(CHEAP)
    n_c = int((ref.classes == 1).sum())
    for name, rec in result["strategies"].items():
        for r in rec["seeds"]:
            assert r["labels"] == [0, 10, 20, 30], name
            assert 0 <= r["found"][-1] <= n_c, name
    assert "5 + 6 + 7" in result["strategies"]["ridge"]["settings"]["features"]
    assert "/ 4)" in result["strategies"]["marginal+kernel"]["settings"]["regressor"]


@pytest.mark.parametrize("name", CHEAP)
def test_cheap_strategies_propose_only_toy_codes(toy, name):
    train, ref = toy
    _, cls = strategies.resolve(name)
    s = cls(seed=3, quick=True)
    s.begin(1, train.energy_classes, TOY)
    lab = Labeller.from_reference(ref)
    start = np.asarray(train.codes[:40], dtype=np.int64)
    told, _ = lab.label(start, "start", start=True)
    pool = TOY.all_codes().astype(np.int64)
    pool = pool[~lab.labelled_mask[pool]]
    got = np.asarray(s.propose(start, told, 12, np.random.default_rng(0), pool))
    assert got.shape == (12,) and len(np.unique(got)) == 12, name
    assert ((got >= 0) & (got < TOY.n_grid)).all() and TOY.is_valid(TOY.decode(got)).all()
    assert not np.isin(got, start).any(), name
    lab.label(got, name)  # the labeller accepts them


def test_a_strategy_without_a_space_says_so(toy):
    train, _ = toy
    s = strategies.RidgeStrategy()
    s.begin(1, train.energy_classes)
    with pytest.raises(strategies.StrategyError, match="no composition space"):
        s.propose(train.codes, train.energies, 5, np.random.default_rng(0), train.codes)


def test_the_labeller_reads_the_reference_space(toy):
    train, ref = toy
    lab = Labeller.from_reference(ref)
    assert lab.space == TOY
    with pytest.raises(CampaignError, match="twice in one batch, e.g. "):
        lab.label(np.array([7, 7]), "me")
    with pytest.raises(CampaignError, match="invalid"):
        lab.label(np.array([TOY.n_grid]), "me")
    with pytest.raises(CampaignError, match="not one per grid point"):
        Labeller(ref.energies[:-1], ref.classes[:-1], space=TOY)


def test_baselines_on_the_toy_space(toy):
    train, _ = toy
    for g in (baselines.RandomScreening(seed=0).fit(train),
              baselines.MarginalSampler(seed=0, smoothing=0.1).fit(train)):
        s = g.sample(2000, 1, seed=1)
        assert ((s.codes >= 0) & (s.codes < TOY.n_grid)).all(), g.name
        el = TOY.decode(s.codes)
        for site, n in enumerate(TOY.sizes):
            assert el[:, site].max() < n
        d = g.composition_distribution(1)
        assert d.shape == (TOY.n_grid,) and d.sum() == pytest.approx(1.0)
    m = baselines.MarginalSampler(seed=0).fit(train)
    p = m.site_probabilities(1)
    assert p.shape == (3, 7) and (p[0, 5:] == 0).all() and (p[1, 6:] == 0).all()


def test_materials_stoichiometry_and_no_export_for_another_prototype():
    perovskite = CompositionSpace("toy-perovskite", (Site("A", ("Ca", "Sr")),
                                                    Site("B", ("Ti", "Zr"))), fixed="O3")
    assert materials.fixed_counts(perovskite) == {"O": 3}
    assert materials.stoichiometry(perovskite, ("Sr", "Ti")) == {"Sr": 1, "Ti": 1, "O": 3}
    assert materials.stoichiometry(TOY, ("Na", "Mg", "S")) == {"Na": 1, "Mg": 1, "S": 1}
    with pytest.raises(InputError, match="export is not available for the 'unnamed' proto"):
        materials.lattice(np.array([0]), TOY)
    with pytest.raises(InputError, match="export is not available"):
        materials.export(np.array([0]), "jsonl", "-", space=perovskite)
