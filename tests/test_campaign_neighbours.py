"""The rougher truth (``--truth-residual``) and the ``neighbours`` strategy (issue 26)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_helpers import one_line_error, run
from toy_space import TOY

from elpagen.campaign import run as campaign
from elpagen.campaign import strategies
from elpagen.campaign.labeller import CampaignError, Labeller
from elpagen.campaign.neighbours import NeighbourStrategy
from elpagen.data import EnergyClasses, TrainingSet
from elpagen.reference import ReferenceEnergies
from elpagen.spaces import ELPASOLITE


@pytest.fixture(scope="module")
def toy():
    """(training set, reference) of the toy space: per-site and site-pair energies plus a
    rough part, so that a ranking model has something to learn beyond the marginals."""
    rng = np.random.default_rng(26)
    codes = TOY.all_codes()
    el = TOY.decode(codes)
    site_e = [rng.normal(0.0, 0.5, n) for n in TOY.sizes]
    pair = rng.normal(0.0, 0.3, (TOY.sizes[0], TOY.sizes[2]))
    energies = (sum(w[el[:, s]] for s, w in enumerate(site_e)) + pair[el[:, 0], el[:, 2]]
                + rng.normal(0, 0.05, len(codes)))
    bounds = EnergyClasses(float(energies.min()) - 1e-6, float(energies.max()) + 1e-6)
    ref = ReferenceEnergies.from_table(TOY, codes, energies, bounds)
    pick = np.sort(rng.choice(len(codes), 80, replace=False))
    train = TrainingSet(codes[pick], energies[pick].astype(np.float64), bounds, space=TOY)
    return train, ref


# --------------------------------------------------------------------------- residual


def test_the_residual_is_fixed_per_composition_equal_on_twins_and_seeded(train, reference):
    sp = reference.space
    e0, c0 = campaign.seed_truth(reference.energies, reference.classes, train, 0.074, 0, sp)
    e0b, _ = campaign.seed_truth(reference.energies, reference.classes, train, 0.074, 0, sp)
    e1, c1 = campaign.seed_truth(reference.energies, reference.classes, train, 0.074, 1, sp)
    codes = sp.all_codes().astype(np.int64)
    r0 = e0[codes] - reference.energies[codes]
    assert np.array_equal(e0, e0b, equal_nan=True)  # seeded: the same draw again
    assert 0.07 < r0.std() < 0.078 and abs(r0.mean()) < 0.002
    assert not np.allclose(r0, e1[codes] - reference.energies[codes])  # another seed
    twin = sp.twins(codes)[0]
    assert np.allclose(r0, e0[twin] - reference.energies[twin], rtol=0, atol=1e-12)  # one r
    # The classes are those of the rougher energies, by the training set's bounds.
    assert np.array_equal(c0[codes], train.energy_classes.assign(e0[codes]))
    assert (c0[reference.classes == 0] == 0).all()
    assert (c0[codes] != reference.classes[codes]).mean() > 0.01
    assert (c0 == 1).sum() != (c1 == 1).sum()  # the class size is the seed's own


def test_sigma_zero_is_the_reference_itself(train, reference):
    e, c = campaign.seed_truth(reference.energies, reference.classes, train, 0.0, 3,
                               reference.space)
    assert e is reference.energies and c is reference.classes


def test_the_labeller_and_the_scoring_see_the_same_rougher_truth(toy):
    train, ref = toy
    cfg = campaign.CampaignConfig(strategies=("random",), start="20", batch=10, budget=40,
                                  pool=100, seeds=(0, 1), truth_residual=0.3)
    result = campaign.run_campaign(ref.energies, ref.classes, train, cfg, space=TOY)
    assert result["truth_residual"] == 0.3
    sizes = []
    for seed in (0, 1):
        e, c = campaign.seed_truth(ref.energies, ref.classes, train, 0.3, seed, TOY)
        sizes.append(int((c == 1).sum()))
        # What the labeller tells is the rougher energy (no label noise here).
        lab = Labeller(e, c, 0.0, seed, space=TOY)
        codes = TOY.all_codes()[:30].astype(np.int64)
        told, truth = lab.label(codes, "me")
        assert np.allclose(told, e[codes]) and np.array_equal(truth, c[codes])
    assert result["n_class_seeds"] == sizes
    assert result["n_class"] == pytest.approx(np.mean(sizes), abs=0.05)
    runs = result["strategies"]["random"]["seeds"]
    assert [r["n_class"] for r in runs] == sizes
    # A campaign buying the whole class of a seed finds exactly that seed's class.
    summary = result["strategies"]["random"]["summary"]
    assert summary["auc"]["mean"] <= 1.0
    text = campaign.table(result)
    mean = f"{np.mean(sizes):,.1f}".removesuffix(".0")
    assert "truth residual 0.3" in text
    assert f"class 1: {mean} compositions on average (per seed {sizes});" in text


def test_sigma_zero_leaves_a_campaign_bitwise_unchanged(toy):
    train, ref = toy
    base = {"strategies": ("random", "ridge", "neighbours"), "start": "20", "batch": 10,
            "budget": 30, "pool": 100, "seeds": (0, 1), "label_noise": 0.05}
    a = campaign.run_campaign(ref.energies, ref.classes, train,
                              campaign.CampaignConfig(**base), space=TOY)
    b = campaign.run_campaign(ref.energies, ref.classes, train,
                              campaign.CampaignConfig(**base, truth_residual=0.0), space=TOY)
    for name in base["strategies"]:
        for ra, rb in zip(a["strategies"][name]["seeds"], b["strategies"][name]["seeds"],
                          strict=True):
            assert ra["found"] == rb["found"] and "n_class" not in ra
    assert a["n_class"] == int((ref.classes == 1).sum()) and "n_class_seeds" not in a
    assert f"class 1: {a['n_class']:,} compositions; start" in campaign.table(a)
    assert a["expected"] == b["expected"]


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf")])
def test_a_bad_residual_is_one_line(toy, bad):
    train, _ = toy
    with pytest.raises(CampaignError, match="--truth-residual must be a number >= 0"):
        campaign.CampaignConfig(truth_residual=bad, start="20", batch=5, budget=10).check(train)


def test_the_cli_flag(capsys, perovskite):
    one_line_error(capsys, "campaign", "--quick", "--truth-residual", "-1",
                   match="--truth-residual must be a number >= 0")
    code, out, _ = run(capsys, "campaign", "--space", "perovskite", "--strategies", "random",
                       "--start", "50", "--batch", "25", "--budget", "50", "--seeds", "2",
                       "--truth-residual", "0.05", "--json", "--quiet")
    assert code == 0
    doc = json.loads(out)
    assert doc["truth_residual"] == 0.05 and len(doc["n_class_seeds"]) == 2


# --------------------------------------------------------------------------- neighbours


def _propose(train, ref, n_start, batch, pool=None):
    space = ref.space
    s = NeighbourStrategy(seed=1)
    s.space = space
    s.labellable = ref.classes > 0
    s.begin(1, train.energy_classes)
    lab = Labeller.from_reference(ref)
    codes = np.flatnonzero(ref.classes > 0).astype(np.int64)
    start = np.random.default_rng(0).choice(codes, n_start, replace=False)
    told, _ = lab.label(start, "start", start=True)
    unl = codes[~lab.labelled_mask[codes]] if pool is None else pool
    got = np.asarray(s.propose(start, told, batch, np.random.default_rng(2), unl))
    assert got.shape == (batch,) and len(np.unique(got)) == batch
    assert (ref.classes[got] > 0).all() and not np.isin(got, start).any()
    lab.label(got, "neighbours")  # the labeller takes them
    return got


def test_neighbours_proposes_distinct_valid_unlabelled_codes(toy, perovskite):
    _propose(*toy, 30, 12)
    _propose(*perovskite, 100, 50)


def test_neighbours_on_the_elpasolite(train, reference):
    pool = np.random.default_rng(3).choice(ELPASOLITE.all_codes().astype(np.int64), 5000,
                                           replace=False)
    got = _propose(train, reference, 300, 40, pool)
    assert (reference.classes[got] <= 3).mean() > 0.5  # near class 1, far from random's


def test_neighbours_finds_twins_of_what_it_was_told_in_the_class():
    s = NeighbourStrategy()
    s.space = ELPASOLITE
    s.begin(1, EnergyClasses(-3.0, 5.0))
    codes = ELPASOLITE.all_codes()[::50_000].astype(np.int64)
    cand, counts = s.neighbours(codes[:1], np.zeros(ELPASOLITE.n_grid, dtype=bool))
    twin = ELPASOLITE.twins(codes[:1])[0][0]
    assert twin in cand and counts[cand == twin][0] == max(counts)


@pytest.mark.parametrize("name, budget", [("neighbours", 200), ("gp", 150)])
def test_it_beats_random_on_the_perovskites(perovskite, name, budget):
    train, ref = perovskite
    cfg = campaign.CampaignConfig(strategies=("random", name), start="100", batch=50,
                                  budget=budget, seeds=(0,))
    result = campaign.run_campaign(ref.energies, ref.classes, train, cfg, space=ref.space)
    got = {n: r["seeds"][0]["found"][-1] for n, r in result["strategies"].items()}
    assert got[name] > 3 * max(got["random"], 5), got


def test_neighbours_is_a_builtin_of_the_reference_family():
    from elpagen.campaign import catalogue

    spec = catalogue.get("neighbours")
    assert spec.cls is strategies.NeighbourStrategy and spec.uses_reference_model_family
