"""Search spaces of ``elpagen search``: what a trial samples, and the seeded samplers.

Each model's space is a tuple of :class:`~elpagen.searchdims.Dim` in its catalogue record
(:mod:`elpagen.catalogue`), read through :data:`SPACES`; :func:`suggest_config`
draws one setting of every dimension for an Optuna trial and returns the model's
validated config dataclass (``layers`` x ``width`` become its ``hidden`` tuple, every
other field keeps the protocol's value). :func:`make_sampler` builds the named Optuna
sampler, reseeded from (seed, trial number) for every trial.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from elpagen import catalogue
from elpagen.errors import UsageError
from elpagen.searchdims import Dim
from elpagen.seeds import trial_sampler_seed

TARGET_CLASS = 1
SAMPLERS = ("random", "tpe", "nsga2")
SAMPLES = 10_000
QUICK_SAMPLES = 1_000
OBJECTIVES = ("js", "novel")


class _Spaces(Mapping[str, tuple[Dim, ...]]):
    """Model name -> search space, read live from the catalogue (a registered model with a
    space is searchable at once)."""

    def _all(self) -> dict[str, tuple[Dim, ...]]:
        return {s.name: s.search for s in catalogue.specs() if s.search}

    def __getitem__(self, name: str) -> tuple[Dim, ...]:
        return self._all()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


#: Every searchable model's space (those whose catalogue record has one).
SPACES: Mapping[str, tuple[Dim, ...]] = _Spaces()


def searchable() -> tuple[str, ...]:
    """The searchable models, in catalogue order."""
    return tuple(SPACES)


def model_class(model: str) -> type:
    """The generator class of ``model`` (imported on first use: torch is slow to load)."""
    return catalogue.get(model).cls


def params_to_overrides(params: dict[str, Any]) -> dict[str, Any]:
    """Trial parameters -> config overrides (``layers`` x ``width`` -> ``hidden``)."""
    out = {k: v for k, v in params.items() if k not in ("layers", "width")}
    if "layers" in params and "width" in params:
        out["hidden"] = (int(params["width"]),) * int(params["layers"])
    return out


def suggest_config(trial: Any, model: str, protocol: str, quick: bool) -> Any:
    """Sample one setting of ``model`` for the trial; a validated config dataclass."""
    from elpagen.settings import resolve_config

    cls = model_class(model)
    base = resolve_config(cls.Config, cls.PROTOCOLS, protocol)
    params = {d.name: d.suggest(trial, base.steps, quick) for d in SPACES[model]}
    return resolve_config(cls.Config, cls.PROTOCOLS, protocol, params_to_overrides(params))


def space_table(model: str) -> list[str]:
    """Markdown rows ``| model | setting | fast | paper | --quick |`` of a search space."""
    from elpagen.models.protocols import PROTOCOLS
    from elpagen.settings import resolve_config

    cls = model_class(model)
    steps = {p: resolve_config(cls.Config, cls.PROTOCOLS, p).steps for p in PROTOCOLS}

    def fmt(d: Dim, lo: float, hi: float) -> str:
        f = (lambda v: f"{int(v):,}") if d.integer else (lambda v: f"{v:g}")
        return f"{f(lo)} .. {f(hi)}" + (" log" if d.log else "")

    rows = []
    for d in SPACES[model]:
        quick = fmt(d, *d.quick) if d.quick is not None else "same"
        fast, paper = (fmt(d, *d.bounds(steps[p], False)) for p in PROTOCOLS)
        rows.append(f"| {model} | {d.name} | {fast} | {paper} | {quick} |")
    return rows


# --------------------------------------------------------------------------- samplers


def make_sampler(name: str, seed: int) -> Any:
    """The named Optuna sampler, reseeded for every trial (see ``_trial_seeded_class``)."""
    if name not in SAMPLERS:
        raise UsageError(f"unknown sampler {name!r}; choose from {', '.join(SAMPLERS)}")
    return _trial_seeded_class()(name, seed)


def _new_sampler(name: str, seed: int) -> Any:
    import optuna

    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "tpe":
        # Multi-objective TPE; constant_liar keeps parallel workers from piling onto one point.
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True)
    return optuna.samplers.NSGAIISampler(seed=seed)


_SAMPLER_CLASS: type | None = None


def _trial_seeded_class() -> type:
    """The sampler class, built on first use: importing optuna costs every command ~1 s."""
    global _SAMPLER_CLASS
    if _SAMPLER_CLASS is not None:
        return _SAMPLER_CLASS
    import optuna

    class TrialSeededSampler(optuna.samplers.BaseSampler):
        """Delegates to a fresh inner sampler seeded from (seed, trial number).

        One seeded sampler per process would repeat itself: every worker (and every rerun
        of a study) would draw the same sequence of settings. Seeding per trial makes the
        random sampler's trial k a pure function of (seed, k) however many workers run;
        TPE and NSGA-II keep their state (the trial history) in the storage anyway.
        """

        def __init__(self, name: str, seed: int) -> None:
            self.name, self.seed = name, int(seed)
            self._inner = _new_sampler(name, self.seed)

        def __str__(self) -> str:
            return f"{self.name} (seeded per trial from {self.seed})"

        def before_trial(self, study, trial) -> None:
            self._inner = _new_sampler(self.name, trial_sampler_seed(self.seed, trial.number))
            self._inner.before_trial(study, trial)

        def infer_relative_search_space(self, study, trial):
            return self._inner.infer_relative_search_space(study, trial)

        def sample_relative(self, study, trial, search_space):
            return self._inner.sample_relative(study, trial, search_space)

        def sample_independent(self, study, trial, param_name, param_distribution):
            return self._inner.sample_independent(study, trial, param_name, param_distribution)

        def after_trial(self, study, trial, state, values) -> None:
            self._inner.after_trial(study, trial, state, values)

    _SAMPLER_CLASS = TrialSeededSampler
    return _SAMPLER_CLASS
