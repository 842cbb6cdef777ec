"""The campaign strategies' catalogue: every strategy described once, like the models.

A :class:`StrategySpec` names a campaign strategy and says what the harness, the command
line, the study, the report and the figures need to know about it: its class (a subclass of
:class:`elpagen.campaign.base.Strategy`, named by import path and loaded on first use), its
kind, its label and colour, whether its regressor is of the reference energies' family,
its per-round refit settings, and the default lists it joins (``elpagen campaign``, the
study). The records share :class:`elpagen.catalogue.Record` with the models' (that module
is at its size limit, so the strategies' records live here, beside the strategies).

A strategy of your own is a subclass named ``module.path:ClassName``: loaded by the one
plug-in loader (:func:`elpagen.models.plugins.import_class`) and registered on the fly by
:func:`get`; or a record of your own (:func:`register`). ``NAME:MODEL`` runs a strategy
whose record says how (``of_model``) with any catalogue generator (``static:vae``).

Blind like every strategy module: nothing here reaches the reference energies.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from elpagen import catalogue as models
from elpagen.campaign.base import Strategy, StrategyError
from elpagen.catalogue import Record
from elpagen.models import plugins

#: Where the docs say how to write a strategy (the plug-in errors end with it).
SEE = 'docs/design.md, "Discovery campaigns"'


class StrategyKind(StrEnum):
    """What a strategy is, for tables and figures."""

    BASELINE = "baseline"
    """A yardstick: random buying, the published train-once procedure."""
    REGRESSION = "regression"
    """A regressor refit on the labels each round ranks the candidates."""
    GENERATIVE = "generative"
    """A generator refit on the labels each round buys its most frequent proposals."""
    HYBRID = "hybrid"
    """Per-site marginals of the best labels draw the candidates, a regressor ranks them."""
    OTHER = "other"
    """A strategy of your own whose record says no more (registered from its class)."""


def _is_name(name: Any) -> bool:
    """A strategy name: one word, no commas (the lists on the command line)."""
    return isinstance(name, str) and bool(name) and \
        not any(c.isspace() or c == "," for c in name)


@dataclass(frozen=True)
class StrategySpec(Record):
    """One campaign strategy, described once."""

    name: str
    """The key on the command line, in JSON and in the study store (``--strategies NAME``)."""
    target: str | type
    """The class: an import path ``"package.module:Class"`` (loaded on first use) or the
    class itself."""
    kind: StrategyKind = StrategyKind.OTHER
    label: str = ""
    """Display name in tables and figures (default: ``name``)."""
    color: str = ""
    """Matplotlib colour in the figures (default: the next of the colour cycle)."""
    uses_reference_model_family: bool = False
    """Whether its regressor is a kernel ridge of the same kind as the reference energies'
    (favoured by construction, as the surrogate screening among the models)."""
    refit: Mapping[str, Any] = field(default_factory=dict)
    """Settings of the model it refits each round, at the full budget."""
    quick: Mapping[str, Any] = field(default_factory=dict)
    """The same under ``--quick`` (a catalogue generator's: over its model's quick ones)."""
    default: bool = False
    """Whether ``elpagen campaign`` runs it by default."""
    study: bool = False
    """Whether ``elpagen study`` runs it by default (the cheap-but-meaningful ones)."""
    of_model: str = ""
    """Import path of a function MODEL -> class: ``NAME:MODEL`` runs the strategy with the
    catalogue generator MODEL (empty: no such form)."""

    def __post_init__(self) -> None:
        if not _is_name(self.name):
            raise StrategyError(f"a strategy name is one word without commas, got "
                                f"{self.name!r}")
        object.__setattr__(self, "kind", StrategyKind(self.kind))
        object.__setattr__(self, "refit", dict(self.refit))
        object.__setattr__(self, "quick", dict(self.quick))


# --------------------------------------------------------------------------- built in

_SCORING, _GENERATIVE = "elpagen.campaign.scoring:", "elpagen.campaign.generative:"
_K = StrategyKind

BUILTIN: tuple[StrategySpec, ...] = (
    StrategySpec("random", _SCORING + "RandomStrategy", _K.BASELINE, "random", "C7",
                 default=True, study=True),
    StrategySpec("ridge", _SCORING + "RidgeStrategy", _K.REGRESSION, "ridge (one-hot sites)",
                 "teal", default=True, study=True),
    StrategySpec("greedy", _SCORING + "GreedyStrategy", _K.REGRESSION, "greedy (MLP)",
                 "darkgoldenrod", refit={"steps": 1500, "hidden": (128, 128, 128)},
                 quick={"steps": 40, "hidden": (32,)}, default=True),
    StrategySpec("ucb", _SCORING + "UCBStrategy", _K.REGRESSION, "UCB (ridge ensemble)",
                 "olivedrab", default=True, study=True),
    StrategySpec("marginal", _GENERATIVE + "MarginalStrategy", _K.GENERATIVE,
                 "marginal (refit)", "C4", default=True, study=True),
    StrategySpec("marginal+ridge", _SCORING + "MarginalPoolStrategy", _K.HYBRID,
                 "marginal + ridge", "C9", default=True, study=True),
    StrategySpec("marginal+greedy", _SCORING + "MarginalGreedyStrategy", _K.HYBRID,
                 "marginal + MLP", "C8"),
    StrategySpec("marginal+kernel", _SCORING + "MarginalKernelStrategy", _K.HYBRID,
                 "marginal + kernel ridge", "crimson", uses_reference_model_family=True,
                 default=True, study=True),
    StrategySpec("neighbours", "elpagen.campaign.neighbours:NeighbourStrategy", _K.HYBRID,
                 "neighbours + kernel ridge", "black", uses_reference_model_family=True),
    StrategySpec("gp", "elpagen.campaign.gp:GPStrategy", _K.REGRESSION,
                 "Gaussian process (P of the class)", "slateblue",
                 uses_reference_model_family=True),
    StrategySpec("static", _GENERATIVE + "StaticStrategy", _K.BASELINE, "static (train once)",
                 "C6", default=True, of_model=_GENERATIVE + "static_strategy"),
    StrategySpec("ar", _GENERATIVE + "ARStrategy", _K.GENERATIVE, "AR (refit)", "C3",
                 refit={"steps": 300}, quick={"steps": 20}),
    StrategySpec("vae", _GENERATIVE + "VAEStrategy", _K.GENERATIVE, "VAE (refit)", "C0",
                 refit={"steps": 500}, quick={"steps": 20}),
    StrategySpec("gan", _GENERATIVE + "GANStrategy", _K.GENERATIVE, "GAN (refit)", "C1",
                 refit={"steps": 300}, quick={"steps": 10}),
    StrategySpec("rl", _GENERATIVE + "RLStrategy", _K.GENERATIVE, "RL (refit)", "C2",
                 refit={"steps": 1_000}, quick={"steps": 20}),
    StrategySpec("gfn", _GENERATIVE + "GFNStrategy", _K.GENERATIVE, "GFlowNet (refit)", "C5",
                 refit={"steps": 300, "reward_steps": 1_500},
                 quick={"steps": 20, "reward_steps": 50}),
)

_SPECS: dict[str, StrategySpec] = {s.name: s for s in BUILTIN}
_ALIASES: dict[str, str] = {}  # a plug-in's import path -> the name it is registered under


# --------------------------------------------------------------------------- lookups


def register(spec: StrategySpec, *, replace: bool = False) -> StrategySpec:
    """Add a strategy of your own to the catalogue (every command then knows it)."""
    return spec.add_to(_SPECS, replace=replace, what="strategy", error=StrategyError)


def reset() -> None:
    """The built-in records only."""
    _SPECS.clear()
    _SPECS.update({s.name: s for s in BUILTIN})
    _ALIASES.clear()


def specs() -> tuple[StrategySpec, ...]:
    """Every record, built-in first, in catalogue order."""
    return tuple(_SPECS.values())


def names(*, kind: StrategyKind | None = None, default: bool | None = None,
          study: bool | None = None) -> tuple[str, ...]:
    """Strategy names, in catalogue order, optionally filtered."""
    return tuple(s.name for s in _SPECS.values()
                 if (kind is None or s.kind == kind) and (default is None or s.default == default)
                 and (study is None or s.study == study))


def find(name: str) -> StrategySpec | None:
    """The record of ``name`` (or of the plug-in path it aliases) if registered; loads
    nothing."""
    return _SPECS.get(name) or _SPECS.get(_ALIASES.get(name, ""))


def get(name: str) -> StrategySpec:
    """The record of ``name``: a registered name, ``NAME:MODEL`` of a record with
    ``of_model``, or a ``module.path:ClassName`` (imported and registered); a one-line
    :class:`StrategyError` otherwise."""
    name = name.strip()
    spec = find(name)
    if spec is not None:
        return spec
    parent, model = _parent(name)
    if parent is not None:
        return _variant(parent, model)
    if ":" not in name:
        raise StrategyError(f"unknown strategy {name!r}; use one of {', '.join(_SPECS)} "
                            "or module.path:ClassName")
    try:
        cls = plugins.import_class(name, STRATEGIES)
    except plugins.PluginError as e:
        raise StrategyError(str(e)) from None
    own = cls.__dict__.get("name")  # its own name, unless a built-in's: else its path
    key = own if _is_name(own) and own not in {s.name for s in BUILTIN} else name
    spec = register(StrategySpec(key, cls), replace=True)
    _ALIASES[name] = key
    return spec


def _parent(name: str) -> tuple[StrategySpec | None, str]:
    """(the record with ``of_model`` that ``NAME:MODEL`` names, MODEL), or (None, '')."""
    base, colon, model = name.partition(":")
    parent = _SPECS.get(base.strip()) if colon else None
    return (parent, model.strip()) if parent is not None and parent.of_model else (None, "")


def _variant_look(parent: StrategySpec, model: str) -> dict[str, str]:
    """Label and colour of ``NAME:MODEL``: the parent's label with the model's, the
    model's colour."""
    return {"label": f"{parent.display}: {models.label(model)}",
            "color": models.color(model, None) or parent.color}


