"""Discovery campaigns (elpagen.campaign; docs/design.md, "Discovery campaigns")."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest
from cli_helpers import one_line_error, run

from elpagen.campaign import catalogue, strategies
from elpagen.campaign import run as campaign
from elpagen.campaign.catalogue import StrategyKind
from elpagen.campaign.labeller import CampaignError, Labeller
from elpagen.models import plugins
from elpagen.spaces import ELPASOLITE as space


def quick(**kw) -> campaign.CampaignConfig:
    base = {"strategies": ("random", "ridge"), "start": "300", "batch": 50, "budget": 150,
            "pool": 20_000, "quick": True}
    return campaign.CampaignConfig(**{**base, **kw})


def test_the_labeller_counts_and_refuses_free_labels(reference):
    lab = Labeller.from_reference(reference, noise=0.0)
    codes = space.all_codes()[:5].astype(np.int64)
    told, truth = lab.label(codes[:3], "mine", start=True)
    assert np.allclose(told, reference.energies[codes[:3]])
    assert (truth == reference.classes[codes[:3]]).all()
    lab.label(codes[3:4], "mine")
    assert (lab.n_start, lab.n_bought) == (3, 1)
    with pytest.raises(CampaignError, match="strategy 'mine' proposed 2 composition.s. already"):
        lab.label(codes[2:5], "mine")
    with pytest.raises(CampaignError, match="'mine' proposed 1 invalid"):
        lab.label(np.array([0]), "mine")  # H H H H: a repeated element
    with pytest.raises(CampaignError, match="twice in one batch"):
        lab.label(codes[[4, 4]], "mine")
    with pytest.raises(CampaignError, match="1-D array of integer"):
        lab.label(codes[4:5].astype(float), "mine")
    assert (lab.n_start, lab.n_bought) == (3, 1)  # nothing charged for a refused batch


def test_label_noise_touches_what_is_told_not_the_truth(reference):
    codes = space.all_codes()[1000:3000].astype(np.int64)
    told, truth = Labeller.from_reference(reference, noise=0.076).label(codes, "s")
    err = told - reference.energies[codes]
    assert 0.06 < err.std() < 0.09
    assert (truth == reference.classes[codes]).all()


def test_summaries_on_a_hand_made_curve():
    labels, found = [0, 10, 20, 30], [2, 5, 9, 10]
    assert campaign.labels_to(labels, found, 5) == 10
    assert campaign.labels_to(labels, found, 11) is None
    assert campaign.found_at(labels, found, 25) == 9
    ideal = [min(2 + x, 10) for x in labels]
    assert campaign.auc(labels, ideal, 10) == 1.0
    assert campaign.auc(labels, found, 10) == pytest.approx((5 + 9 + 10) / (10 + 10 + 10))
    s = campaign.summarise([{"labels": labels, "found": found, "seconds": 1.0}], 10, 30)
    assert s["labels_to_50"] == {"mean": 10.0, "std": 0.0} and s["labels_to_90"]["mean"] == 20
    exp = campaign.expectations(100, 3.0, 50, 1000, 500, n_space=space.n_space)
    assert exp["random"]["labels"] == [0, 500, 1000]
    assert exp["random"]["found"][2] == pytest.approx(3 + 1000 * 97 / (space.n_space - 50))


def test_a_campaign_of_every_builtin_strategy(train, reference):
    names = tuple(strategies.BUILTIN)
    result = campaign.run_campaign(reference.energies, reference.classes, train,
                                   quick(strategies=names, budget=100))
    n_c = int((reference.classes == 1).sum())
    assert result["n_class"] == n_c and set(result["strategies"]) == set(names)
    for name, rec in result["strategies"].items():
        assert set(rec["summary"]) >= {"found_final", "labels_to_50", "labels_to_90", "auc"}
        for r, hits in zip(rec["seeds"], result["start"]["hits"], strict=True):
            assert r["labels"] == [0, 50, 100], name
            if issubclass(strategies.BUILTIN[name], strategies.GeneratorStrategy):
                assert 0 <= r["fallback_rounds"] <= 2, name
                # The harness scores each round's draws: precision and coverage per round.
                assert len(r["precision"]) == len(r["coverage"]) == 2, name
                assert all(0 <= v <= 1 for v in r["precision"] + r["coverage"]), name
            else:
                assert "precision" not in r, name
            assert r["found"][0] == hits and np.all(np.diff(r["found"]) >= 0), name
    # One-hot ridge finds class 1 far faster than random from 300 random labels.
    ridge = result["strategies"]["ridge"]["summary"]["found_final"]["mean"]
    rand = result["strategies"]["random"]["summary"]["found_final"]["mean"]
    assert ridge > rand + 10
    json.dumps(result)  # plain JSON
    assert "| ridge |" in campaign.table(result)


def test_proposal_quality_scores_draws_against_the_reference_classes(reference):
    classes = reference.classes
    in1 = np.flatnonzero(classes == 1)[:3]
    other = np.flatnonzero(classes == 2)[:1]
    draws = np.concatenate([in1, in1[:1], other, [-1, 0]])  # -1 invalid, 0: H H H H
    q = campaign.proposal_quality(draws, classes, 1, 10)
    assert q == {"precision": 0.8, "coverage": 0.3}  # 4 of 5 valid draws; 3 distinct of 10


def test_the_same_seed_gives_the_same_curve_and_classes_ten_and_between(train, reference):
    for c in (10, 5):
        cfg = quick(strategies=("ucb",), target_class=c, label_noise=0.05)
        a = campaign.run_campaign(reference.energies, reference.classes, train, cfg)
        b = campaign.run_campaign(reference.energies, reference.classes, train, cfg)
        assert a["strategies"]["ucb"]["seeds"][0]["found"] == \
            b["strategies"]["ucb"]["seeds"][0]["found"]


def test_start_from_the_training_set(train):
    assert campaign.start_spec("train", train) == ("train", len(train))
    codes = campaign.start_codes("train:1000", train, 0, space.all_codes())
    assert len(codes) == 1000 and np.isin(space.twins(codes)[0], codes).all()
    with pytest.raises(CampaignError, match="larger than the training set"):
        campaign.start_spec(f"train:{len(train) + 2}", train)


def _labelled(reference, n: int, target_class: int, members: int, seed: int = 0):
    """``n`` labelled codes (energies from the reference) holding ``members`` of the class."""
    rng = np.random.default_rng(seed)
    codes = space.all_codes().astype(np.int64)
    inside = codes[reference.classes[codes] == target_class]
    outside = codes[reference.classes[codes] != target_class]
    lc = np.concatenate([rng.choice(inside, members, replace=False),
                         rng.choice(outside, n - members, replace=False)])
    return lc, reference.energies[lc].astype(np.float64)


@pytest.mark.parametrize("name", ["ar", "vae", "gan", "rl", "gfn", "static", "static:vae"])
def test_generator_strategies_propose_distinct_unlabelled_valid_codes(name, train, reference):
    label, cls = strategies.resolve(name)
    assert label == name
    s = cls(seed=1, quick=True)
    s.begin(1, train.energy_classes, train.space)
    lc, le = _labelled(reference, 400, 1, 40)
    labelled = np.zeros(space.n_grid, dtype=bool)
    labelled[lc] = True
    rng = np.random.default_rng(0)
    pool = space.all_codes().astype(np.int64)
    pool = pool[~labelled[pool]]
    got = np.asarray(s.propose(lc, le, 60, rng, pool))
    assert got.shape == (60,) and len(np.unique(got)) == 60, name
    assert not labelled[got].any() and space.is_valid(space.decode(got)).all(), name
    if name == "static":  # the marginals of 40 class-1 compositions: far above random's 0.2 %
        assert (reference.classes[got] == 1).mean() > 0.05


def test_static_trains_once_and_never_reads_the_labels_it_bought(train, reference):
    s = strategies.StaticStrategy(seed=0, quick=True)
    s.begin(1, train.energy_classes, train.space)
    lc, le = _labelled(reference, 300, 1, 30)
    pool = space.all_codes().astype(np.int64)[:5000]
    first = s.propose(lc, le, 50, np.random.default_rng(0), pool)
    ranked = s.ranked.copy()
    # Round 2 with the bought labels told as nonsense: the same next 50 of the one sample.
    lc2 = np.concatenate([lc, first])
    le2 = np.concatenate([le, np.full(50, 99.0)])
    second = s.propose(lc2, le2, 50, np.random.default_rng(1), pool)
    assert (second == ranked[~np.isin(ranked, first)][:50]).all()
    assert s.settings()["refit"].startswith("never")


def test_a_generator_strategy_falls_back_while_the_class_is_empty(train, reference):
    s = strategies.VAEStrategy(seed=0, quick=True)
    s.begin(10, train.energy_classes, train.space)
    lc, le = _labelled(reference, 300, 10, 0)
    pool = space.all_codes().astype(np.int64)
    got = s.propose(lc, le, 50, np.random.default_rng(0), pool[~np.isin(pool, lc)])
    assert s.fallback_rounds == 1 and len(np.unique(got)) == 50
    # The fallback draws from the sites of the highest energies told: above random's 0.6 %.
    assert reference.energies[got].mean() > reference.energies[lc].mean()


def test_static_of_a_catalogue_model_is_named_checked_and_pickles():
    import pickle

    name, cls = strategies.resolve("static:vae")
    assert name == "static:vae" and cls.model == "vae"
    assert pickle.loads(pickle.dumps(cls)) is cls
    assert strategies.resolve("static:marginal")[1] is strategies.StaticStrategy
    with pytest.raises(strategies.StrategyError, match="static:nosuch"):
        strategies.resolve("static:nosuch")


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    (tmp_path / "my_strats.py").write_text(textwrap.dedent("""
        from elpagen.campaign.strategies import Strategy

        class Lowest(Strategy):
            name = "lowest-codes"
            def propose(self, codes, energies, batch, rng, pool):
                return pool[:batch]

        class Cheat(Strategy):
            def propose(self, codes, energies, batch, rng, pool):
                return codes[:batch]

        class Random(Lowest):
            name = "random"

        not_a_class = 3
        """))
    monkeypatch.syspath_prepend(str(tmp_path))


def test_plug_ins_load_with_the_models_loader(plugin, monkeypatch):
    calls, real = [], plugins.import_class

    def spy(path, kind=plugins.GENERATORS):
        calls.append(kind)
        return real(path, kind)

    monkeypatch.setattr(plugins, "import_class", spy)
    catalogue.reset()  # no record of an earlier test
    spec = catalogue.get("my_strats:Lowest")
    assert calls == [catalogue.STRATEGIES]
    assert (spec.name, spec.kind, catalogue.label("my_strats:Lowest")) == (
        "lowest-codes", StrategyKind.OTHER, "lowest-codes")
    assert catalogue.get("my_strats:Lowest") is spec and len(calls) == 1  # registered
    # No name of its own, or a built-in's: its import path.
    assert strategies.resolve("my_strats:Cheat")[0] == "my_strats:Cheat"
    assert strategies.resolve("my_strats:Random")[0] == "my_strats:Random"
    assert strategies.resolve("random")[1] is strategies.RandomStrategy


@pytest.mark.parametrize("path, match", [
    ("my_strats:not_a_class", r"strategy 'my_strats:not_a_class' is an int, not a "
                               r"strategy: give a subclass of elpagen.campaign.base.Strategy"),
    ("my_strats:Nope", r"has no 'Nope' \(its strategy classes: Cheat, Lowest, Random\)"),
    ("elpagen.models.vae:ConditionalVAE", "not a strategy"),
])
def test_a_bad_plug_in_is_one_line(plugin, path, match):
    with pytest.raises(strategies.StrategyError, match=match) as e:
        strategies.resolve(path)
    assert "\n" not in str(e.value)


def test_a_users_strategy_plugs_in_by_import_path(plugin, train, reference):
    cfg = quick(strategies=("my_strats:Lowest",))
    result = campaign.run_campaign(reference.energies, reference.classes, train, cfg)
    assert list(result["strategies"]) == ["lowest-codes"]


def test_a_strategy_that_relabels_is_one_line(plugin, capsys):
    one_line_error(capsys, "campaign", "--quick", "--strategies", "my_strats:Cheat", "-q",
                   match="strategy 'my_strats:Cheat' proposed 50 composition(s) already labelled")


@pytest.mark.parametrize("argv, match", [
    (["--batch", "600", "--budget", "500"], "larger than --budget"),
    (["--start", "train:99999"], "larger than the training set"),
    (["--strategies", "random,oracle"], "unknown strategy 'oracle'"),
    (["--strategies", "nosuchmodule:X"], "cannot import 'nosuchmodule'"),
    (["--strategies", "static:oracle"], "unknown model 'oracle'"),
    (["--start", "lots"], "--start expects"),
    (["--pool", "10"], "at least --batch"),
])
def test_bad_input_is_one_line(capsys, argv, match):
    one_line_error(capsys, "campaign", "--quick", *argv, match=match)


def test_the_command_writes_json_and_the_plot(tmp_path, capsys):
    code, out, err = run(capsys, "campaign", "--quick", "--strategies", "random,marginal+ridge",
                         "--pool", "5000", "-c", "10", "--json", "-o", str(tmp_path), "-q")
    assert code == 0, err
    result = json.loads(out)
    assert result["target_class"] == 10
    seeds = result["strategies"]["marginal+ridge"]["seeds"]
    assert seeds[0]["labels"][0] == 0 and len(seeds[0]["found"]) == len(seeds[0]["labels"])
    assert (tmp_path / "campaign_class10.png").stat().st_size > 1000
    assert json.loads((tmp_path / "campaign_class10.json").read_text())["budget"] == 200
