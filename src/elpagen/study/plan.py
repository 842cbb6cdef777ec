"""Planning the study: experiments, budgets, settings and the list of work units (pure).

Nothing here does I/O: the runner (:mod:`elpagen.study.runner`) executes the units and
the report (:mod:`elpagen.report`) reads them back from the store.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from elpagen import __version__, metrics, space
from elpagen.errors import UserError


class Experiment(StrEnum):
    """The experiments of the study (docs/method.md section 7); values are the unit keys."""

    CLASS1 = "class1"
    """Full training set, class 1, 10,000 samples per fit."""
    CURVE1 = "curve1"
    """One fit per model, class 1, 250,000 samples: the discovery curve."""
    CLASS5 = "class5"
    """Class 5, 25 million samples per fit."""
    SIZE = "size"
    """Training subsets of 1,000 ... 10,000 compositions, class 1."""
    FRONTIER = "frontier"
    """Classes 1 and 5: every fit of class1/class5 swept along its sampling knob
    (:mod:`elpagen.frontier`); one unit holds all knob values of one fit."""


#: The study's generators: the paper's three, this project's two (ar, gfn), the two
#: baselines, and the surrogate (screening, not generation: docs/method.md section 10).
MODELS: tuple[str, ...] = ("vae", "gan", "rl", "ar", "gfn", "marginal", "random", "surrogate")
#: Models with a settings dataclass (``--set MODEL.KEY=VALUE``, recorded in the settings).
CONFIGURED: tuple[str, ...] = ("vae", "gan", "rl", "ar", "gfn", "surrogate")
#: Screening baselines: they enumerate the space, they do not generate (report labels).
SCREENING: frozenset[str] = frozenset({"surrogate"})
#: Target classes of the frontier experiment.
FRONTIER_CLASSES: tuple[int, ...] = (1, 5)
EXPERIMENTS: tuple[str, ...] = tuple(Experiment)
#: Fixed seed of the random training subsets (one subset per size, shared by all seeds, so
#: the torch models can train the seeds of one size as one ensemble).
SUBSET_SEED = 0
HIST_BIN_WIDTH = 0.2  # eV/atom
CURVE_POINTS = 200
CHECKPOINTS = "checkpoints"

class StudyError(UserError, ValueError):
    """A user-facing study error (one line, exit code 2)."""


@dataclass(frozen=True)
class Budget:
    """Sample counts, training sizes and model-setting overrides of one study size."""

    class1_samples: int
    class5_samples: int
    curve1_samples: int
    train_sizes: tuple[int, ...]  # subsets below the full set (the full set is class1)
    overrides: Mapping[str, Mapping[str, Any]]
    #: Valid samples per knob value of the frontier experiment, class 1 and class 5.
    frontier1_samples: int = 10_000
    frontier5_samples: int = 25_000_000


#: docs/method.md section 7 as written; the class-5 frontier at 25 M samples per knob value
#: (issue 10), the longest experiment of the study by far (see docs/study.md, "Time").
FULL = Budget(10_000, 25_000_000, 250_000, (1_000, 2_000, 5_000, 10_000), {},
              frontier1_samples=10_000, frontier5_samples=25_000_000)
#: A first look and the test suite: tiny networks, few samples, same experiments and schema.
QUICK = Budget(
    2_000, 20_000, 5_000, (1_000,),
    {
        "vae": {"hidden": (32, 32), "steps": 60, "batch_size": 64},
        "gan": {"hidden": (32,), "steps": 20, "batch_size": 64},
        # Step-by-step sampling: the policy table costs ~0.4 s per knob value, more than
        # the few thousand samples of a quick unit.
        "rl": {"hidden": (32, 32), "steps": 60, "batch_size": 64, "tabulated": False},
        "ar": {"hidden": (32,), "element_hidden": (8,), "embed": 8, "steps": 60,
               "batch_size": 64},
        "gfn": {"hidden": (32,), "element_hidden": (8,), "embed": 8, "steps": 40,
                "batch_size": 64, "reward_steps": 100},
        # Small, but still placing some compositions in class 1 (the tail it must reach).
        "surrogate": {"hidden": (64, 64), "steps": 1000, "batch_size": 128, "lr": 1e-2},
    },
    frontier1_samples=1_000, frontier5_samples=2_000,
)


@dataclass(frozen=True)
class Unit:
    """One fit sampled and scored for one experiment."""

    experiment: str
    model: str
    target_class: int
    train_size: int  # 0: the full training set
    seed: int
    n_samples: int

    @property
    def key(self) -> str:
        return (f"{self.experiment}/{self.model}/c{self.target_class}/"
                f"n{self.train_size or 'full'}/s{self.seed}")

    @property
    def fit_key(self) -> str:
        """The fit this unit samples: conditional generators serve every class."""
        from elpagen.registry import GENERATOR_CLASSES

        conditional = getattr(GENERATOR_CLASSES[self.model], "conditional", True)
        cls = "all" if conditional else f"c{self.target_class}"
        return f"{self.model}/{cls}/n{self.train_size or 'full'}"

    @property
    def sample_seed(self) -> int:
        from elpagen.generator import sample_seed

        # curve1 samples the class-1 fit again: its own stream, not a longer class1 run.
        return sample_seed(self.seed) + (1 if self.experiment == Experiment.CURVE1 else 0)


# --------------------------------------------------------------------------- settings


def budget_for(quick: bool) -> Budget:
    return QUICK if quick else FULL


def model_overrides(
    quick: bool, user: Mapping[str, Mapping[str, Any]] | None
) -> dict[str, dict[str, Any]]:
    """Quick-budget overrides with the user's ``--set MODEL.KEY=VALUE`` on top."""
    out = {m: dict(v) for m, v in budget_for(quick).overrides.items()}
    for m, kv in (user or {}).items():
        out.setdefault(m, {}).update(kv)
    return out


