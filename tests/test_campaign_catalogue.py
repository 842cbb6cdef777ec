"""The campaign strategies' catalogue (elpagen.campaign.catalogue): one record per strategy
(label, colour, kind, refit settings), one base class, one plug-in loader shared with the
models."""

from __future__ import annotations

import matplotlib.colors
import pytest

from elpagen import catalogue as model_catalogue
from elpagen.campaign import catalogue, strategies
from elpagen.campaign.base import Strategy
from elpagen.campaign.catalogue import StrategyKind, StrategySpec
from elpagen.models import plugins


@pytest.fixture(autouse=True)
def _fresh():
    yield
    catalogue.reset()


def test_every_builtin_record_names_its_class_and_looks_distinct():
    for s in catalogue.BUILTIN:
        assert isinstance(s, model_catalogue.Record) and s.builtin, s.name
        assert issubclass(s.cls, Strategy) and s.cls.name == s.name, s.name
        assert strategies.BUILTIN[s.name] is s.cls
        assert s.kind in StrategyKind and s.kind != StrategyKind.OTHER, s.name
        assert matplotlib.colors.is_color_like(s.color), s.name
    assert len({s.display for s in catalogue.BUILTIN}) == len(catalogue.BUILTIN)
    assert len({s.color for s in catalogue.BUILTIN}) == len(catalogue.BUILTIN)
    # The kernel ridges of marginal+kernel and neighbours, and the Gaussian process's
    # Laplacian, are of the reference energies' family.
    assert [s.name for s in catalogue.BUILTIN if s.uses_reference_model_family] == \
        ["marginal+kernel", "neighbours", "gp"]


def test_default_lists_are_the_records():
    assert strategies.DEFAULT == catalogue.names(default=True) == (
        "random", "ridge", "greedy", "ucb", "marginal", "marginal+ridge", "marginal+kernel",
        "static")
    from elpagen.study.campaign_unit import STUDY_STRATEGIES

    assert catalogue.names(study=True) == STUDY_STRATEGIES
    assert set(catalogue.names(kind=StrategyKind.HYBRID)) == {
        "marginal+ridge", "marginal+greedy", "marginal+kernel", "neighbours"}


def test_refit_settings_come_from_the_record():
    vae = catalogue.get("vae")
    assert strategies.VAEStrategy(quick=False).settings()["steps"] == vae.refit["steps"]
    quick = strategies.VAEStrategy(quick=True).overrides
    assert quick == {**model_catalogue.get("vae").quick, **vae.quick}
    greedy = strategies.GreedyStrategy(quick=False)
    assert (greedy.steps, greedy.hidden) == (1500, (128, 128, 128))
    assert strategies.MarginalGreedyStrategy(quick=True).mlp.steps == 40

    class MyVAE(strategies.VAEStrategy):  # no record: the nearest built-in's settings
        name = "my-vae"

    assert MyVAE(quick=False).overrides == {"steps": 500}
    catalogue.register(StrategySpec("my-vae", MyVAE, refit={"steps": 7}))
    assert MyVAE(quick=False).overrides == {"steps": 7}


def test_a_record_of_your_own_gives_label_and_colour():
    class Mine(strategies.RandomStrategy):
        name = "mine"

    catalogue.register(StrategySpec("mine", Mine, StrategyKind.BASELINE, "my random", "navy"))
    assert strategies.resolve("mine") == ("mine", Mine)
    assert (catalogue.label("mine"), catalogue.color("mine")) == ("my random", "navy")
    with pytest.raises(strategies.StrategyError, match="already in the catalogue"):
        catalogue.register(StrategySpec("mine", Mine))
    with pytest.raises(strategies.StrategyError, match="one word without commas"):
        StrategySpec("a,b", Mine)
    # Unknown names (a store's plug-in the report has not loaded): the key, the cycle.
    assert (catalogue.label("pkg:Gone"), catalogue.color("pkg:Gone")) == ("pkg:Gone", None)


def test_static_of_a_model_has_a_record_of_its_own():
    # Its label and colour are known before the class is made (the report loads nothing).
    assert catalogue.label("static:gan") == f"{catalogue.get('static').display}: GAN"
    assert catalogue.color("static:gan") == model_catalogue.color("gan")
    spec = catalogue.get("static:gan")
    assert spec.cls.model == "gan" and spec.kind == StrategyKind.BASELINE
    assert not spec.of_model and not spec.default and catalogue.find("static:gan") is spec
    assert catalogue.get("static:marginal") is catalogue.get("static")


def test_models_and_strategies_share_the_record_base():
    assert issubclass(model_catalogue.ModelSpec, model_catalogue.Record)
    assert issubclass(StrategySpec, model_catalogue.Record)
    assert model_catalogue.get("vae").cls is plugins.load_target("elpagen.models.vae:"
                                                                 "ConditionalVAE")
