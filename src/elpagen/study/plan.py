"""Planning the study: experiments, their scale and the list of work units (pure).

Nothing here computes or does I/O, and nothing here imports a module that does (the
architecture test checks it): the unit's work is :mod:`elpagen.study.unit`, the runner
(:mod:`elpagen.study.runner`) schedules units and writes the store, and the report
(:mod:`elpagen.report`) reads them back from the store. The models of the study and their
quick settings come from the model catalogue (:mod:`elpagen.catalogue`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from elpagen import catalogue
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
    (:mod:`elpagen.harness.frontier`); one unit holds all knob values of one fit."""
    CAMPAIGN = "campaign"
    """Classes 1 and 10: discovery campaigns (:mod:`elpagen.campaign`), one unit per
    strategy, class and seed; the unit's ``model`` is the strategy's name (no fit)."""


#: Target classes of the frontier experiment.
FRONTIER_CLASSES: tuple[int, ...] = (1, 5)
#: Frontier classes whose models with a known distribution (:mod:`elpagen.expected`: rl,
#: ar, gfn, marginal, random, surrogate) get every knob point as the exact expectation at the
#: frontier's sample count, without sampling (25 M draws per knob value cost minutes to
#: hours; the expectation seconds). The class-1 frontier (10,000 draws) stays sampled, with
#: the expectations beside. docs/study.md, "Exact expected metrics".
EXPECTED_FRONTIER_CLASSES: tuple[int, ...] = (5,)
#: How the study measures the models without a known distribution (vae, gan, plug-ins
#: without ``composition_distribution``; docs/study.md, "Class 5 at half the draws"):
#: ``extrapolated`` (the default) samples their class-5 units and class-5 frontier points
#: at K = N / 2 valid draws and extrapolates coverage to N (Good-Toulmin), and puts a
#: rarefied estimate from K = 100 x N draws (at most 10^6) beside their class-1 and
#: class-1 frontier values; ``sampled`` is the study as before (every value at N, no
#: estimate). Settings record the first as ``"estimate"`` and ``"rarefaction_draws"``; a
#: store without them (written before, or ``--estimate sampled``) is the second.
ESTIMATES: tuple[str, ...] = ("extrapolated", "sampled")
#: ``--frontier5-knobs``: ``reduced`` (the default) sweeps the class-5 frontier of a model
#: whose class names a ``knob_grid_reduced`` (vae and gan: 5 of their 7 knob values, each
#: a pass of N / 2 = 12.5 M draws; docs/study.md, "Fewer knob values at class 5") at that
#: grid, recorded in the settings as ``"frontier5_knobs"`` (model -> values); ``full`` sweeps
#: every model's whole grid and records nothing, so its settings are those of a study
#: written before (and such a store resumes with ``full``). The class-1 frontier and the
#: other models always sweep their whole grid.
FRONTIER5_GRIDS: tuple[str, ...] = ("reduced", "full")
#: Target classes of the campaign experiment: the two rare ends of the energy range.
CAMPAIGN_CLASSES: tuple[int, ...] = (1, 10)
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
class StudyScale:
    """Sample counts, training sizes and model-setting overrides of one study size."""

    class1_samples: int
    class5_samples: int
    curve1_samples: int
    train_sizes: tuple[int, ...]  # subsets below the full set (the full set is class1)
    #: Whether the catalogue's quick settings (tiny networks) apply.
    quick: bool = False
    #: Valid samples per knob value of the frontier experiment, class 1 and class 5.
    frontier1_samples: int = 10_000
    frontier5_samples: int = 25_000_000
    #: Discovery campaigns (:mod:`elpagen.campaign`): random start compositions, labels
    #: bought per round, labels bought in all, candidates a scoring strategy sees per
    #: round (None: the whole space) and Gaussian noise (eV/atom) on the labels told.
    campaign_start: int = 1_000
    campaign_batch: int = 500
    campaign_budget: int = 10_000
    campaign_pool: int | None = 100_000
    campaign_label_noise: float = 0.076


#: docs/method.md section 7 as written; the class-5 frontier at 25 M samples per knob value,
#: the longest experiment of the study by far (see docs/study.md, "Time").
FULL = StudyScale(10_000, 25_000_000, 250_000, (1_000, 2_000, 5_000, 10_000),
              frontier1_samples=10_000, frontier5_samples=25_000_000)
#: A first look and the test suite: tiny networks (each catalogue record's ``quick``
#: settings), few samples, same experiments and schema.
QUICK = StudyScale(2_000, 20_000, 5_000, (1_000,), quick=True,
               frontier1_samples=1_000, frontier5_samples=2_000,
               campaign_start=200, campaign_batch=50, campaign_budget=300, campaign_pool=5_000)


@dataclass(frozen=True)
class Unit:
    """One fit sampled and scored for one experiment (a campaign unit: one strategy's
    campaign, ``model`` the strategy, ``n_samples`` the labels it buys)."""

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

    def fit_key(self, conditional: bool) -> str:
        """The fit this unit samples: a conditional generator's one fit serves every class."""
        cls = "all" if conditional else f"c{self.target_class}"
        return f"{self.model}/{cls}/n{self.train_size or 'full'}"


# --------------------------------------------------------------------------- settings


