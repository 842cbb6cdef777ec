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

This module is the catalogue of strategies (:data:`BUILTIN`, :func:`resolve`); the
interface and shared helpers live in :mod:`.base`, the scoring strategies in
:mod:`.scoring`, the generator strategies and ``static`` in :mod:`.generative`.
"""

from __future__ import annotations

import importlib

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
    "GreedyStrategy", "MarginalGreedyStrategy", "MarginalKernelStrategy",
    "MarginalPoolStrategy", "MarginalStrategy", "RandomStrategy", "RidgeStrategy",
    "RLStrategy", "SiteMarginals", "StaticStrategy", "Strategy", "StrategyError",
    "UCBStrategy", "VAEStrategy", "BUILTIN", "DEFAULT", "resolve", "static_strategy",
    "draw_sites", "fill", "fit_ridge", "most_frequent", "onehot",
    "onehot_columns", "predict_ridge", "site_probabilities", "top",
]

BUILTIN: dict[str, type[Strategy]] = {
    cls.name: cls for cls in (RandomStrategy, RidgeStrategy, GreedyStrategy, UCBStrategy,
                              MarginalStrategy, ARStrategy, VAEStrategy, GANStrategy,
                              RLStrategy, GFNStrategy, StaticStrategy, MarginalPoolStrategy,
                              MarginalGreedyStrategy, MarginalKernelStrategy)
}
DEFAULT = ("random", "ridge", "greedy", "ucb", "marginal", "marginal+ridge", "marginal+kernel",
           "static")


def resolve(name: str) -> tuple[str, type[Strategy]]:
    """(name, class) of a built-in name or a ``module.path:ClassName``."""
    name = name.strip()
    if name in BUILTIN:
        return name, BUILTIN[name]
    if name.startswith(StaticStrategy.name + ":"):
        cls = static_strategy(name.partition(":")[2].strip())
        return cls.name, cls
    if ":" not in name:
        raise StrategyError(f"unknown strategy {name!r}; use one of {', '.join(BUILTIN)} "
                            "or module.path:ClassName")
    module, _, attr = name.partition(":")
    try:
        obj = getattr(importlib.import_module(module), attr)
    except Exception as e:  # noqa: BLE001 - a user's module: any failure is one line
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise StrategyError(f"strategy {name!r} does not import: {first}") from None
    if not (isinstance(obj, type) and issubclass(obj, Strategy)):
        raise StrategyError(f"strategy {name!r} is not a subclass of "
                            "elpagen.campaign.strategies.Strategy")
    own = obj.__dict__.get("name")
    return (own if isinstance(own, str) and own not in BUILTIN else name), obj