def make_settings(
    protocol: str,
    n_seeds: int,
    quick: bool,
    data_sha256: str,
    n_train: int,
    overrides: Mapping[str, Mapping[str, Any]],
    frontier5_samples: int | None = None,
) -> dict[str, Any]:
    """Everything that fixes the results of a study; a store only resumes identical ones.

    ``frontier5_samples`` replaces the budget's samples per knob value of the class-5
    frontier (the longest experiment: 25 M in the full budget); 0 leaves it out.
    """
    from elpagen import oracle, surrogate
    from elpagen.models.base import resolve_config
    from elpagen.registry import MODEL_CLASSES

    b = budget_for(quick)
    if frontier5_samples is None:
        frontier5_samples = b.frontier5_samples
    if isinstance(frontier5_samples, bool) or not isinstance(frontier5_samples, int) \
            or frontier5_samples < 0:
        raise StudyError(f"--frontier5-samples must be 0 (no class-5 frontier) or a positive "
                         f"number of samples, got {frontier5_samples!r}")
    configs = {}
    # Only the study's own models: a generator added to the registry later must not change
    # the settings of existing study directories (they would refuse to resume).
    for name, cls in MODEL_CLASSES.items():
        if name not in MODELS:
            continue
        cfg = resolve_config(cls.Config, cls.PROTOCOLS, protocol, overrides.get(name))
        configs[name] = dataclasses.asdict(cfg)
    if "surrogate" in MODELS:
        # One protocol only: the surrogate runs "fast" whatever the study's protocol.
        cfg = resolve_config(surrogate.SurrogateConfig, surrogate.PROTOCOLS, "fast",
                             overrides.get("surrogate"))
        configs["surrogate"] = dataclasses.asdict(cfg)
    return {
        "protocol": protocol,
        "quick": bool(quick),
        "seeds": int(n_seeds),
        "seed_values": list(range(n_seeds)),
        "models": list(MODELS),
        "samples": {"class1": b.class1_samples, "class5": b.class5_samples,
                    "curve_class1": b.curve1_samples, "training_size": b.class1_samples,
                    "frontier_class1": b.frontier1_samples,
                    "frontier_class5": frontier5_samples},
        # Sizes at or above the training set are dropped (possible only with --no-verify data).
        "train_sizes": [n for n in b.train_sizes if n < n_train],
        "subset_seed": SUBSET_SEED,
        "model_configs": configs,
        "elpagen_version": __version__,
        "data_sha256": data_sha256,
        "n_train": int(n_train),
        "oracle": {"sigma": oracle.DEFAULT_SIGMA, "lambda": oracle.DEFAULT_LAMBDA},
        "hist_bin_width": HIST_BIN_WIDTH,
        "curve_points": CURVE_POINTS,
    }