def scale_for(quick: bool) -> StudyScale:
    return QUICK if quick else FULL


#: Valid samples per fit (any experiment) at most this many times the compositions of
#: the space: a sample is drawn with replacement, so a longer one from a small space only
#: repeats compositions (the elpasolite's 25 million class-5 samples are 12.7 times its
#: 1.97 million compositions: its scale is never clipped).
MAX_SAMPLES_PER_COMPOSITION = 16
#: A campaign's labels in all (start plus budget) at most this share of the space.
MAX_CAMPAIGN_SHARE = 0.25


def fit_scale(scale: StudyScale, n_space: int) -> StudyScale:
    """``scale`` fitted to a space of ``n_space`` compositions; itself
    where it fits (always for the elpasolite: its numbers never move).

    * every sample count is clipped to :data:`MAX_SAMPLES_PER_COMPOSITION` times
      ``n_space`` (at least 1);
    * a campaign whose start plus budget exceed :data:`MAX_CAMPAIGN_SHARE` of the space
      has its start, batch and budget scaled down by one factor (each at least 1; the
      batch at most the budget), and its pool clipped to the space.

    The training-size experiment is fitted to the training set, not the space, in
    :func:`fit_train_sizes`.
    """
    n_space = max(int(n_space), 1)
    cap = max(MAX_SAMPLES_PER_COMPOSITION * n_space, 1)

    def clip(n: int) -> int:
        return min(int(n), cap)

    changes: dict[str, Any] = {
        f: clip(getattr(scale, f)) for f in (
            "class1_samples", "class5_samples", "curve1_samples", "frontier1_samples",
            "frontier5_samples")}
    labels = scale.campaign_start + scale.campaign_budget
    room = max(int(n_space * MAX_CAMPAIGN_SHARE), 2)
    if labels > room:
        f = room / labels
        start = max(int(scale.campaign_start * f), 1)
        total = max(int(scale.campaign_budget * f), 1)
        batch = min(max(int(scale.campaign_batch * f), 1), total)
        changes.update(campaign_start=start, campaign_budget=total, campaign_batch=batch)
    if scale.campaign_pool is not None and scale.campaign_pool > n_space:
        changes["campaign_pool"] = max(n_space, changes.get("campaign_batch",
                                                            scale.campaign_batch))
    fitted = dataclasses.replace(scale, **changes)
    return scale if fitted == scale else fitted


def fit_train_sizes(sizes: Sequence[int], n_train: int) -> list[int]:
    """The training-size experiment's subset sizes for a training set of ``n_train``.

    Sizes below ``n_train`` are kept (the full set is the ``class1`` experiment). Where
    none is (a small training set: a small space, or a small DFT file of one's own), the
    sizes are scaled by one factor so that the largest is half the set, and those of at
    least 2 compositions kept (rounded, each once); the elpasolite's published set keeps
    every size.
    """
    kept = [n for n in sizes if n < n_train]
    if kept or not sizes:
        return kept
    f = n_train / (2 * max(sizes))
    return sorted({m for n in sizes if (m := round(n * f)) >= 2 and m < n_train})


def model_overrides(
    models: Sequence[str], quick: bool, user: Mapping[str, Mapping[str, Any]] | None
) -> dict[str, dict[str, Any]]:
    """Each model's settings: its catalogue quick settings (with ``quick``), the user's
    ``--set MODEL.KEY=VALUE`` on top."""
    out = {m: dict(catalogue.get(m).quick) for m in models if quick and catalogue.get(m).quick}
    for m, kv in (user or {}).items():
        out.setdefault(m, {}).update(kv)
    return out


def plan(settings: Mapping[str, Any]) -> list[Unit]:
    """All units, in the order they run: class 1 first (the main result) with its frontier,
    class 5, the training-size study, the class-5 frontier (the longest: 25 M samples
    per knob value in the full scale), then the campaigns (classes 1 and 10, every
    strategy of ``settings["campaign"]``, no fit). Frontier units sample the fits of
    class1/class5 (same fit keys), so they add no training. Stores written before the
    frontier or the campaigns existed (no ``frontier_class*`` sample counts, no
    ``campaign`` settings) plan no frontier or campaign units."""
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
    camp = settings.get("campaign") or {}
    units += [Unit(Experiment.CAMPAIGN, name, c, 0, s, camp["budget"])
              for c in CAMPAIGN_CLASSES for name in camp.get("strategies", ()) for s in seeds]
    return units


def frontier_grid(knobs: Mapping[str, Sequence[float]] | None,
                  unit: Unit) -> tuple[float, ...] | None:
    """The knob grid a frontier ``unit`` sweeps: its model's reduced class-5 grid in
    ``knobs`` (the settings' ``"frontier5_knobs"``), else None (the model's own grid)."""
    if unit.experiment != Experiment.FRONTIER or unit.target_class != 5:
        return None
    grid = (knobs or {}).get(unit.model)
    return None if grid is None else tuple(float(v) for v in grid)


def training_spent(model: str, n_train: int) -> int:
    """DFT calculations a generator spent on its training set: the size of the set it was
    fitted on, 0 for one that ignores it (random screening; :mod:`elpagen.catalogue`)."""
    return int(n_train) if catalogue.uses_training(model) else 0


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
