"""The model catalogue: every generator and baseline described once, in one typed record.

A :class:`ModelSpec` names a model and says everything the harness needs to know about it:
its class, its kind (generator, baseline, screening), its label and colour in tables and
figures, its settings in the study's quick budget, its hyperparameter-search space, the
published points to draw beside it. The command line (help texts and default model
lists), the study plan, the report, the frontier and the search all read these records;
no other module spells a built-in model's name.

Adding a generator is one module (the class, on the :class:`elpagen.generator.Generator`
interface) and one record: append it to :data:`BUILTIN`, or call :func:`register` for a
model of your own (docs/design.md, "Adding a generator").

Plug-ins (docs/design.md, "Plug-in generators") need no record: ``--models mypkg:MyGen``
registers the class on the fly (:func:`register_class`); installed packages announce theirs
in the entry-point group ``elpagen.generators``, read when a name is unknown or all asked.
Classes are named by import path, loaded on first use (``elpagen --help`` loads no torch).
Campaign strategies have records of the same kind in :mod:`elpagen.campaign.catalogue`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from elpagen.errors import InputError
from elpagen.searchdims import Dim


class Kind(StrEnum):
    """What a model is, for tables, figures and the cost of discovery."""

    GENERATOR = "generator"
    """Learns a distribution from the training set and samples new compositions."""
    BASELINE = "baseline"
    """A yardstick without learning beyond counting: random screening, per-site marginals."""
    SCREENING = "screening"
    """Enumerates the whole space and ranks it with a regressor: screening, not generation
    (favoured by construction here: the reference energies are a regressor too)."""


class Command(StrEnum):
    """The commands whose default ``--models`` list a record may join."""

    BENCHMARK = "benchmark"
    FRONTIER = "frontier"


class UnknownModelError(InputError):
    """A model name that is neither known nor a plug-in that loads."""


class PluginWarning(UserWarning):
    """An installed plug-in (entry point ``elpagen.generators``) that failed to load."""


def _is_path(name: str) -> bool:
    from elpagen.models import plugins

    return ":" in name and plugins.is_plugin_path(name)


class Record:
    """What a catalogue record shares (a model's :class:`ModelSpec`, a campaign strategy's
    :class:`elpagen.campaign.catalogue.StrategySpec`): a name, a class and a label."""

    name: str
    target: str | type
    label: str

    @property
    def cls(self) -> type:
        """The class (imported now if named by path: :func:`.plugins.load_target`)."""
        from elpagen.models.plugins import load_target

        return load_target(self.target)

    @property
    def display(self) -> str:
        return self.label or self.name

    @property
    def builtin(self) -> bool:
        """Whether the class is part of elpagen (its errors are bugs, not the user's)."""
        t = self.target
        return (t if isinstance(t, str) else getattr(t, "__module__", "")).startswith("elpagen.")

    def add_to(self, table: dict[str, Any], *, replace: bool, what: str = "model",
               error: type[InputError] = InputError) -> Any:
        """This record in ``table`` (a catalogue) under its name; one line if it is taken."""
        if self.name in table and not replace:
            raise error(f"a {what} named {self.name!r} is already in the catalogue; "
                        "choose another name or pass replace=True")
        table[self.name] = self
        return self


@dataclass(frozen=True)
class ModelSpec(Record):
    """One generator or baseline, described once."""

    name: str
    """The key on the command line, in JSON and in the study store (``--models NAME``)."""
    target: str | type
    """The class: an import path ``"package.module:Class"`` (loaded on first use) or the
    class itself (a model defined in a script or a test)."""
    kind: Kind = Kind.GENERATOR
    """Generator, baseline or screening (:class:`Kind`)."""
    label: str = ""
    """Display name in tables and figures (default: ``name``)."""
    color: str = ""
    """Matplotlib colour in the report and frontier plots (default: grey)."""
    quick: Mapping[str, Any] = field(default_factory=dict)
    """Settings of the study's ``--quick`` budget (tiny networks; configured models only)."""
    search: tuple[Dim, ...] | None = None
    """The hyperparameter-search space of ``elpagen search`` (None: not searchable)."""
    published: Mapping[int, tuple[float, float]] = field(default_factory=dict)
    """Published (precision, coverage) per target class, drawn beside the frontier."""
    uses_training: bool = True
    """False for a model that ignores the training set (its discovery costs no training)."""
    defaults: frozenset[Command] = frozenset()
    """Commands whose default ``--models`` list holds this model."""
    study: bool = True
    """Whether ``elpagen study`` runs it by default."""
    version: str = ""
    """The generator's version (a plug-in: its class's or module's ``__version__``, or its
    package's; empty for the built-ins)."""
    description: str = ""
    """One line saying what the generator is (a plug-in: its docstring's first line)."""

    def __post_init__(self) -> None:
        if not self.name.replace("_", "").replace("-", "").isalnum() and \
                not _is_path(self.name):
            raise InputError(f"a model name is letters, digits, '-' and '_' (or a plug-in's "
                             f"module.path:ClassName), got {self.name!r}")
        # Private plain dicts: unchanged when the caller's change; they pickle to workers.
        object.__setattr__(self, "quick", dict(self.quick or {}))
        object.__setattr__(self, "published", dict(self.published or {}))
        object.__setattr__(self, "defaults", frozenset(Command(c) for c in self.defaults))

    @property
    def configured(self) -> bool:
        """Whether the model has settings (a ``Config`` dataclass and ``PROTOCOLS``)."""
        return hasattr(self.cls, "Config") and hasattr(self.cls, "PROTOCOLS")

    @property
    def ensemble(self) -> bool:
        """Whether it trains K seeds as one batched torch ensemble (checkpointed in a study)."""
        from elpagen.models.base import TorchEnsembleGenerator

        return issubclass(self.cls, TorchEnsembleGenerator)

    @property
    def conditional(self) -> bool:
        """One fit serves every target class (else a fit per class)."""
        return bool(getattr(self.cls, "conditional", True))

    def protocol_for(self, protocol: str) -> str:
        """The protocol this model runs when ``protocol`` is asked for: itself, or the one
        protocol of a model that has only one (the screening regressor runs ``fast``)."""
        protocols = getattr(self.cls, "PROTOCOLS", {})
        if protocol in protocols or not protocols:
            return protocol
        return next(iter(protocols))

    def config(self, protocol: str, overrides: Mapping[str, Any] | None = None) -> Any:
        """The validated settings of ``protocol`` with ``overrides`` (configured models)."""
        from elpagen.settings import resolve_config

        cls = self.cls
        return resolve_config(cls.Config, cls.PROTOCOLS, self.protocol_for(protocol), overrides)


# --------------------------------------------------------------------------- built in

#: The policy network shared by ar and gfn (``layers`` x ``width`` is the context network
#: h; the element network g over (row, group) keeps the protocol's widths).
_TINY_LAYERS, _TINY_WIDTH, _TINY_BATCH = (1, 2), (8, 32), (32, 128)
_AR_POLICY = (
    Dim("layers", 1, 3, quick=_TINY_LAYERS),
    Dim("width", 64, 512, log=True, quick=_TINY_WIDTH),
    Dim("embed", 8, 64, log=True, quick=(4, 16)),
    Dim("lr", 1e-4, 3e-3, log=True, integer=False),
    Dim("batch_size", 64, 1024, log=True, quick=_TINY_BATCH),
    Dim("steps", 0.25, 2.0, log=True, budget=True, quick=(20, 60)),
)
_BOTH = (Command.BENCHMARK, Command.FRONTIER)

BUILTIN: tuple[ModelSpec, ...] = (
    ModelSpec(
        "vae", "elpagen.models.vae:ConditionalVAE", Kind.GENERATOR, "VAE", "C0",
        quick={"hidden": (32, 32), "steps": 60, "batch_size": 64},
        search=(
            Dim("layers", 1, 3, quick=_TINY_LAYERS),
            Dim("width", 64, 512, log=True, quick=_TINY_WIDTH),
            Dim("latent", 2, 16),
            Dim("lr", 1e-4, 3e-3, log=True, integer=False),
            Dim("batch_size", 64, 1024, log=True, quick=_TINY_BATCH),
            Dim("steps", 0.25, 2.0, log=True, budget=True, quick=(20, 60)),
            Dim("kl_weight", 0.01, 1.0, log=True, integer=False),
        ),
        published={1: (0.83, 0.54)}, defaults=frozenset(_BOTH),
    ),
    ModelSpec(
        "gan", "elpagen.models.gan:ConditionalWGAN", Kind.GENERATOR, "GAN", "C1",
        quick={"hidden": (32,), "steps": 20, "batch_size": 64},
        search=(
            Dim("layers", 1, 3, quick=_TINY_LAYERS),
            Dim("width", 64, 1024, log=True, quick=_TINY_WIDTH),
            Dim("lr", 1e-5, 1e-3, log=True, integer=False),
            Dim("batch_size", 32, 512, log=True, quick=_TINY_BATCH),
            Dim("steps", 0.25, 2.0, log=True, budget=True, quick=(10, 30)),
            Dim("critic_steps", 1, 5, quick=(1, 2)),
            Dim("gp_weight", 1.0, 30.0, log=True, integer=False),
        ),
        published={1: (0.66, 0.62)}, defaults=frozenset(_BOTH),
    ),
    ModelSpec(
        "rl", "elpagen.models.dqn:DQNAgent", Kind.GENERATOR, "RL (DQN)", "C2",
        # Step-by-step sampling: the policy table costs ~0.4 s per knob value, more than
        # the few thousand samples of a quick unit.
        quick={"hidden": (32, 32), "steps": 60, "batch_size": 64, "tabulated": False},
        search=(
            Dim("layers", 1, 5, quick=_TINY_LAYERS),
            Dim("width", 64, 512, log=True, quick=_TINY_WIDTH),
            Dim("lr", 1e-5, 1e-3, log=True, integer=False),
            Dim("batch_size", 64, 1024, log=True, quick=_TINY_BATCH),
            Dim("steps", 0.25, 2.0, log=True, budget=True, quick=(20, 60)),
            Dim("beta", 1.0, 20.0, log=True, integer=False),
        ),
        published={1: (0.69, 0.53)}, defaults=frozenset(_BOTH),
    ),
    ModelSpec(
        "ar", "elpagen.models.ar:ARModel", Kind.GENERATOR, "AR (autoregressive)", "C3",
        quick={"hidden": (32,), "element_hidden": (8,), "embed": 8, "steps": 60,
               "batch_size": 64},
        search=(
            *_AR_POLICY,
            Dim("dropout", 0.0, 0.7, integer=False),
            Dim("weight_decay", 1e-4, 0.3, log=True, integer=False),
        ),
    ),
    ModelSpec(
        "gfn", "elpagen.models.gfn:GFNModel", Kind.GENERATOR, "GFlowNet", "C5",
        quick={"hidden": (32,), "element_hidden": (8,), "embed": 8, "steps": 40,
               "batch_size": 64, "reward_steps": 100},
        search=(
            *_AR_POLICY,
            Dim("lr_log_z", 0.01, 0.3, log=True, integer=False),
            Dim("epsilon", 0.0, 0.2, integer=False),
            Dim("replay", 0.0, 0.75, integer=False),
            Dim("beta", 0.5, 4.0, log=True, integer=False),
            # The reward's energy regressor: its fast protocol is 6,000 updates.
            Dim("reward_steps", 1_500, 12_000, log=True, quick=(50, 200)),
        ),
    ),
    ModelSpec(
        "marginal", "elpagen.baselines:MarginalSampler", Kind.BASELINE, "marginal baseline",
        "C4", defaults=frozenset(_BOTH),
    ),
    ModelSpec(
        "random", "elpagen.baselines:RandomScreening", Kind.BASELINE, "random screening",
        "C7", uses_training=False, defaults=frozenset({Command.BENCHMARK}),
    ),
    ModelSpec(
        "surrogate", "elpagen.baselines:SurrogateScreening", Kind.SCREENING,
        "surrogate (screening, not generation)", "k",
        # Small, but still placing some compositions in class 1 (the tail it must reach).
        quick={"hidden": (64, 64), "steps": 1000, "batch_size": 128, "lr": 1e-2},
    ),
)

_SPECS: dict[str, ModelSpec] = {s.name: s for s in BUILTIN}


# --------------------------------------------------------------------------- lookups


def register(spec: ModelSpec, *, replace: bool = False) -> ModelSpec:
    """Add a model of your own to the catalogue (every command then knows it)."""
    return spec.add_to(_SPECS, replace=replace)


def unregister(name: str) -> None:
    """Remove a registered model (built-in records come back with :func:`reset`)."""
    _SPECS.pop(name, None)
    for path in [p for p, n in _ALIASES.items() if n == name or p == name]:
        del _ALIASES[path]


def reset() -> None:
    """The built-in records only (installed plug-ins are read again when next needed)."""
    global _ENTRY_POINTS_READ
    _SPECS.clear()
    _SPECS.update({s.name: s for s in BUILTIN})
    _ALIASES.clear()
    _ENTRY_POINTS_READ = False


def specs() -> tuple[ModelSpec, ...]:
    """Every record, built-in first, in catalogue order (installed plug-ins included)."""
    _read_entry_points()
    return tuple(_SPECS.values())


def names(*, kind: Kind | None = None, default_for: Command | None = None,
          study: bool | None = None, configured: bool | None = None) -> tuple[str, ...]:
    """Model names, in catalogue order, optionally filtered (installed plug-ins included)."""
    return tuple(s.name for s in specs() if (kind is None or s.kind == kind)
                 and (default_for is None or default_for in s.defaults)
                 and (study is None or s.study == study)
                 and (configured is None or s.configured == configured))


def _choices() -> str:
    return (f"choose from {', '.join(_SPECS)}, or name a generator class of your own as "
            "module.path:ClassName")


def get(name: str) -> ModelSpec:
    """The record of ``name`` (a plug-in's ``module.path:ClassName``: imported and
    registered, :func:`register_class`); :class:`UnknownModelError` (one line) otherwise."""
    spec = _known(name)
    if spec is not None:
        return spec
    if ":" in name:
        from elpagen.models.plugins import PluginError, import_class

        try:
            cls = import_class(name)
        except PluginError as e:
            raise UnknownModelError(str(e)) from None
        return _SPECS[register_class(cls, path=name)]
    raise UnknownModelError(f"unknown model {name!r}; {_choices()}")


def resolve(model: str | type) -> str:
    """The catalogue name of a name, plug-in path or generator class (:func:`register_class`)."""
    if isinstance(model, type):
        return register_class(model)
    if not isinstance(model, str):
        from elpagen.models.plugins import describe

        raise UnknownModelError(f"a model is a name, module.path:ClassName or a generator "
                                f"class, got {describe(model)}")
    return get(model).name


def check_models(models: Iterable[str | type]) -> list[str]:
    """Catalogue names of ``models`` (names, stripped, empty ones dropped; plug-in paths
    and generator classes registered on the fly), each known; one line otherwise."""
    out = [resolve(m.strip() if isinstance(m, str) else m) for m in models
           if not isinstance(m, str) or m.strip()]
    if not out:
        raise UnknownModelError(f"no model given; {_choices()}")
    if (dup := next((n for n in out if out.count(n) > 1), None)) is not None:
        raise InputError(f"model {dup!r} is named twice")
    return out


def plugins(models: Iterable[str]) -> tuple[ModelSpec, ...]:
    """The records of ``models`` that are not built in (a worker process registers them)."""
    return tuple(get(m) for m in models if get(m) not in BUILTIN)


# --------------------------------------------------------------------------- plug-ins

_ALIASES: dict[str, str] = {}  # a plug-in's import path -> the name it is registered under
_ENTRY_POINTS_READ = False


def _known(name: str) -> ModelSpec | None:
    """The record of ``name`` or of the plug-in path it aliases (installed plug-ins read)."""
    spec = _SPECS.get(name) or _SPECS.get(_ALIASES.get(name, ""))
    if spec is None and not _ENTRY_POINTS_READ:
        _read_entry_points()
        spec = _SPECS.get(name)
    return spec


def spec_of_class(cls: type, name: str, target: str | type | None = None,
                  **fields: Any) -> ModelSpec:
    """The record of a plug-in class: a generator run only where named (in no default
    list), its version and description read from the class."""
    from elpagen.models.plugins import class_description, class_version

    fields = {"version": class_version(cls), "description": class_description(cls),
              "study": False, **fields}
    return ModelSpec(name=name, target=target if target is not None else cls, **fields)


def register_class(cls: type, *, path: str | None = None) -> str:
    """Register the generator class ``cls`` (from import ``path``, or Python) and return its
    name (:func:`elpagen.models.plugins.plugin_name`); the same class keeps its record."""
    from elpagen.models.plugins import PluginError, check_generator_class, plugin_name

    own = f"{cls.__module__}:{cls.__qualname__}"
    try:
        check_generator_class(cls, f"model {path or cls.__qualname__!r}")
        name = next((s.name for s in _SPECS.values() if s.target in (cls, path, own)), None)
        if name is None:
            name = plugin_name(cls, path, _SPECS)
            register(spec_of_class(cls, name, path if path == own else cls), replace=True)
    except PluginError as e:
        raise UnknownModelError(str(e)) from None
    _ALIASES[path or own] = name
    return name


def _read_entry_points() -> None:
    """Register what installed packages announce (once; one warning line per failure)."""
    global _ENTRY_POINTS_READ
    from elpagen.models import plugins

    if _ENTRY_POINTS_READ or plugins.deferred():  # not while the command line is built
        return
    _ENTRY_POINTS_READ = True
    for ep, spec in plugins.entry_point_specs(ModelSpec, spec_of_class):
        if isinstance(spec, ModelSpec) and _SPECS.get(spec.name, spec) != spec:
            spec = InputError(f"the name {spec.name!r} is taken by another model")
        if isinstance(spec, BaseException):
            warnings.warn(f"plug-in {ep.name!r} ({ep.value}, entry point "
                          f"{plugins.ENTRY_POINT_GROUP}) not loaded: {type(spec).__name__}: "
                          f"{plugins.first_line(spec)}", PluginWarning, stacklevel=3)
            continue
        _SPECS[spec.name] = spec


# --------------------------------------------------------------------------- properties


def is_builtin(name: str) -> bool:
    """Whether ``name`` is a model of elpagen itself (or a name the catalogue lacks)."""
    return s.builtin if (s := _known(name)) else True


def label(name: str) -> str:
    """The display name of a model (its key when it is not in the catalogue: an old store)."""
    return s.display if (s := _known(name)) else name


def color(name: str, fallback: str | None = "0.5") -> str | None:
    """The colour of a model in figures (``fallback`` when it has none)."""
    return (s.color or fallback) if (s := _known(name)) else fallback


def is_screening(name: str) -> bool:
    return bool((s := _known(name)) and s.kind == Kind.SCREENING)


def uses_training(name: str) -> bool:
    return s.uses_training if (s := _known(name)) else True


def published(target_class: int, space: str | None = None, target: str = "energy"
              ) -> dict[str, tuple[float, float]]:
    """Published (precision, coverage) per model for ``target_class``: the paper measured
    the elpasolite's energy classes only (``space``: a name, None for the default)."""
    from elpagen import spaces  # here: the study plan imports this module, not the spaces
    if space not in (None, spaces.DEFAULT.name) or target != "energy":
        return {}
    return {s.name: s.published[target_class] for s in specs() if target_class in s.published}


def help_list(names_: Sequence[str] | None = None) -> str:
    """``vae, gan, ...`` for help texts."""
    return ",".join(names_ if names_ is not None else names())


def load_model(directory: Any, device: str | None = "auto") -> Any:
    """Load a directory written by ``elpagen train`` (or ``model.save``) of any catalogue
    model that saves itself; clear errors otherwise."""
    from elpagen.models.persistence import load_directory

    classes = {s.name: s.cls for s in specs() if s.ensemble}
    return load_directory(directory, classes, device)