def plan(settings: Mapping[str, Any]) -> list[Unit]:
    """All units, in the order they run: class 1 first (the main result) with its frontier,
    class 5, the training-size study, then the class-5 frontier (the longest: 25 M samples
    per knob value in the full budget). Frontier units sample the fits of class1/class5
    (same fit keys), so they add no training. Stores written before the frontier existed
    (no ``frontier_class*`` sample counts) plan no frontier units."""
    seeds = settings["seed_values"]
    models = settings["models"]
    n = settings["samples"]

    def frontier(c: int) -> list[Unit]:
        key = f"frontier_class{c}"
        return ([Unit(Experiment.FRONTIER, m, c, 0, s, n[key]) for m in models for s in seeds]
                if n.get(key) else [])  # absent (an older store) or 0: no frontier

    units = [Unit(Experiment.CLASS1, m, 1, 0, s, n["class1"]) for m in models for s in seeds]
    units += [Unit(Experiment.CURVE1, m, 1, 0, seeds[0], n["curve_class1"]) for m in models]
    units += frontier(1)
    units += [Unit(Experiment.CLASS5, m, 5, 0, s, n["class5"]) for m in models for s in seeds]
    units += [Unit(Experiment.SIZE, m, 1, size, s, n["training_size"])
              for size in settings["train_sizes"] for m in models for s in seeds]
    units += frontier(5)
    return units


# --------------------------------------------------------------------------- the runner


TRAINING_FREE: frozenset[str] = frozenset({"random"})


def training_spent(model: str, n_train: int) -> int:
    """DFT calculations a generator spent on its training set: the size of the set it was
    fitted on, 0 for one that ignores it (random screening)."""
    return 0 if model in TRAINING_FREE else int(n_train)


def cost_of_discovery(n_unique: int, found: int, n_class: int,
                      n_space: int = space.N_SPACE, n_train: int = 0) -> dict[str, float]:
    """DFT checks of a generator vs random screening for the same number of class-1 finds.

    n_checks = unique generations (each needs one DFT check); found = those in class 1;
    random screening without replacement needs found * (N_space + 1) / (N_c + 1) checks on
    average (negative hypergeometric mean). Two ratios (> 1: the model is cheaper):

    * ``ratio`` = random_checks / n_checks: the verification of the generations alone;
    * ``ratio_with_training`` = random_checks / (n_train + n_checks): the paper's yardstick,
      which also charges the DFT calculations of the ``n_train`` training compositions the
      model was fitted on (its "factor of 50" for the GAN, "of 100" for 1,000 compositions).
    """
    random_checks = metrics.screening_cost(found, n_class, n_space)
    spent = int(n_train) + int(n_unique)
    return {
        "n_checks": int(n_unique),
        "n_train": int(n_train),
        "found": int(found),
        "random_checks": random_checks,
        "ratio": random_checks / n_unique if n_unique else 0.0,
        "ratio_with_training": random_checks / spent if spent else 0.0,
        "hit_rate": found / n_unique if n_unique else 0.0,
    }


def parse_model_overrides(flat: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{"vae.steps": "500"}`` or ``{"vae": {"steps": 500}}`` -> ``{"vae": {"steps": ...}}``."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in flat.items():
        if isinstance(value, Mapping):
            out.setdefault(key, {}).update(value)
            continue
        model, dot, setting = key.partition(".")
        if not dot or not setting:
            raise StudyError(f"study settings are per model: use MODEL.KEY=VALUE (e.g. "
                             f"vae.steps=500), got {key!r}")
        out.setdefault(model, {})[setting] = value
    return out