def _variant(parent: StrategySpec, model: str) -> StrategySpec:
    cls = plugins.load_target(parent.of_model)(model)  # one line for an unknown model
    if cls is parent.cls:
        return parent
    spec = dataclasses.replace(parent, name=cls.name, target=cls, of_model="", default=False,
                               study=False, **_variant_look(parent, model))
    return register(spec, replace=True)


def check_strategy_class(obj: Any, what: str) -> type:
    """``obj`` if it is a subclass of :class:`~elpagen.campaign.base.Strategy`; one line
    naming ``what`` otherwise."""
    if not isinstance(obj, type) or not issubclass(obj, Strategy):
        raise plugins.PluginError(f"{what} is {plugins.describe(obj)}, not a strategy: give "
                                  f"a subclass of elpagen.campaign.base.Strategy ({SEE})")
    return obj


#: A strategy plug-in (``--strategies module.path:ClassName``).
STRATEGIES = plugins.PluginKind("strategy", "strategy", Strategy,
                                "mypkg.strategies:MyStrategy", check_strategy_class, SEE)


# --------------------------------------------------------------------------- properties


def label(name: str) -> str:
    """The display name of a strategy (its key when the catalogue lacks it: a store's
    plug-in); loads nothing."""
    if (s := find(name)) is not None:
        return s.display
    parent, model = _parent(name)
    return _variant_look(parent, model)["label"] if parent is not None else name


def color(name: str, fallback: str | None = None) -> str | None:
    """The colour of a strategy in figures (``fallback`` when it has none: None lets
    matplotlib take the next of its cycle); loads nothing."""
    if (s := find(name)) is not None:
        return s.color or fallback
    parent, model = _parent(name)
    return (_variant_look(parent, model)["color"] or fallback) if parent is not None \
        else fallback


def refit(strategy: type, quick: bool) -> dict[str, Any]:
    """The per-round refit settings of ``strategy`` (a class; ``quick``: its quick ones):
    its record's, or those of the nearest class it derives from that has one (a subclass of
    your own without a record of its own)."""
    for klass in strategy.__mro__:
        s = _SPECS.get(klass.__dict__.get("name", ""))
        if s is not None and s.target in (klass, f"{klass.__module__}:{klass.__qualname__}"):
            return dict(s.quick if quick else s.refit)
    return {}
