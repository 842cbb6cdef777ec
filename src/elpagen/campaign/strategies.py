"""Campaign strategies: each buys a batch of compositions it has not labelled yet.

Blind: nothing here reaches :mod:`elpagen.reference` (tests/test_architecture.py). A
strategy sees only the labels it bought (energies as told, possibly noisy) and the
candidate pool the harness hands it.

One interface (:class:`Strategy`): ``begin(target_class, energy_classes)`` once per
campaign, then each round ``propose(labelled_codes, labelled_energies, batch, rng, pool)``
returns ``batch`` distinct codes. ``pool`` holds the unlabelled compositions the strategy
may score this round (all of them without ``--pool``). Scoring strategies pick from it;
generator strategies refit a generator on the labelled set and buy its most frequent
unlabelled proposals (the pool only fills a shortfall). A user's strategy is a subclass
named on the command line as ``module.path:ClassName``.

This module gathers the strategies' names: :func:`resolve` (a name to its class),
:data:`BUILTIN` and :data:`DEFAULT`, all read from the records of the catalogue
(:mod:`.catalogue`: label, colour, kind, refit settings); the interface and shared helpers
live in :mod:`.base`, the scoring strategies in :mod:`.scoring` and :mod:`.neighbours`, the
generator strategies and ``static`` in :mod:`.generative`.
"""

from __future__ import annotations

from elpagen.campaign import catalogue
from elpagen.campaign.base import (
    Strategy,
    StrategyError,
    draw_sites,
    fill,
    fit_ridge,
    most_frequent,
    onehot,
    onehot_columns,
    predict_ridge,
    site_probabilities,
    top,
)
from elpagen.campaign.generative import (
    ARStrategy,
    CatalogueStrategy,
    GANStrategy,
    GeneratorStrategy,
    GFNStrategy,
    MarginalStrategy,
    RLStrategy,
    SiteMarginals,
    StaticStrategy,
    VAEStrategy,
    static_strategy,
)
from elpagen.campaign.gp import GPStrategy
from elpagen.campaign.neighbours import NeighbourStrategy
from elpagen.campaign.scoring import (
    GreedyStrategy,
    MarginalGreedyStrategy,
    MarginalKernelStrategy,
    MarginalPoolStrategy,
    RandomStrategy,
    RidgeStrategy,
    UCBStrategy,
)

__all__ = [
    "ARStrategy", "CatalogueStrategy", "GANStrategy", "GeneratorStrategy", "GFNStrategy",
    "GPStrategy", "GreedyStrategy", "MarginalGreedyStrategy", "MarginalKernelStrategy",
    "MarginalPoolStrategy", "MarginalStrategy", "NeighbourStrategy", "RandomStrategy",
    "RidgeStrategy", "RLStrategy", "SiteMarginals", "StaticStrategy", "Strategy", "StrategyError",
    "UCBStrategy", "VAEStrategy", "BUILTIN", "DEFAULT", "resolve", "static_strategy",
    "draw_sites", "fill", "fit_ridge", "most_frequent", "onehot",
    "onehot_columns", "predict_ridge", "site_probabilities", "top",
]

#: Every built-in strategy's class by name, in catalogue order (the records' classes).
BUILTIN: dict[str, type[Strategy]] = {spec.name: spec.cls for spec in catalogue.BUILTIN}
#: What ``elpagen campaign`` runs without ``--strategies`` (the records' ``default``).
DEFAULT: tuple[str, ...] = catalogue.names(default=True)


def resolve(name: str) -> tuple[str, type[Strategy]]:
    """(name, class) of a catalogue name, ``static:MODEL`` or a ``module.path:ClassName``
    (:func:`elpagen.campaign.catalogue.get`: one line when it is none)."""
    spec = catalogue.get(name)
    return spec.name, spec.cls
