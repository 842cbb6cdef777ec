"""Search spaces of ``elpagen search``: what a trial samples, and the seeded samplers.

Each model's space is a tuple of :class:`Dim` in :data:`SPACES`; :func:`suggest_config`
draws one setting of every dimension for an Optuna trial and returns the model's
validated config dataclass (``layers`` x ``width`` become its ``hidden`` tuple, every
other field keeps the protocol's value). :func:`make_sampler` builds the named Optuna
sampler, reseeded from (seed, trial number) for every trial.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from elpagen.errors import UsageError

TARGET_CLASS = 1
SAMPLERS = ("random", "tpe", "nsga2")
SAMPLES = 10_000
QUICK_SAMPLES = 1_000
OBJECTIVES = ("js", "novel")


@dataclass(frozen=True)
class Dim:
    """One searched setting: an Optuna parameter and its range.

    ``budget``: ``low``/``high`` are multiples of the protocol's ``steps``.
    ``quick``: the (absolute) range under ``--quick``; None keeps the normal one.
    """

    name: str
    low: float
    high: float
    log: bool = False
    integer: bool = True
    quick: tuple[float, float] | None = None
    budget: bool = False

    def bounds(self, base_steps: int, quick: bool) -> tuple[float, float]:
        if quick and self.quick is not None:
            return self.quick
        if self.budget:
            return max(1, round(self.low * base_steps)), max(1, round(self.high * base_steps))
        return self.low, self.high

    def suggest(self, trial: Any, base_steps: int, quick: bool) -> int | float:
        lo, hi = self.bounds(base_steps, quick)
        if self.integer:
            return trial.suggest_int(self.name, int(lo), int(hi), log=self.log)
        return trial.suggest_float(self.name, float(lo), float(hi), log=self.log)


_TINY_LAYERS, _TINY_WIDTH, _TINY_BATCH = (1, 2), (8, 32), (32, 128)

#: The policy network shared by ar and gfn (``layers`` x ``width`` is the context network
#: h; the element network g over (row, group) keeps the protocol's widths).
_AR_POLICY = (
    Dim("layers", 1, 3, quick=_TINY_LAYERS),
    Dim("width", 64, 512, log=True, quick=_TINY_WIDTH),
    Dim("embed", 8, 64, log=True, quick=(4, 16)),
    Dim("lr", 1e-4, 3e-3, log=True, integer=False),
    Dim("batch_size", 64, 1024, log=True, quick=_TINY_BATCH),
    Dim("steps", 0.25, 2.0, log=True, budget=True, quick=(20, 60)),
)

SPACES: dict[str, tuple[Dim, ...]] = {
    "vae": (
        Dim("layers", 1, 3, quick=_TINY_LAYERS),
        Dim("width", 64, 512, log=True, quick=_TINY_WIDTH),
        Dim("latent", 2, 16),
        Dim("lr", 1e-4, 3e-3, log=True, integer=False),
        Dim("batch_size", 64, 1024, log=True, quick=_TINY_BATCH),
        Dim("steps", 0.25, 2.0, log=True, budget=True, quick=(20, 60)),
        Dim("kl_weight", 0.01, 1.0, log=True, integer=False),
    ),
    "gan": (
        Dim("layers", 1, 3, quick=_TINY_LAYERS),
        Dim("width", 64, 1024, log=True, quick=_TINY_WIDTH),
        Dim("lr", 1e-5, 1e-3, log=True, integer=False),
        Dim("batch_size", 32, 512, log=True, quick=_TINY_BATCH),
        Dim("steps", 0.25, 2.0, log=True, budget=True, quick=(10, 30)),
        Dim("critic_steps", 1, 5, quick=(1, 2)),
        Dim("gp_weight", 1.0, 30.0, log=True, integer=False),
    ),
    "rl": (
        Dim("layers", 1, 5, quick=_TINY_LAYERS),
        Dim("width", 64, 512, log=True, quick=_TINY_WIDTH),
        Dim("lr", 1e-5, 1e-3, log=True, integer=False),
        Dim("batch_size", 64, 1024, log=True, quick=_TINY_BATCH),
        Dim("steps", 0.25, 2.0, log=True, budget=True, quick=(20, 60)),
        Dim("beta", 1.0, 20.0, log=True, integer=False),
    ),
    "ar": (
        *_AR_POLICY,
        Dim("dropout", 0.0, 0.7, integer=False),
        Dim("weight_decay", 1e-4, 0.3, log=True, integer=False),
    ),
    "gfn": (
        *_AR_POLICY,
        Dim("lr_log_z", 0.01, 0.3, log=True, integer=False),
        Dim("epsilon", 0.0, 0.2, integer=False),
        Dim("replay", 0.0, 0.75, integer=False),
        Dim("beta", 0.5, 4.0, log=True, integer=False),
        # The reward's energy regressor: its fast protocol is 6,000 updates.
        Dim("reward_steps", 1_500, 12_000, log=True, quick=(50, 200)),
    ),
}
#: The searchable models, in the order of SPACES.
MODELS = tuple(SPACES)


def model_class(model: str) -> type:
    """The generator class of ``model`` (imported on first use: torch is slow to load)."""
    from elpagen.registry import MODEL_CLASSES

    return MODEL_CLASSES[model]


def params_to_overrides(params: dict[str, Any]) -> dict[str, Any]:
    """Trial parameters -> config overrides (``layers`` x ``width`` -> ``hidden``)."""
    out = {k: v for k, v in params.items() if k not in ("layers", "width")}
    if "layers" in params and "width" in params:
        out["hidden"] = (int(params["width"]),) * int(params["layers"])
    return out


def suggest_config(trial: Any, model: str, protocol: str, quick: bool) -> Any:
    """Sample one setting of ``model`` for the trial; a validated config dataclass."""
    from elpagen.models.base import resolve_config

    cls = model_class(model)
    base = resolve_config(cls.Config, cls.PROTOCOLS, protocol)
    params = {d.name: d.suggest(trial, base.steps, quick) for d in SPACES[model]}
    return resolve_config(cls.Config, cls.PROTOCOLS, protocol, params_to_overrides(params))


def space_table(model: str) -> list[str]:
    """Markdown rows ``| model | setting | fast | paper | --quick |`` of a search space."""
    from elpagen.models.base import PROTOCOLS, resolve_config

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
            inner_seed = (self.seed * 1_000_003 + trial.number) % 2**32
            self._inner = _new_sampler(self.name, inner_seed)
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
